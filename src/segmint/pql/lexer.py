"""The PQL tokenizer: pql/text in, a list of positioned tokens out.

Owns the lexical rules of pql.md §2: names (keywords are recognised later, case-insensitively),
both quote styles with escapes, numbers, maximal-munch operators, ``$n`` and ``@{…}``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import Enum, auto

from segmint.pql.ast import Span
from segmint.pql.errors import PQLSyntaxError


class TokenType(Enum):
    NAME = auto()
    STRING = auto()
    INTEGER = auto()
    DOUBLE = auto()
    PARAM = auto()
    CONTEXT = auto()
    L_PAREN = auto()
    R_PAREN = auto()
    L_BRACKET = auto()
    R_BRACKET = auto()
    L_BRACE = auto()
    R_BRACE = auto()
    DOT = auto()
    COMMA = auto()
    COLON = auto()
    EQ = auto()
    NEQ = auto()
    LT = auto()
    LTE = auto()
    GT = auto()
    GTE = auto()
    PLUS = auto()
    MINUS = auto()
    STAR = auto()
    SLASH = auto()
    PERCENT = auto()
    BANG = auto()
    CARET = auto()
    ARROW = auto()
    EOF = auto()


# Longest first, so that maximal munch falls out of the iteration order.
OPERATORS: tuple[tuple[str, TokenType], ...] = (
    ("!=", TokenType.NEQ),
    ("<=", TokenType.LTE),
    (">=", TokenType.GTE),
    ("=>", TokenType.ARROW),
    ("(", TokenType.L_PAREN),
    (")", TokenType.R_PAREN),
    ("[", TokenType.L_BRACKET),
    ("]", TokenType.R_BRACKET),
    ("{", TokenType.L_BRACE),
    ("}", TokenType.R_BRACE),
    (".", TokenType.DOT),
    (",", TokenType.COMMA),
    (":", TokenType.COLON),
    ("=", TokenType.EQ),
    ("<", TokenType.LT),
    (">", TokenType.GT),
    ("+", TokenType.PLUS),
    ("-", TokenType.MINUS),
    ("*", TokenType.STAR),
    ("/", TokenType.SLASH),
    ("%", TokenType.PERCENT),
    ("!", TokenType.BANG),
    ("^", TokenType.CARET),
)

ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
TYPOGRAPHIC_QUOTES = frozenset("\u201c\u201d\u2018\u2019\u201e\u201f\u201a\u00ab\u00bb")
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# Python refuses to convert longer digit strings (sys.get_int_max_str_digits()).
MAX_INTEGER_DIGITS = 4000


@dataclass(frozen=True)
class Token:
    """One token: ``text`` as written, ``value`` decoded (string contents, number, ``$n``)."""

    type: TokenType
    text: str
    value: str | int | float
    start: int
    end: int
    line: int
    column: int

    @property
    def span(self) -> Span:
        return Span(self.start, self.end, self.line, self.column)

    def is_keyword(self, *words: str) -> bool:
        """A NAME token spelling one of ``words`` (given in lower case), in any case."""
        return self.type is TokenType.NAME and self.text.lower() in words

    def describe(self) -> str:
        return "end of input" if self.type is TokenType.EOF else f"`{self.text}`"


class SourceMap:
    """Converts 0-based offsets into 1-based line/column pairs."""

    def __init__(self, text: str) -> None:
        self._line_starts = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]

    def locate(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens ending with an ``EOF`` token; raise ``PQLSyntaxError``."""
    return _Lexer(text).run()


def is_name_start(char: str) -> bool:
    return char == "_" or (char.isascii() and char.isalpha())


def is_name_char(char: str) -> bool:
    return is_name_start(char) or _is_digit(char)


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


