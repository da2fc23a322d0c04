"""Shared machinery of the PQL checker: the environment, error reporting, literal coercion
(pql.md §1.7) and the type relations the rules use."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeAlias

from segmint.pql import ast
from segmint.pql.errors import PQLError, PQLTypeError
from segmint.pql.lexer import SourceMap
from segmint.pql.types import (
    ANY,
    DOUBLE,
    INTEGER,
    ArrayType,
    FunctionType,
    MapType,
    ObjectType,
    PQLType,
    ScalarKind,
    ScalarType,
    Schema,
    is_numeric,
    is_temporal,
)

INTEGER_TEXT = re.compile(r"[+-]?\d+")
DOUBLE_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Env:
    """What a sub-expression sees (pql.md §4.5, §12.0).

    ``scopes`` is the stack of implicit objects, the profile first: ``ImplicitScope(d)`` is
    ``scopes[-1 - d]``. ``variables`` are the lexical variables in scope; ``declared_later``
    the names bound further right in the construct being checked (used before declaration).
    ``profile_fallback`` is set in a chain step's ``WHERE``: unknown names fall back to the
    profile.
    """

    scopes: tuple[PQLType, ...]
    variables: Mapping[str, PQLType] = field(default_factory=dict)
    declared_later: frozenset[str] = frozenset()
    profile_fallback: bool = False

    @property
    def profile_depth(self) -> int:
        """How many ``^`` lead from the innermost scope to the profile."""
        return len(self.scopes) - 1

    def scope(self, depth: int) -> PQLType | None:
        return self.scopes[-1 - depth] if 0 <= depth < len(self.scopes) else None

    def bind(self, name: str, type_: PQLType) -> Env:
        variables = {**self.variables, name: type_}
        return replace(self, variables=variables, declared_later=self.declared_later - {name})

    def push(self, item: PQLType) -> Env:
        """A new innermost implicit scope (a filter, an item-relative argument, a chain step)."""
        return replace(self, scopes=(*self.scopes, item), profile_fallback=False)

    def later(self, names: Iterable[str]) -> Env:
        return replace(self, declared_later=self.declared_later | frozenset(names))


Rule: TypeAlias = Callable[[Any, Any, Env], ast.Expr]


def type_of(node: ast.Node) -> PQLType:
    assert node.type is not None, "checked nodes are typed"
    return node.type


def is_projected(type_: PQLType) -> bool:
    return isinstance(type_, ArrayType) and type_.projected


def element(type_: PQLType) -> PQLType:
    """The type a predicate sees: the item type of a projected array (existential, §4.2)."""
    return type_.item if isinstance(type_, ArrayType) and type_.projected else type_


def is_kind(type_: PQLType, kind: ScalarKind) -> bool:
    return type_ == ANY or (isinstance(type_, ScalarType) and type_.kind is kind)


def is_number(type_: PQLType) -> bool:
    return type_ == ANY or is_numeric(type_)


def is_function(type_: PQLType) -> bool:
    return isinstance(type_, FunctionType)


def result_of(node: ast.Expr) -> PQLType:
    """The type an item-relative argument yields per item (a lambda's body type)."""
    type_ = type_of(node)
    return type_.result if isinstance(type_, FunctionType) else type_


def comparable(left: PQLType, right: PQLType) -> bool:
    """Whether ``=``/``!=``/``in`` may compare values of these types."""
    if is_function(left) or is_function(right):
        return False
    if ANY in (left, right):
        return True
    if isinstance(left, ScalarType) and isinstance(right, ScalarType):
        return (
            left.kind == right.kind
            or (is_numeric(left) and is_numeric(right))
            or (is_temporal(left) and is_temporal(right))
        )
    if isinstance(left, ArrayType) and isinstance(right, ArrayType):
        return comparable(left.item, right.item)
    if isinstance(left, MapType) and isinstance(right, MapType):
        return comparable(left.value, right.value)
    if isinstance(left, ObjectType) and isinstance(right, ObjectType):
        # Tuples and object literals share a name: their fields must match too.
        same_fields = left.fields.keys() == right.fields.keys()
        return type(left) is type(right) and left.name == right.name and same_fields
    return False


def ordered(left: PQLType, right: PQLType) -> bool:
    """Whether ``<``/``<=``/``>``/``>=`` may compare values of these types."""
    if ANY in (left, right):
        return not (is_function(left) or is_function(right))
    return (
        (is_numeric(left) and is_numeric(right))
        or (is_kind(left, ScalarKind.STRING) and is_kind(right, ScalarKind.STRING))
        or (is_temporal(left) and is_temporal(right))
    )


def sortable(type_: PQLType) -> bool:
    """Whether values of ``type_`` have an order (``topN``, ``min``, ``max``)."""
    return ordered(type_, type_)


def widen(current: PQLType, new: PQLType) -> PQLType:
    """The type of a list holding ``current`` items and now a ``new`` one."""
    if current == ANY:
        return new
    if is_numeric(current) and is_numeric(new) and current != new:
        return DOUBLE
    return current


def unify(left: PQLType, right: PQLType) -> PQLType | None:
    """The common type of two values (the branches of ``if``), or None."""
    if not comparable(left, right):
        return None
    if left == ANY:
        return right
    return widen(left, right)


def suggest(name: str, candidates: Sequence[str]) -> str:
    same_case = [c for c in candidates if c.lower() == name.lower()]
    close = same_case + difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    matches = list(dict.fromkeys(close))[:3]
    return f"; did you mean {' or '.join(f'`{m}`' for m in matches)}?" if matches else ""


class CheckerBase:
    """State, error reporting and dispatch shared by the rule mix-ins of the checker."""

    _VALUE_RULES: ClassVar[dict[type, Rule]] = {}

    def __init__(self, schema: Schema, source: str) -> None:
        self._schema = schema
        self._source = source
        self._source_map = SourceMap(source) if source else None

    # --- positions -----------------------------------------------------------------------------

    def value(self, node: ast.Expr, env: Env) -> ast.Expr:
        """``node`` resolved and typed in ``env``."""
        return self._VALUE_RULES[type(node)](self, node, env)

    def condition(self, node: ast.Expr, env: Env) -> ast.Expr:
        """A boolean position (§1.4): a value of any type, coerced by truthiness."""
        return self.value(node, env)

    def item_relative(self, node: ast.Expr, item: PQLType, env: Env) -> ast.Expr:
        """An item-relative argument: a one-parameter lambda, or an expression checked with
        the item as the innermost implicit scope."""
        if isinstance(node, ast.Lambda):
            return self.lambda_argument(node, (item,), env)
        return self.value(node, env.push(item))

    def lambda_argument(
        self, node: ast.Lambda, params: tuple[PQLType, ...], env: Env
    ) -> ast.Lambda:
        """A lambda passed to a method; ``params`` are the types the method passes."""
        if len(node.params) != len(params):
            message = (
                f"this lambda takes {len(node.params)} parameter"
                f"{'' if len(node.params) == 1 else 's'} but is given {len(params)}"
            )
            raise self.fail(PQLTypeError, message, node)
        self.distinct_names(node.params, node, "lambda parameter")
        inner = env
        for name, type_ in zip(node.params, params, strict=True):
            inner = inner.bind(name, type_)
        body = self.value(node.body, inner)
        return replace(node, body=body, type=FunctionType.of(params, type_of(body)))

    def aggregate_type(self, function: str, value: PQLType, where: ast.Node) -> PQLType:
        """The result of ``sum``/``average``/``min``/``max`` over values of type ``value``:
        numbers (``min``/``max`` also strings and dates)."""
        if function in ("min", "max") and sortable(value):
            return value
        if not is_number(value):
            message = f"`{function}` needs numbers; got {value}"
            raise self.fail(PQLTypeError, message, where)
        if function == "average":
            return DOUBLE
        if function == "sum" and value != ANY:
            return INTEGER if value == INTEGER else DOUBLE
        return value

    def distinct_names(self, names: Sequence[str], node: ast.Node, what: str) -> None:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise self.fail(PQLTypeError, f"the {what} `{name}` is declared twice", node)
            seen.add(name)

    # --- errors --------------------------------------------------------------------------------

    def fail(
        self, error: type[PQLError], message: str, where: ast.Node | ast.Span | None
    ) -> PQLError:
        span = where.span if isinstance(where, ast.Node) else where
        if span is None:
            return error(message, source=self._source)
        length = span.end - span.start
        return error(
            message, source=self._source, line=span.line, column=span.column, length=length
        )

    def span_at(self, offset: int, length: int, near: ast.Span | None) -> ast.Span | None:
        """``length`` characters at ``offset``; without the source, assume ``near``'s line."""
        if near is None:
            return None
        if self._source_map is None:
            line, column = near.line, near.column + offset - near.start
        else:
            line, column = self._source_map.locate(offset)
        return ast.Span(offset, offset + length, line, column)

    def word_span(self, word: str, after: int, near: ast.Span | None) -> ast.Span | None:
        """Where ``word`` first appears at or after ``after`` (``near`` without the source)."""
        found = self._source.find(word, after) if self._source and near is not None else -1
        if found < 0:
            return near
        return self.span_at(found, len(word), near)

    def field_span(self, node: ast.FieldLookup) -> ast.Span | None:
        if node.span is None:
            return None
        name = node.field_name
        return self.span_at(node.span.end - len(name), len(name), node.span)

    # --- literal coercion (§1.7) ---------------------------------------------------------------

    def coerce(self, node: ast.Expr, target: PQLType) -> ast.Expr:
        """A string literal ``node`` as a literal of ``target``'s scalar type, if it has one;
        any other node unchanged."""
        if not (isinstance(node, ast.Literal) and isinstance(node.value, str)):
            return node
        if node.kind is not ast.LiteralKind.STRING:
            return node
        if not isinstance(target, ScalarType) or target.kind not in COERCIONS:
            return node
        parse_value, kind, expected = COERCIONS[target.kind]
        value = parse_value(node.value)
        if value is None:
            message = f'cannot use "{node.value}" as a {target}: expected {expected}'
            raise self.fail(PQLTypeError, message, node)
        return ast.Literal(value, kind, span=node.span, type=target)

    def typed_list(
        self, node: ast.ListLiteral, items: tuple[ast.Expr, ...], item_type: PQLType = ANY
    ) -> ast.ListLiteral:
        """``node`` with checked ``items``; all of one type (numbers widen to double)."""
        for item in items:
            if not comparable(item_type, type_of(item)):
                message = f"a list cannot mix {item_type} and {type_of(item)} items"
                raise self.fail(PQLTypeError, message, item)
            item_type = widen(item_type, type_of(item))
        return replace(node, items=items, type=ArrayType(item_type))

    def list_against(self, node: ast.ListLiteral, item: PQLType, env: Env) -> ast.ListLiteral:
        """A list literal meeting values of type ``item``: string items coerced to it."""
        items = tuple(self.coerce(self.value(entry, env), item) for entry in node.items)
        return self.typed_list(node, items)

    def array_argument(self, node: ast.Expr, item: PQLType, env: Env) -> ast.Expr:
        """An argument that must be an array comparable with items of type ``item``."""
        if isinstance(node, ast.ListLiteral):
            return self.list_against(node, item, env)
        return self.value(node, env)


def _parse_boolean(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.strip().lower())


def _parse_integer(text: str) -> int | None:
    return int(text) if INTEGER_TEXT.fullmatch(text.strip()) else None


def _parse_double(text: str) -> float | None:
    if not DOUBLE_TEXT.fullmatch(text.strip()):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _parse_date(text: str) -> date | None:
    if not DATE_TEXT.fullmatch(text.strip()):
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _parse_datetime(text: str) -> datetime | None:
    """An ISO-8601 date or date-time as a naive UTC ``datetime`` (no offset means UTC)."""
    if not DATE_TEXT.match(text.strip()):
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


COERCIONS: dict[ScalarKind, tuple[Callable[[str], Any], ast.LiteralKind, str]] = {
    ScalarKind.BOOLEAN: (_parse_boolean, ast.LiteralKind.BOOLEAN, '"true" or "false"'),
    ScalarKind.INTEGER: (_parse_integer, ast.LiteralKind.INTEGER, "a whole number"),
    ScalarKind.DOUBLE: (_parse_double, ast.LiteralKind.DOUBLE, "a number"),
    ScalarKind.DATE: (_parse_date, ast.LiteralKind.DATE, "an ISO-8601 date like 2020-03-14"),
    ScalarKind.DATETIME: (
        _parse_datetime,
        ast.LiteralKind.DATETIME,
        "an ISO-8601 date-time like 2020-03-14T10:00:00Z",
    ),
}
