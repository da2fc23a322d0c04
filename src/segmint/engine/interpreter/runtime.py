"""PQL's null and missing-value rules (pql.md §1.4, §5.2, §5.3), decided once.

Every Python evaluation goes through these helpers, and the SQL compilers emit SQL that matches
them: predicates are true only when their operands are non-null (so ``!=``, ``notIn`` and the
``doesNot…`` methods are *not* negations), arithmetic propagates null, ``/`` and ``%`` by zero
give null, ``/`` always yields a double, ``%`` keeps the dividend's sign (Java/SQL remainder),
and a value in a boolean position is coerced: a boolean by its value, an array when non-empty,
anything else when present.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from segmint.pql.ast import Binary, Expr
from segmint.pql.errors import PQLUnsupportedError
from segmint.pql.types import ArrayType, PQLType, ScalarKind, ScalarType

# name -> (positive test, negated): the negative forms are false on null, like every predicate.
STRING_METHODS: dict[str, tuple[str, bool]] = {
    "startsWith": ("startsWith", False),
    "doesNotStartWith": ("startsWith", True),
    "endsWith": ("endsWith", False),
    "doesNotEndWith": ("endsWith", True),
    "contains": ("contains", False),
    "doesNotContain": ("contains", True),
    "equals": ("equals", False),
    "notEqualTo": ("equals", True),
}

_STRING_TESTS: dict[str, Callable[[str, str], bool]] = {
    "startsWith": str.startswith,
    "endsWith": str.endswith,
    "contains": lambda text, part: part in text,
    "equals": operator.eq,
}

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def unsupported(node: object, what: str, engine: str | None = None) -> PQLUnsupportedError:
    """The error for valid PQL that an engine does not evaluate, located at ``node``'s span."""
    where = f" on {engine}" if engine else ""
    message = f"{what} is not supported{where}"
    span = getattr(node, "span", None)
    if span is None:
        return PQLUnsupportedError(message)
    return PQLUnsupportedError(
        message, line=span.line, column=span.column, length=span.end - span.start
    )


# --- boolean positions ------------------------------------------------------------------------


def truth(value: object, value_type: PQLType | None) -> bool:
    """§1.4: a boolean by its value, an array when non-empty, anything else when present."""
    if value is None:
        return False
    if isinstance(value_type, ScalarType) and value_type.kind is ScalarKind.BOOLEAN:
        return value is True
    if isinstance(value_type, ArrayType):
        return isinstance(value, Sequence) and len(value) > 0
    if value_type is None and isinstance(value, bool | list):
        return bool(value)
    return True


def logical_operands(node: Binary) -> list[Expr]:
    """The operands of the ``and``/``or`` chain rooted at ``node``, left to right.

    Nested operands with the same operator, on either side and at any depth, are flattened with
    an explicit stack, not recursion: chains of thousands of terms (zip-code lists) are common,
    and both connectives are associative once each operand is coerced to a boolean.
    """
    operands: list[Expr] = []
    pending: list[Expr] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, Binary) and current.op == node.op:
            pending += (current.right, current.left)
        else:
            operands.append(current)
    return operands


# --- comparison -------------------------------------------------------------------------------


def compare(op: str, left: object, right: object) -> bool:
    """``= != < <= > >=``: false when either side is null; a date meets a timestamp at 00:00."""
    if left is None or right is None:
        return False
    return _COMPARISONS[op](_promote(left), _promote(right))


def _promote(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def member(value: object, items: object) -> bool:
    """``v in list``: both non-null and ``v`` equals an item."""
    if value is None or not isinstance(items, Sequence) or isinstance(items, str):
        return False
    return any(item is not None and compare("=", value, item) for item in items)


def not_member(value: object, items: object) -> bool:
    """``v notIn list``: both non-null and ``v`` equals no item."""
    if value is None or not isinstance(items, Sequence) or isinstance(items, str):
        return False
    return not member(value, items)


# --- arithmetic -------------------------------------------------------------------------------


def arithmetic(op: str, left: object, right: object) -> object:
    """``+ - * / %`` on numbers; null in, null out; ``/`` and ``%`` by zero give null."""
    if left is None or right is None:
        return None
    a, b = _number(left), _number(right)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return None if b == 0 else float(a) / float(b)
    if op == "%":
        return _remainder(a, b)
    raise ValueError(f"unknown arithmetic operator {op!r}")


def negate(value: object) -> object:
    return None if value is None else -_number(value)


def _number(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"arithmetic on a non-number: {value!r}")
    return value


def _remainder(a: int | float, b: int | float) -> int | float | None:
    if b == 0:
        return None
    if isinstance(a, float) or isinstance(b, float):
        return math.fmod(a, b)
    magnitude = abs(a) % abs(b)
    return magnitude if a >= 0 else -magnitude


# --- strings ----------------------------------------------------------------------------------


def like(text: object, pattern: object) -> bool:
    """SQL LIKE over the whole string: ``%`` any run, ``_`` one character, case-sensitive."""
    if not isinstance(text, str) or not isinstance(pattern, str):
        return False
    return _like_regex(pattern).fullmatch(text) is not None


@lru_cache(maxsize=256)
def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)


def string_test(method: str, text: object, part: object, case_sensitive: bool = True) -> bool:
    """``startsWith``/``doesNotContain``/…: false when either side is null."""
    if not isinstance(text, str) or not isinstance(part, str):
        return False
    base, negated = STRING_METHODS[method]
    if not case_sensitive:
        text, part = text.lower(), part.lower()
    return _STRING_TESTS[base](text, part) != negated