class _Lexer:
    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._source_map = SourceMap(text)
        self._tokens: list[Token] = []

    def run(self) -> list[Token]:
        while self._skip_whitespace():
            self._scan_token()
        self._tokens.append(self._token(TokenType.EOF, self._pos, ""))
        return self._tokens

    def _skip_whitespace(self) -> bool:
        while self._pos < len(self._text) and self._text[self._pos].isspace():
            self._pos += 1
        return self._pos < len(self._text)

    def _peek(self, offset: int = 0) -> str:
        index = self._pos + offset
        return self._text[index] if index < len(self._text) else ""

    def _token(self, type_: TokenType, start: int, value: str | int | float) -> Token:
        line, column = self._source_map.locate(start)
        text = self._text[start : self._pos]
        return Token(type_, text, value, start, self._pos, line, column)

    def _error(self, message: str, start: int, length: int = 1) -> PQLSyntaxError:
        line, column = self._source_map.locate(start)
        return PQLSyntaxError(message, source=self._text, line=line, column=column, length=length)

    def _scan_token(self) -> None:
        char = self._peek()
        if char in ('"', "'"):
            self._scan_string(char)
        elif _is_digit(char) or (char == "." and _is_digit(self._peek(1))):
            self._scan_number()
        elif is_name_start(char):
            self._scan_name()
        elif char == "$":
            self._scan_param()
        elif char == "@":
            self._scan_context()
        else:
            self._scan_operator(char)

    def _scan_name(self) -> None:
        start = self._pos
        while is_name_char(self._peek()):
            self._pos += 1
        self._tokens.append(self._token(TokenType.NAME, start, self._text[start : self._pos]))

    def _scan_number(self) -> None:
        start = self._pos
        self._skip_digits()
        is_double = False
        if self._peek() == "." and _is_digit(self._peek(1)):
            self._pos += 1
            self._skip_digits()
            is_double = True
        if self._at_exponent():
            self._pos += 2 if self._peek(1) in "+-" else 1
            self._skip_digits()
            is_double = True
        digits = self._text[start : self._pos]
        if is_double:
            self._tokens.append(self._token(TokenType.DOUBLE, start, float(digits)))
        elif len(digits) > MAX_INTEGER_DIGITS:
            raise self._error("integer literal has too many digits", start, len(digits))
        else:
            self._tokens.append(self._token(TokenType.INTEGER, start, int(digits)))

    def _skip_digits(self) -> None:
        while _is_digit(self._peek()):
            self._pos += 1

    def _at_exponent(self) -> bool:
        if self._peek() not in ("e", "E"):
            return False
        sign = 1 if self._peek(1) in ("+", "-") else 0
        return _is_digit(self._peek(1 + sign))

    def _scan_string(self, quote: str) -> None:
        start = self._pos
        self._pos += 1
        chars: list[str] = []
        while True:
            char = self._peek()
            if char == "":
                raise self._error("unterminated string", start, len(self._text) - start)
            self._pos += 1
            if char == quote:
                break
            chars.append(self._scan_escape() if char == "\\" else char)
        self._tokens.append(self._token(TokenType.STRING, start, "".join(chars)))

    def _scan_escape(self) -> str:
        """The text of the escape after a backslash; unknown escapes stay as written."""
        char = self._peek()
        if char == "":
            return "\\"
        self._pos += 1
        if char in ESCAPES:
            return ESCAPES[char]
        if char == "u":
            return self._scan_unicode_escape()
        return "\\" + char

    def _scan_unicode_escape(self) -> str:
        digits = self._text[self._pos : self._pos + 4]
        if len(digits) < 4 or not set(digits) <= HEX_DIGITS:
            raise self._error("invalid \\u escape: expected four hex digits", self._pos - 2, 2)
        self._pos += 4
        return chr(int(digits, 16))

    def _scan_param(self) -> None:
        start = self._pos
        self._pos += 1
        self._skip_digits()
        if self._pos == start + 1:
            raise self._error("expected a parameter number after `$`", start)
        if self._pos - start - 1 > MAX_INTEGER_DIGITS:
            raise self._error("parameter number has too many digits", start, self._pos - start)
        position = int(self._text[start + 1 : self._pos])
        self._tokens.append(self._token(TokenType.PARAM, start, position))

    def _scan_context(self) -> None:
        start = self._pos
        if self._peek(1) != "{":
            raise self._error("expected `{` after `@`", start)
        close = self._text.find("}", start + 2)
        if close < 0:
            raise self._error("unterminated context reference `@{…}`", start, 2)
        self._pos = close + 1
        self._tokens.append(self._token(TokenType.CONTEXT, start, self._text[start + 2 : close]))

    def _scan_operator(self, char: str) -> None:
        start = self._pos
        for text, type_ in OPERATORS:
            if self._text.startswith(text, start):
                self._pos += len(text)
                self._tokens.append(self._token(type_, start, text))
                return
        if char in TYPOGRAPHIC_QUOTES:
            raise self._error(
                f"typographic quote `{char}` cannot delimit a string; use \" or '", start
            )
        raise self._error(f"unexpected character `{char}`", start)
