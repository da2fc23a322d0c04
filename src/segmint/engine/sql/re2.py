"""Java regular expressions (pql.md §7.4) rewritten for RE2 (DuckDB's regex engine), with the
interpreter's semantics (:mod:`segmint.engine.interpreter.regex`, Python ``re`` in ASCII mode).

A pattern is first run through the interpreter's :func:`compile_java`, so everything it rejects
is rejected here too; then it is rewritten token by token into RE2 syntax that never relies on
RE2's own flags, classes or case folding where they differ from the interpreter's:

* case-insensitivity is ASCII-only, spelled out (``k`` → ``[kK]``, ``[a-c]`` → ``[a-cA-C]``):
  RE2's ``(?i)`` also folds ``k`` with the Kelvin sign and ``s`` with U+017F;
* ``\\w \\d \\s`` and the POSIX ``\\p{…}`` classes become explicit ASCII ranges (RE2's ``\\s``
  lacks ``\\x0b``), ``.`` excludes every Java line terminator;
* a single non-multiline ``$`` (or ``\\Z``) is allowed only at the end of the pattern. It
  becomes ``(\\n?)\\z`` (``(line terminator?)\\z`` for ``\\Z``), an extra last capture group that
  :class:`Re2Pattern` records so ``regexGroup`` can strip it again;
* a possessive quantifier is kept (as greedy) only on a single character at the end of the
  pattern, where both mean the same.

Rejected: backreferences, lookaround, atomic groups, Unicode flags, any other possessive
quantifier, ``$``/``\\Z`` before the end, ``\\S`` inside a class and repetition counts over 1000.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from segmint.engine.interpreter.regex import (
    _HORIZONTAL,
    _POSIX,
    _VERTICAL,
    RegexUnsupported,
    compile_java,
)

Ranges = list[tuple[int, int]]

_LINE_TERMINATORS: Ranges = [(0x0A, 0x0A), (0x0D, 0x0D), (0x85, 0x85), (0x2028, 0x2029)]
_META = set("\\.^$|?*+()[]{}")
_QUANTIFIER = re.compile(r"(?:([?*+])|\{(\d*)(,?)(\d*)\})([?+]?)")
_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_MAX_REPEAT = 1000
_END_DOLLAR = "(\\n?)\\z"
_END_Z = "((?:\\r\\n|[\\n\\r\\x{85}\\x{2028}\\x{2029}])?)\\z"


def _ranges_of(python_class: str, limit: int) -> Ranges:
    """The code points below ``limit`` in a Python class body, as sorted ranges."""
    compiled = re.compile(f"[{python_class}]")
    points = [c for c in range(limit) if compiled.fullmatch(chr(c))]
    return _merge([(c, c) for c in points])


def _merge(ranges: Ranges) -> Ranges:
    merged: Ranges = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


_CLASSES: dict[str, Ranges] = {
    "d": [(0x30, 0x39)],
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "s": [(0x09, 0x0D), (0x20, 0x20)],
    "h": _ranges_of(_HORIZONTAL, 0x3001),
    "v": _ranges_of(_VERTICAL, 0x2030),
}
_POSIX_RANGES: dict[str, Ranges] = {name: _ranges_of(body, 0x80) for name, body in _POSIX.items()}
_CHAR_ESCAPES: dict[str, int] = {"t": 9, "n": 10, "r": 13, "f": 12, "e": 0x1B, "a": 7}


def _folded(ranges: Ranges) -> Ranges:
    """``ranges`` plus the other case of every ASCII letter in them."""
    extra: Ranges = []
    for lo, hi in ranges:
        for start, end, delta in ((0x41, 0x5A, 32), (0x61, 0x7A, -32)):
            a, b = max(lo, start), min(hi, end)
            if a <= b:
                extra.append((a + delta, b + delta))
    return _merge(ranges + extra)


def _point(code: int) -> str:
    char = chr(code)
    if char.isascii() and char.isalnum():
        return char
    return f"\\x{{{code:x}}}"


def _class(ranges: Ranges, negated: bool = False, extra: str = "") -> str:
    body = "".join(_point(lo) if lo == hi else f"{_point(lo)}-{_point(hi)}" for lo, hi in ranges)
    return f"[{'^' if negated else ''}{body}{extra}]"


class Re2Unsupported(RegexUnsupported):
    """A Java construct the interpreter runs but RE2 cannot run the same way; the message
    names the construct."""


@dataclass(frozen=True)
class Re2Pattern:
    """A Java pattern in RE2 syntax, and what ``regexGroup`` needs to read its groups."""

    pattern: str
    groups: int
    end_group: int | None = None  # the extra capture of a final `$`, if any
    around_end: frozenset[int] = frozenset()  # groups whose text ends with that capture
    nonempty: frozenset[int] = frozenset()  # groups that never capture ""
    optional: frozenset[int] = frozenset()  # groups that may take no part in a match


@dataclass
class _Frame:
    """One open group: its flags, capture number and the shortest match of its branches."""

    fold: bool
    multiline: bool
    dotall: bool
    start: int = 0
    capture: int | None = None
    captures: list[int] = field(default_factory=list)
    alternatives: bool = False
    branch_min: int = 0
    shortest: int | None = None


@dataclass
class _Atom:
    """The last thing emitted, for a quantifier that follows it."""

    start: int
    length: int
    captures: list[int]
    single: bool


def translate(pattern: str) -> Re2Pattern:
    """``pattern`` (Java syntax) for RE2, or ``RegexUnsupported``."""
    compile_java(pattern)
    return _Translator(pattern).run()


@dataclass
class _Translator:
    pattern: str
    pos: int = 0
    out: list[str] = field(default_factory=list)
    frames: list[_Frame] = field(default_factory=list)
    atom: _Atom | None = None
    groups: int = 0
    nonempty: set[int] = field(default_factory=set)
    optional: set[int] = field(default_factory=set)
    end_group: int | None = None
    around_end: frozenset[int] = frozenset()

    def fail(self, what: str) -> Re2Unsupported:
        return Re2Unsupported(what)

    def run(self) -> Re2Pattern:
        self.frames.append(_Frame(fold=False, multiline=False, dotall=False))
        while self.pos < len(self.pattern):
            self._step()
        root = self.frames[0]
        if root.alternatives:
            self.optional.update(root.captures)
        return Re2Pattern(
            "".join(self.out),
            self.groups,
            self.end_group,
            self.around_end,
            frozenset(self.nonempty),
            frozenset(self.optional),
        )

    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    # --- emitting -------------------------------------------------------------------------------

    def _emit(self, text: str, length: int) -> None:
        """One RE2 atom matching a single character."""
        self.atom = _Atom(len(self.out), length, [], single=True)
        self.out.append(text)
        self.frame.branch_min += length

    def _zero_width(self, text: str) -> None:
        self.out.append(text)
        self.atom = None

    def _char(self, code: int) -> None:
        char = chr(code)
        if self.frame.fold and char.isascii() and char.isalpha():
            self._emit(f"[{char.lower()}{char.upper()}]", 1)
        elif char in _META:
            self._emit("\\" + char, 1)
        else:
            self._emit(_point(code) if not char.isprintable() or char == " " else char, 1)

    def _set(self, ranges: Ranges, negated: bool = False) -> None:
        self._emit(_class(_folded(ranges) if self.frame.fold else ranges, negated), 1)

    # --- tokens ---------------------------------------------------------------------------------

    def _step(self) -> None:
        char = self.pattern[self.pos]
        if char in "?*+{" and self._quantifier():
            return
        self.pos += 1
        if char == "\\":
            self._escape()
        elif char == "[":
            self._char_class()
        elif char == "(":
            self._open()
        elif char == ")":
            self._close()
        elif char == "|":
            self._alternative()
        elif char == ".":
            self._emit("(?s:.)" if self.frame.dotall else _class(_LINE_TERMINATORS, True), 1)
        elif char == "^":
            self._zero_width("(?m:^)" if self.frame.multiline else "^")
        elif char == "$":
            self._dollar(_END_DOLLAR)
        else:
            self._char(ord(char))

    def _alternative(self) -> None:
        frame = self.frame
        frame.alternatives = True
        frame.shortest = _shorter(frame.shortest, frame.branch_min)
        frame.branch_min = 0
        self._zero_width("|")

    def _dollar(self, end: str) -> None:
        if self.frame.multiline and end == _END_DOLLAR:
            self._zero_width("(?m:$)")
            return
        if self.pattern[self.pos :].strip(")"):
            raise self.fail("`$` or `\\Z` before the end of the pattern")
        self.groups += 1
        self.end_group = self.groups
        self.around_end = frozenset(c for f in self.frames for c in [f.capture] if c is not None)
        self._zero_width(end)

    def _quantifier(self) -> bool:
        """A quantifier after the last atom (every atom emitted is one RE2 atom)."""
        found = _QUANTIFIER.match(self.pattern, self.pos)
        atom = self.atom
        if found is None or atom is None:
            return False
        symbol, low, comma, high, mode = found.groups()
        if not symbol and not low:
            if comma:
                raise self.fail("a repetition without a lower bound")
            return False
        least = {"?": 0, "*": 0, "+": 1}[symbol] if symbol else int(low)
        if not symbol and max(least, int(high or 0)) > _MAX_REPEAT:
            raise self.fail(f"a repetition count over {_MAX_REPEAT}")
        self.pos = found.end()
        if mode == "+":
            self._possessive(atom)
        self.frame.branch_min += atom.length * least - atom.length
        if least == 0:
            self.optional.update(atom.captures)
        self.out.append(found.group(0)[: -1 if mode == "+" else None])
        self.atom = None
        return True

    def _possessive(self, atom: _Atom) -> None:
        """``X*+`` is ``X*`` when X is one character and nothing but ``)`` (or a final
        non-multiline ``$``) follows: the greedy loop's first try is then the only one."""
        rest = self.pattern[self.pos :]
        dollar = rest.startswith("$") and not self.frame.multiline
        final = not rest.strip(")") or (dollar and not rest[1:].strip(")"))
        if not (atom.single and final):
            raise self.fail("a possessive quantifier before the end of the pattern")

    # --- escapes --------------------------------------------------------------------------------

    def _escape(self) -> None:
        letter = self.pattern[self.pos]
        self.pos += 1
        if letter.lower() in _CLASSES:
            self._set(_CLASSES[letter.lower()], negated=letter.isupper())
        elif letter in "pP":
            self._set(self._posix(), negated=letter == "P")
        elif letter in "Abz":
            self._zero_width(f"\\{letter}")
        elif letter == "B":
            self._zero_width("\\B")
        elif letter == "Z":
            self._dollar(_END_Z)
        elif letter == "Q":
            self._quoted()
        elif letter == "k" or (letter.isdigit() and letter != "0"):
            raise self.fail("a backreference")
        else:
            self._char(self._code(letter))

    def _code(self, letter: str) -> int:
        """The code point of a single-character escape whose letter was just read."""
        if letter in _CHAR_ESCAPES:
            return _CHAR_ESCAPES[letter]
        if letter == "c":
            self.pos += 1
            return ord(self.pattern[self.pos - 1]) ^ 64
        if letter == "0":
            found = re.compile(r"[0-3]?[0-7]{1,2}").match(self.pattern, self.pos)
            assert found is not None
            self.pos = found.end()
            return int(found.group(0), 8)
        hexadecimal = {"x": r"\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{2})", "u": r"([0-9a-fA-F]{4})"}
        if letter in hexadecimal:
            found = re.compile(hexadecimal[letter]).match(self.pattern, self.pos)
            assert found is not None
            self.pos = found.end()
            code = int(next(g for g in found.groups() if g), 16)
            if 0xD800 <= code <= 0xDFFF:
                raise self.fail("a surrogate code point")
            return code
        if letter.isascii() and letter.isalnum():
            raise self.fail(f"`\\{letter}`")
        return ord(letter)

    def _posix(self) -> Ranges:
        found = re.compile(r"\{(?:Is)?([A-Za-z_]+)\}").match(self.pattern, self.pos)
        assert found is not None
        self.pos = found.end()
        return _POSIX_RANGES[found.group(1)]

    def _quoted(self) -> None:
        end = self.pattern.find("\\E", self.pos)
        stop = len(self.pattern) if end < 0 else end
        for char in self.pattern[self.pos : stop]:
            self._char(ord(char))
        self.pos = stop if end < 0 else end + 2

    # --- classes --------------------------------------------------------------------------------

    def _char_class(self) -> None:
        negated = self.pattern.startswith("^", self.pos)
        self.pos += negated
        ranges: Ranges = []
        extra = ""
        first = True
        while first or self.pattern[self.pos] != "]":
            first = False
            item = self._class_item()
            if isinstance(item, str):
                extra += item
            elif isinstance(item, list):
                ranges += item
            elif self.pattern.startswith("-", self.pos) and self.pattern[self.pos + 1] != "]":
                self.pos += 1
                high = self._class_item()
                assert isinstance(high, int)
                ranges.append((item, high))
            else:
                ranges.append((item, item))
        self.pos += 1
        ranges = _folded(ranges) if self.frame.fold else _merge(ranges)
        self._emit(_class(ranges, negated, extra), 1)

    def _class_item(self) -> int | Ranges | str:
        """A code point, a set of ranges, or RE2 text for a negated class escape."""
        char = self.pattern[self.pos]
        self.pos += 1
        if char != "\\":
            return ord(char)
        letter = self.pattern[self.pos]
        self.pos += 1
        if letter in "DW":
            return f"\\{letter}"
        if letter == "S":
            raise self.fail("`\\S` inside a character class")
        if letter in _CLASSES:
            return _CLASSES[letter]
        if letter == "p":
            return self._posix()
        if letter == "b":
            return 8
        return self._code(letter)

    # --- groups ---------------------------------------------------------------------------------

    def _open(self) -> None:
        parent = self.frame
        frame = _Frame(parent.fold, parent.multiline, parent.dotall, start=len(self.out))
        self.atom = None
        flags = _FLAGS.match(self.pattern, self.pos - 1)
        if flags is not None:
            self.pos = flags.end()
            target = frame if flags.group(3) == ":" else parent
            self._set_flags(target, flags.group(1), flags.group(2) or "")
            if flags.group(3) == ")":
                self.atom = None
                return
            self.out.append("(?:")
        elif self.pattern.startswith("?<", self.pos) and self.pattern[self.pos + 2] not in "=!":
            end = self.pattern.index(">", self.pos)
            frame.capture = self._capture()
            self.out.append(f"(?P<{self.pattern[self.pos + 2 : end]}>")
            self.pos = end + 1
        elif self.pattern.startswith("?", self.pos):
            raise self.fail("lookaround, an atomic group or another `(?…)` construct")
        else:
            frame.capture = self._capture()
            self.out.append("(")
        self.frames.append(frame)

    def _capture(self) -> int:
        self.groups += 1
        return self.groups

    def _set_flags(self, frame: _Frame, on: str, off: str) -> None:
        if set(on + off) & set("uU"):
            raise self.fail("a Unicode flag")
        for flags, value in ((on, True), (off, False)):
            frame.fold = value if "i" in flags else frame.fold
            frame.multiline = value if "m" in flags else frame.multiline
            frame.dotall = value if "s" in flags else frame.dotall

    def _close(self) -> None:
        frame = self.frames.pop()
        shortest = _shorter(frame.shortest, frame.branch_min)
        captures = frame.captures + ([] if frame.capture is None else [frame.capture])
        if frame.alternatives:
            self.optional.update(frame.captures)
        if frame.capture is not None and shortest > 0:
            self.nonempty.add(frame.capture)
        self.frame.captures.extend(captures)
        self.out.append(")")
        self.frame.branch_min += shortest
        self.atom = _Atom(frame.start, shortest, captures, single=False)


def _shorter(current: int | None, candidate: int) -> int:
    return candidate if current is None else min(current, candidate)
