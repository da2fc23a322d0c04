"""Java regular expressions (``java.util.regex.Pattern``, pql.md §7.4) run with Python's ``re``.

:func:`compile_java` translates a pattern once (cached) and raises ``PQLUnsupportedError`` for
Java syntax that has no faithful Python equivalent, never guessing. Translated:

* Java's defaults: ``\\w \\d \\s \\b`` and case folding are ASCII-only (``re.ASCII``), and ``.``
  stops at every Java line terminator (``\\n \\r \\u0085 \\u2028 \\u2029``), not only ``\\n``;
* ``(?<name>…)`` / ``\\k<name>`` named groups, ``\\Q…\\E`` quoting, ``\\z``/``\\Z``, ``\\h \\H \\v
  \\V``, ``\\e \\a \\cX \\x{…} \\0oct`` escapes, the POSIX ``\\p{Alpha}``-style classes;
* inline flags ``(?imsuU)``/``(?-…)``: at the start of the pattern they apply to all of it;
  later they become a scoped group ``(?i:…)`` running to the end of the enclosing group.

Rejected: class intersection ``&&`` and nested classes, ``\\p{…}`` Unicode categories and
scripts, ``\\G \\R \\X \\N``, the ``d``/``x`` flags, Unicode flags after the start, a mid-pattern
flag followed by ``|`` in the same group, and anything Python cannot compile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from segmint.pql.errors import PQLUnsupportedError

_LINE_TERMINATORS = "\\n\\r\\u0085\\u2028\\u2029"
_HORIZONTAL = " \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"
_VERTICAL = "\\n\\x0b\\f\\r\\x85\\u2028\\u2029"
_POSIX: dict[str, str] = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
    "javaLowerCase": "a-z",
    "javaUpperCase": "A-Z",
    "javaWhitespace": " \\t\\n\\x0b\\f\\r\\x1c-\\x1f",
}
_SIMPLE_ESCAPES: dict[str, str] = {
    "e": "\\x1b",
    "a": "\\x07",
    "z": "\\Z",
    "Z": f"(?=(?:\\r\\n|[{_LINE_TERMINATORS}])?\\Z)",
    "h": f"[{_HORIZONTAL}]",
    "H": f"[^{_HORIZONTAL}]",
    "v": f"[{_VERTICAL}]",
    "V": f"[^{_VERTICAL}]",
}
_CLASS_ESCAPES: dict[str, str] = {
    "e": "\\x1b",
    "a": "\\x07",
    "h": _HORIZONTAL,
    "v": _VERTICAL,
}
_UNSUPPORTED_ESCAPES = frozenset("GRXN")
_FLAG_GROUP = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_JAVA_TO_PYTHON_FLAGS = {"i": "i", "m": "m", "s": "s"}


class RegexUnsupported(PQLUnsupportedError):
    """A Java pattern construct that Python's ``re`` cannot run faithfully."""


@lru_cache(maxsize=512)
def compile_java(pattern: str) -> re.Pattern[str]:
    """``pattern`` (Java syntax) compiled for Python, or ``RegexUnsupported``."""
    translated, unicode = _Translator(pattern).translate()
    flags = 0 if unicode else re.ASCII
    try:
        return re.compile(translated, flags)
    except re.error as error:
        message = f"the regular expression {pattern!r} is not valid: {error}"
        raise RegexUnsupported(message) from None


@dataclass
class _Group:
    """One open group: whether ``.`` matches line terminators in it, and how many scoped
    flag groups (from mid-pattern inline flags) must be closed with it."""

    dotall: bool
    pending: int = 0


