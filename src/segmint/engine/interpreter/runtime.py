"""PQL's null and missing-value rules (pql.md §1.4, §5.2, §5.3, §12.0), decided once.

Every Python evaluation goes through these helpers, and the SQL compilers emit SQL that matches
them:

* ``MISSING`` is an absent field, ``None`` a null; both are "null" to every operator and to
  ``isNull()`` (the lake cannot tell them apart). ``MISSING`` never leaves the interpreter:
  :func:`output` turns it into ``None``, and projections drop both;
* predicates are true only when their operands are non-null (so ``!=``, ``notIn`` and the
  ``doesNot…`` methods are *not* negations); a predicate over a projected array (a path through
  an array, §4.2) is existential: true iff some element satisfies it (:func:`existential`);
* arithmetic propagates null, ``/`` and ``%`` by zero give null, ``/`` always yields a double,
  ``%`` keeps the dividend's sign (Java/SQL remainder);
* ``=`` compares arrays element-wise in order and objects field by field (a null field equals a
  missing one); inside such values a null equals a null;
* ``sum`` of nothing is 0, ``average``/``min``/``max`` of nothing null, ``count`` of nothing 0;
  null items are skipped by every aggregate;
* a value in a boolean position is coerced: a boolean by its value, an array when non-empty,
  anything else when present.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Final

from segmint.pql.ast import Binary, Expr
from segmint.pql.errors import PQLTypeError, PQLUnsupportedError
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


class _Missing:
    """The value of an absent field (pql.md §12.0)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


def is_null(value: object) -> bool:
    """Null or missing: the two are the same to every PQL operator."""
    return value is None or value is MISSING


def output(value: object) -> object:
    """A value as the interpreter hands it out: ``MISSING`` becomes ``None``, at any depth."""
    if value is MISSING:
        return None
    if isinstance(value, list):
        return [output(item) for item in value]
    if isinstance(value, dict):
        return {key: output(item) for key, item in value.items()}
    return value


def unsupported(node: object, what: str, engine: str | None = None) -> PQLUnsupportedError:
    """The error for valid PQL that an engine does not evaluate, located at ``node``'s span."""
    where = f" by the {engine} engine yet" if engine else ""
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
    if is_null(value):
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
    """``= != < <= > >=``: false when either side is null; a date meets a timestamp at 00:00;
    ``=``/``!=`` compare arrays and objects as whole values."""
    if is_null(left) or is_null(right):
        return False
    if op in ("=", "!="):
        return equal(left, right) == (op == "=")
    try:
        return _COMPARISONS[op](_promote(left), _promote(right))
    except TypeError:
        raise PQLTypeError(f"cannot order {left!r} and {right!r} with `{op}`") from None


def equal(left: object, right: object) -> bool:
    """Structural equality: numbers by value, a date as its midnight, arrays item by item in
    order, objects and maps field by field with null fields dropped; null equals null."""
    if is_null(left) or is_null(right):
        return is_null(left) and is_null(right)
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(equal, left, right))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        a, b = _present_fields(left), _present_fields(right)
        return a.keys() == b.keys() and all(equal(a[key], b[key]) for key in a)
    if isinstance(left, list | Mapping) or isinstance(right, list | Mapping):
        return False
    return bool(_promote(left) == _promote(right))


def _present_fields(value: Mapping[Any, object]) -> dict[Any, object]:
    return {key: item for key, item in value.items() if not is_null(item)}


def existential(
    test: Callable[..., bool], operands: Sequence[object], projected: Sequence[bool]
) -> bool:
    """``test`` over the operands, lifted over those that are projected arrays (§4.2): true iff
    some choice of one element from each projected operand satisfies it."""
    choices = [
        (_elements(value) if lifted else [value])
        for value, lifted in zip(operands, projected, strict=True)
    ]
    return any(test(*combination) for combination in itertools.product(*choices))


