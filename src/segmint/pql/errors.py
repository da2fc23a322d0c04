"""PQL errors. Every error a user can cause is a ``PQLError`` with a line, a column and the
offending span highlighted::

    PQLError
    ├── PQLSyntaxError        the text is not PQL
    ├── PQLTypeError          well-formed, but types do not fit (wrong operand, arity, …)
    ├── PQLNameError          unknown field, variable or function
    └── PQLUnsupportedError   valid PQL that Segmint does not evaluate yet
"""

from __future__ import annotations


class PQLError(Exception):
    """A fault in a PQL expression, located at ``line``/``column`` (1-based)."""

    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        line: int = 1,
        column: int = 1,
        length: int = 1,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.column = column
        self.length = max(1, length)
        super().__init__(f"{message} (line {line}, column {column})")

    def highlight(self) -> str:
        """The source line with a caret marker under the faulty span."""
        lines = self.source.splitlines() or [""]
        text = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        width = min(self.length, max(1, len(text) - self.column + 1))
        return f"{text}\n{' ' * (self.column - 1)}{'^' * width}"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "message": self.message,
            "line": self.line,
            "column": self.column,
        }


class PQLSyntaxError(PQLError):
    kind = "syntax"


class PQLTypeError(PQLError):
    kind = "type"


class PQLNameError(PQLError):
    kind = "name"


class PQLUnsupportedError(PQLError):
    kind = "unsupported"
