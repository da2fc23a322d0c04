"""The PQL abstract syntax tree: frozen dataclasses, one class per construct.

The parser builds syntactic nodes (``Name`` for a bare identifier). The checker returns a
*resolved* tree of the same classes in which every ``Name`` has become a ``VarRef`` or a
``FieldLookup`` on an ``ImplicitScope``, and every node carries its inferred ``type``.
``span`` and ``type`` never take part in equality, so ``parse(format(e)) == e`` compares
structure only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from segmint.pql.types import PQLType


@dataclass(frozen=True)
class Span:
    """Where a node came from in the source text (0-based offsets, 1-based line/column)."""

    start: int
    end: int
    line: int
    column: int


class TimeUnit(StrEnum):
    MILLISECOND = "millisecond"
    SECOND = "second"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    DECADE = "decade"
    CENTURY = "century"
    MILLENNIUM = "millennium"


class LiteralKind(StrEnum):
    STRING = "String"
    INTEGER = "Integer"
    DOUBLE = "Double"
    BOOLEAN = "Boolean"
    DATE = "Date"
    DATETIME = "DateTime"


@dataclass(frozen=True)
class Node:
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)
    type: PQLType | None = field(default=None, compare=False, repr=False, kw_only=True)


# --- values and references -------------------------------------------------------------------


@dataclass(frozen=True)
class Literal(Node):
    """A constant. ``DATE`` literals only appear after the checker folds ``date(y, m, d)``
    or coerces an ISO date string; ``DATETIME`` ones (a naive UTC ``datetime``) only after
    it coerces an ISO-8601 string compared with a date-time field."""

    value: str | int | float | bool | date
    kind: LiteralKind


@dataclass(frozen=True)
class ListLiteral(Node):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class ObjectLiteral(Node):
    entries: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True)
class Name(Node):
    """A bare identifier as written; resolved by the checker."""

    name: str


@dataclass(frozen=True)
class ParamRef(Node):
    """``$1`` (the profile), ``$2`` …"""

    position: int


@dataclass(frozen=True)
class ImplicitScope(Node):
    """The implicit object in context: ``depth`` 0 is the innermost (profile at top level,
    the current item inside a bracket filter or item-relative argument); ``^`` adds one."""

    depth: int = 0


@dataclass(frozen=True)
class VarRef(Node):
    """A variable bound by ``select``/``exists``/``let``/a lambda/a chain step label."""

    name: str


@dataclass(frozen=True)
class ContextRef(Node):
    """``@{schema id}``: offer-decisioning context data (never used by segment definitions)."""

    schema_id: str


@dataclass(frozen=True)
class XEvent(Node):
    """The profile's experience events (``xEvent``)."""


@dataclass(frozen=True)
class UpRef(Node):
    """``^name`` / ``^^.name``: ``levels`` carets, then a field of that outer scope."""

    levels: int
    name: str


@dataclass(frozen=True)
class FieldLookup(Node):
    target: Expr
    field_name: str


@dataclass(frozen=True)
class Filter(Node):
    """``target[condition]``: the items of ``target`` for which ``condition`` holds."""

    target: Expr
    condition: Expr


# --- operators and calls ---------------------------------------------------------------------


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "not" | "-"
    operand: Expr


@dataclass(frozen=True)
class Binary(Node):
    """Infix operators: ``and or = != < <= > >= + - * / % in notIn like matches``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class MethodCall(Node):
    """``target.method(args)``; the receiver is argument 0 in pql/json."""

    target: Expr
    method: str
    args: tuple[Expr, ...] = ()


@dataclass(frozen=True)
class FunctionCall(Node):
    """``name(args)``: ``date``, ``if``, ``inSegment``, ``currentYear`` …"""

    name: str
    args: tuple[Expr, ...] = ()


# --- time --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeRef(Node):
    """A time reference: ``now``/``today``/``yesterday``/``tomorrow`` (``unit`` None) or
    ``this|last|next UNIT``."""

    kind: str
    unit: TimeUnit | None = None


@dataclass(frozen=True)
class Occurs(Node):
    """``target occurs …`` in one of four forms (pql.md §6.2).

    ``form`` is ``"relative"`` (``CMP N UNIT DIR REF``), ``"direction"`` (``DIR REF``),
    ``"on"`` (``[on] REF``) or ``"between"`` (``between REF and REF2``).
    """

    target: Expr
    form: str
    anchor: Expr
    comparator: str | None = None
    amount: int | None = None
    unit: TimeUnit | None = None
    direction: str | None = None  # "before" | "after" | "from"
    anchor2: Expr | None = None


# --- binding constructs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding(Node):
    """``VAR from SOURCE [where CONDITION]``."""

    var: str
    source: Expr
    condition: Expr | None = None


@dataclass(frozen=True)
class Select(Node):
    bindings: tuple[Binding, ...]


@dataclass(frozen=True)
class Quantified(Node):
    """``exists``/``some``/``forall`` V from ARR where COND, …"""

    quantifier: str
    bindings: tuple[Binding, ...]


@dataclass(frozen=True)
class Aggregate(Node):
    """Legacy ``sum|average|min|max VALUE over BINDINGS`` (``value`` None for the short form)."""

    function: str
    value: Expr | None
    bindings: tuple[Binding, ...]


@dataclass(frozen=True)
class Let(Node):
    name: str
    value: Expr
    body: Expr


@dataclass(frozen=True)
class Lambda(Node):
    params: tuple[str, ...]
    body: Expr


@dataclass(frozen=True)
class ChainStep(Node):
    label: str
    what: Expr
    when: Occurs | None = None  # target is the chain's timestamp field
    where: Expr | None = None
    count: int | None = None


@dataclass(frozen=True)
class Chain(Node):
    events: Expr
    timestamp_field: str
    steps: tuple[ChainStep, ...]


Expr: TypeAlias = (
    Literal
    | ListLiteral
    | ObjectLiteral
    | Name
    | ParamRef
    | ImplicitScope
    | VarRef
    | ContextRef
    | XEvent
    | UpRef
    | FieldLookup
    | Filter
    | Unary
    | Binary
    | MethodCall
    | FunctionCall
    | TimeRef
    | Occurs
    | Select
    | Quantified
    | Aggregate
    | Let
    | Lambda
    | Chain
)