def _elements(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _promote(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def member(value: object, items: object) -> bool:
    """``v in list``: both non-null and ``v`` equals an item (a null item is no member)."""
    if is_null(value) or not isinstance(items, list):
        return False
    return any(not is_null(item) and equal(value, item) for item in items)


def not_member(value: object, items: object) -> bool:
    """``v notIn list``: both non-null and ``v`` equals no item."""
    if is_null(value) or not isinstance(items, list):
        return False
    return not member(value, items)


# --- arrays and sets (§7.5) -------------------------------------------------------------------


def distinct(items: Iterable[object]) -> list[object]:
    """The items without repeats (by ``=``, nulls kept once), in first-seen order."""
    kept: list[object] = []
    for item in items:
        if not any(equal(item, seen) for seen in kept):
            kept.append(item)
    return kept


def intersection(left: object, right: object) -> object:
    """The distinct items of ``left`` that are members of ``right``, in ``left``'s order; an
    empty array when they share nothing; null when either side is null."""
    if not isinstance(left, list) or not isinstance(right, list):
        return None
    return [item for item in distinct(left) if member(item, right)]


def intersects(left: object, right: object) -> bool:
    result = intersection(left, right)
    return isinstance(result, list) and len(result) > 0


def subset(left: object, right: object) -> bool:
    """Every item of ``left`` is a member of ``right`` (a null item never is); false on null."""
    if not isinstance(left, list) or not isinstance(right, list):
        return False
    return all(member(item, right) for item in left)


def head(items: object) -> object:
    """The first item, or null for an empty or null array."""
    return items[0] if isinstance(items, list) and items else None


def count(items: object) -> int:
    """The number of items (null items included); 0 for a null array."""
    return len(items) if isinstance(items, list) else 0


# --- aggregates (§7.6) ------------------------------------------------------------------------


def aggregate(function: str, values: Iterable[object], integer: bool) -> object:
    """``sum``/``average``/``min``/``max`` of ``values``, null values skipped: ``sum`` of
    nothing is 0, the others null."""
    present = [value for value in values if not is_null(value)]
    if function == "sum":
        total = sum((_number(value) for value in present), 0 if integer else 0.0)
        return total
    if not present:
        return None
    if function == "average":
        return math.fsum(float(_number(value)) for value in present) / len(present)
    if function in ("min", "max"):
        return _extreme(function, present)
    raise ValueError(f"unknown aggregate {function!r}")


def _extreme(function: str, values: list[object]) -> object:
    best = values[0]
    for value in values[1:]:
        if compare("<" if function == "min" else ">", value, best):
            best = value
    return best


def ranked(items: Sequence[object], keys: Sequence[object], n: object, largest: bool) -> object:
    """``topN``/``bottomN``: the ``n`` items with the largest (smallest) keys, items whose key
    is null left out, ties kept in their original order; null when ``n`` is null."""
    if is_null(n):
        return None
    assert isinstance(n, int)
    keyed = [(key, item) for key, item in zip(keys, items, strict=True) if not is_null(key)]
    wrapper = _Descending if largest else _SortKey
    keyed.sort(key=lambda pair: wrapper(pair[0]))  # stable: ties keep their order
    return [item for _, item in keyed[: max(n, 0)]]


class _SortKey:
    """Orders PQL values with :func:`compare` (dates meet timestamps at midnight)."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __lt__(self, other: _SortKey) -> bool:
        return compare("<", self.value, other.value)


class _Descending(_SortKey):
    def __lt__(self, other: _SortKey) -> bool:
        return compare(">", self.value, other.value)


# --- arithmetic -------------------------------------------------------------------------------


def arithmetic(op: str, left: object, right: object) -> object:
    """``+ - * / %`` on numbers; null in, null out; ``/`` and ``%`` by zero give null."""
    if is_null(left) or is_null(right):
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
    return None if is_null(value) else -_number(value)


def _number(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PQLTypeError(f"arithmetic on a non-number: {value!r}")
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


def matches(text: object, pattern: re.Pattern[str] | None) -> bool:
    """``s matches r``: find-anywhere (``re.search``) semantics; false when either is null."""
    if not isinstance(text, str) or pattern is None:
        return False
    return pattern.search(text) is not None


def regex_group(text: object, pattern: re.Pattern[str] | None, group: object) -> object:
    """The text of capture group ``group`` in the first match; null when nothing matches, the
    group did not take part, or an operand is null."""
    if not isinstance(text, str) or pattern is None or is_null(group):
        return None
    assert isinstance(group, int)
    if not 0 <= group <= pattern.groups:
        raise PQLTypeError(
            f"regexGroup asks for group {group} of a pattern with {pattern.groups} group(s)"
        )
    found = pattern.search(text)
    return None if found is None else found.group(group)