@dataclass
class _Translator:
    pattern: str
    pos: int = 0
    out: list[str] = field(default_factory=list)
    groups: list[_Group] = field(default_factory=list)
    unicode: bool = False

    def fail(self, what: str) -> RegexUnsupported:
        return RegexUnsupported(
            f"the regular expression {self.pattern!r} uses {what}, which Segmint cannot run"
        )

    def translate(self) -> tuple[str, bool]:
        self.groups.append(_Group(dotall=False))
        self._leading_flags()
        while self.pos < len(self.pattern):
            self._step()
        self.out.append(")" * self.groups[-1].pending)
        return "".join(self.out), self.unicode

    def _leading_flags(self) -> None:
        """Flag groups at the very start apply to the whole pattern (every flag starts off,
        so a leading ``-x`` changes nothing)."""
        flags = ""
        while (found := _FLAG_GROUP.match(self.pattern, self.pos)) and found.group(3) == ")":
            on = found.group(1)
            if "u" in on or "U" in on:
                self.unicode = True
            flags += self._python_flags(on.replace("u", "").replace("U", ""))
            self._python_flags(found.group(2) or "")
            self.pos = found.end()
        self._set_dotall(flags, "")
        if flags:
            self.out.append(f"(?{''.join(sorted(set(flags)))})")

    def _python_flags(self, flags: str) -> str:
        for flag in flags:
            if flag not in _JAVA_TO_PYTHON_FLAGS:
                raise self.fail(f"the inline flag ({flag!r})")
        return "".join(_JAVA_TO_PYTHON_FLAGS[flag] for flag in flags)

    def _set_dotall(self, on: str, off: str) -> None:
        if "s" in on:
            self.groups[-1].dotall = True
        if "s" in off:
            self.groups[-1].dotall = False

    def _step(self) -> None:
        char = self.pattern[self.pos]
        if char == "\\":
            self._escape()
        elif char == "[":
            self._char_class()
        elif char == "(":
            self._open_group()
        elif char == ")":
            self._close_group()
        elif char == ".":
            self.pos += 1
            self.out.append("." if self.groups[-1].dotall else f"[^{_LINE_TERMINATORS}]")
        elif char == "|" and self.groups[-1].pending:
            raise self.fail("an inline flag followed by `|` in the same group")
        else:
            self.pos += 1
            self.out.append(char)

    def _open_group(self) -> None:
        rest = self.pattern[self.pos :]
        dotall = self.groups[-1].dotall
        found = _FLAG_GROUP.match(self.pattern, self.pos)
        if found is not None:
            self._flag_group(found)
            return
        if rest.startswith("(?<") and not rest.startswith(("(?<=", "(?<!")):
            self.out.append("(?P<")
            self.pos += 3
        else:
            self.out.append("(")
            self.pos += 1
        self.groups.append(_Group(dotall=dotall))

    def _flag_group(self, found: re.Match[str]) -> None:
        on, off, end = found.group(1), found.group(2) or "", found.group(3)
        if "u" in on or "U" in on:
            raise self.fail("a Unicode flag after the start of the pattern")
        python_on, python_off = self._python_flags(on), self._python_flags(off)
        self.out.append(f"(?{python_on}{'-' + python_off if python_off else ''}:")
        self.pos = found.end()
        if end == ":":
            self.groups.append(_Group(dotall=self.groups[-1].dotall))
            self._set_dotall(python_on, python_off)
        else:
            self._set_dotall(python_on, python_off)
            self.groups[-1].pending += 1

    def _close_group(self) -> None:
        if len(self.groups) == 1:
            raise self.fail("an unbalanced `)`")
        group = self.groups.pop()
        self.out.append(")" * group.pending + ")")
        self.pos += 1

    def _escape(self) -> None:
        if self.pos + 1 >= len(self.pattern):
            raise self.fail("a trailing backslash")
        letter = self.pattern[self.pos + 1]
        if letter == "Q":
            self._quoted()
        elif letter in "pP":
            self.out.append(self._property(letter == "P", in_class=False))
        elif letter == "k":
            self._named_reference()
        elif letter in _SIMPLE_ESCAPES:
            self.out.append(_SIMPLE_ESCAPES[letter])
            self.pos += 2
        else:
            self.out.append(self._common_escape(letter))

    def _common_escape(self, letter: str) -> str:
        """Escapes meaning the same inside and outside a class (consumes them)."""
        if letter in _UNSUPPORTED_ESCAPES:
            raise self.fail(f"`\\{letter}`")
        if letter == "c":
            return self._control()
        if letter == "x" and self.pattern.startswith("{", self.pos + 2):
            return self._hex_code_point()
        if letter == "0":
            return self._octal()
        self.pos += 2
        return "\\" + letter

    def _control(self) -> str:
        if self.pos + 2 >= len(self.pattern):
            raise self.fail("an incomplete `\\c` escape")
        code = ord(self.pattern[self.pos + 2]) ^ 64
        self.pos += 3
        return f"\\x{code:02x}"

    def _hex_code_point(self) -> str:
        end = self.pattern.find("}", self.pos)
        digits = self.pattern[self.pos + 3 : end] if end > 0 else ""
        if not re.fullmatch(r"[0-9a-fA-F]{1,6}", digits):
            raise self.fail("a malformed `\\x{…}` escape")
        self.pos = end + 1
        return f"\\U{int(digits, 16):08x}"

    def _octal(self) -> str:
        found = re.match(r"\\0([0-3]?[0-7]{1,2})", self.pattern[self.pos :])
        if found is None:
            raise self.fail("a malformed `\\0` octal escape")
        self.pos += found.end()
        return f"\\x{int(found.group(1), 8):02x}"

    def _quoted(self) -> None:
        end = self.pattern.find("\\E", self.pos + 2)
        stop = len(self.pattern) if end < 0 else end
        self.out.append(re.escape(self.pattern[self.pos + 2 : stop]))
        self.pos = stop if end < 0 else end + 2

    def _named_reference(self) -> None:
        found = re.match(r"\\k<([A-Za-z][A-Za-z0-9]*)>", self.pattern[self.pos :])
        if found is None:
            raise self.fail("a malformed `\\k<name>` reference")
        self.out.append(f"(?P={found.group(1)})")
        self.pos += found.end()

    def _property(self, negated: bool, *, in_class: bool) -> str:
        found = re.match(r"\\[pP]\{(?:Is)?([A-Za-z_]+)\}", self.pattern[self.pos :])
        name = found.group(1) if found else ""
        if name not in _POSIX:
            raise self.fail(f"the character property `{self.pattern[self.pos : self.pos + 12]}…`")
        assert found is not None
        self.pos += found.end()
        ranges = _POSIX[name]
        if in_class:
            if negated:
                raise self.fail("a negated property inside a character class")
            return ranges
        return f"[{'^' if negated else ''}{ranges}]"

    def _char_class(self) -> None:
        parts = ["["]
        self.pos += 1
        if self.pattern.startswith("^", self.pos):
            parts.append("^")
            self.pos += 1
        if self.pattern.startswith("]", self.pos):
            parts.append("\\]")
            self.pos += 1
        while self.pos < len(self.pattern) and self.pattern[self.pos] != "]":
            parts.append(self._class_item())
        if self.pos >= len(self.pattern):
            raise self.fail("an unterminated character class")
        self.pos += 1
        parts.append("]")
        self.out.append("".join(parts))

    def _class_item(self) -> str:
        char = self.pattern[self.pos]
        if char == "[":
            raise self.fail("a nested character class")
        if self.pattern.startswith("&&", self.pos):
            raise self.fail("a character-class intersection (&&)")
        if char != "\\":
            self.pos += 1
            return "\\[" if char == "[" else char
        if self.pos + 1 >= len(self.pattern):
            raise self.fail("a trailing backslash")
        letter = self.pattern[self.pos + 1]
        if letter in "pP":
            return self._property(letter == "P", in_class=True)
        if letter in _CLASS_ESCAPES:
            self.pos += 2
            return _CLASS_ESCAPES[letter]
        if letter in "HVQkzZ":
            raise self.fail(f"`\\{letter}` inside a character class")
        return self._common_escape(letter)
