"""The base PQL → sqlglot compiler: one ``visit_<Node>`` per supported construct.

A node class without a ``visit_`` method, or a construct a method does not handle, raises
``PQLUnsupportedError`` naming the construct and the engine, so a job is rejected before it runs.
The SQL matches :mod:`segmint.engine.interpreter.runtime` exactly: every predicate is wrapped in
``COALESCE(…, FALSE)`` (PQL predicates are never null, so ``NOT`` sees the coerced value), ``/``
and ``%`` divide by ``NULLIF(…, 0)``, and time windows are literal bounds from
:func:`segmint.engine.timewindows.occurs_bounds`. Event sub-expressions (``select … from xEvent``,
``xEvent.count()``) are delegated to an :class:`EventCounts` strategy: correlated subqueries for a
single expression, shared ``COUNT(*) FILTER`` columns for the planner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar, Protocol, TypeVar

from sqlglot import exp

from segmint.engine.interpreter.runtime import STRING_METHODS, logical_operands, unsupported
from segmint.engine.timewindows import Interval, occurs_bounds, utc_naive
from segmint.pql.ast import (
    Binary,
    Chain,
    Expr,
    FieldLookup,
    FunctionCall,
    ImplicitScope,
    ListLiteral,
    Literal,
    LiteralKind,
    MethodCall,
    Occurs,
    Select,
    Unary,
    VarRef,
    XEvent,
)
from segmint.pql.types import (
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    INTEGER,
    STRING,
    ArrayType,
    ObjectType,
    PQLType,
    ScalarKind,
    ScalarType,
)
from segmint.xdm.arrow import PROFILE_ID_COLUMN

D = TypeVar("D", bound=date)

_LITERAL_TYPES: dict[LiteralKind, PQLType] = {
    LiteralKind.STRING: STRING,
    LiteralKind.INTEGER: INTEGER,
    LiteralKind.DOUBLE: DOUBLE,
    LiteralKind.BOOLEAN: BOOLEAN,
    LiteralKind.DATE: DATE,
    LiteralKind.DATETIME: DATETIME,
}
_PREDICATE_OPERATORS = frozenset(
    {"and", "or", "=", "!=", "<", "<=", ">", ">=", "in", "notIn", "like", "matches"}
)
_PREDICATE_METHODS = frozenset({*STRING_METHODS, "isNull", "isNotNull", "matches"})


class EventSource(Protocol):
    """How a compiler reads "the events of this profile": aggregates over the events where a
    condition holds, and the events themselves as a list ordered by timestamp."""

    def aggregate(
        self, function: str, value: exp.Expr | None, condition: exp.Expr | None
    ) -> exp.Expr:
        """``count`` (never null; ``value`` None), ``sum`` (0 when nothing), ``average``/
        ``min``/``max`` (null when nothing) of ``value`` over the events where ``condition``
        holds (all of them when None)."""
        ...

    def events(self, condition: exp.Expr | None, fields: EventFields | None = None) -> exp.Expr:
        """The list of the profile's events (structs) where ``condition`` holds, ordered by
        timestamp (nulls last), ties in lake order; an empty list when there are none. With
        ``fields``, the structs hold only those fields (or values computed from the event)."""
        ...


EventCounts = EventSource  # the name earlier callers used


EVENT_ORDER_FIELD = "timestamp"


def event_aggregate(function: str, value: exp.Expr | None, condition: exp.Expr | None) -> exp.Expr:
    """``COUNT(*)``/``SUM(v)``/… with ``FILTER (WHERE condition)``: never ``SUM(CASE …)``."""
    builders: dict[str, Callable[[exp.Expr], exp.Expr]] = {
        "sum": lambda v: exp.Sum(this=v),
        "average": lambda v: exp.Avg(this=v),
        "min": lambda v: exp.Min(this=v),
        "max": lambda v: exp.Max(this=v),
    }
    aggregate = exp.Count(this=exp.Star()) if value is None else builders[function](value)
    if condition is None:
        return aggregate
    return exp.Filter(this=aggregate, expression=exp.Where(this=as_filter(condition)))


def aggregate_default(function: str, aggregate: exp.Expr) -> exp.Expr:
    """What an aggregate of no events is in PQL: 0 for count and sum, else null."""
    if function in ("count", "sum"):
        return exp.Coalesce(this=aggregate, expressions=[exp.Literal.number(0)])
    return aggregate


EventFields = frozenset[str] | tuple[tuple[str, exp.Expr], ...]


def item_fields(alias: str, fields: EventFields) -> list[tuple[str, exp.Expr]]:
    """The (name, value) pairs of an event list's items: event fields by name, or values
    computed from the event row."""
    if isinstance(fields, frozenset):
        return [(name, exp.column(name, table=alias, quoted=True)) for name in sorted(fields)]
    return list(fields)


def event_list(
    alias: str,
    condition: exp.Expr | None,
    tiebreak: Sequence[str] = (),
    fields: EventFields | None = None,
) -> exp.Expr:
    """``LIST(e ORDER BY e.timestamp NULLS LAST, tiebreak…) FILTER (WHERE condition)``; with
    ``fields``, each item is a struct of only those fields instead of the whole row."""
    keys = [
        exp.Ordered(this=exp.column(EVENT_ORDER_FIELD, table=alias, quoted=True), nulls_first=False)
    ]
    keys += [
        exp.Ordered(this=exp.column(name, table=alias, quoted=True), nulls_first=False)
        for name in tiebreak
    ]
    item: exp.Expr = exp.column(alias, quoted=True)
    if fields is not None:
        item = exp.Struct(
            expressions=[
                exp.PropertyEQ(this=exp.to_identifier(name, quoted=True), expression=value)
                for name, value in item_fields(alias, fields)
            ]
        )
    computed = isinstance(fields, tuple) and fields[0][0] == EVENT_ORDER_FIELD and not tiebreak
    listed: exp.Expr = exp.ArrayAgg(
        this=item if computed else exp.Order(this=item, expressions=keys)
    )
    if condition is not None:
        listed = exp.Filter(this=listed, expression=exp.Where(this=as_filter(condition)))
    if computed:
        # Items led by the timestamp sort after grouping: DuckDB's LIST(… ORDER BY …) costs
        # about twice as much as LIST and LIST_SORT.
        return exp.Anonymous(this="LIST_SORT", expressions=[listed])
    return listed


class CorrelatedEventCounts:
    """Each event aggregate as its own correlated subquery over the events table."""

    def __init__(self, events: exp.Expr, compiler: type[Compiler]) -> None:
        self.events_table = events
        self.compiler = compiler

    def _subquery(self, selected: exp.Expr, condition: exp.Expr | None) -> exp.Expr:
        c = self.compiler
        same_profile = exp.EQ(
            this=exp.column(PROFILE_ID_COLUMN, table=c.EVENT_ALIAS, quoted=True),
            expression=exp.column(PROFILE_ID_COLUMN, table=c.PROFILE_ALIAS, quoted=True),
        )
        where = same_profile if condition is None else exp.and_(same_profile, as_filter(condition))
        query = exp.select(selected).from_(aliased(self.events_table, c.EVENT_ALIAS)).where(where)
        return exp.Subquery(this=query)

    def count(self, condition: exp.Expr | None) -> exp.Expr:
        return self.aggregate("count", None, condition)

    def aggregate(
        self, function: str, value: exp.Expr | None, condition: exp.Expr | None
    ) -> exp.Expr:
        selected = event_aggregate(function, value, None)
        subquery = self._subquery(selected, condition)
        return subquery if function == "count" else aggregate_default(function, subquery)

    def events(self, condition: exp.Expr | None, fields: EventFields | None = None) -> exp.Expr:
        listed = self.compiler.event_list_aggregate(self.compiler.EVENT_ALIAS, None, (), fields)
        return or_empty_list(self._subquery(listed, condition))


def or_empty_list(value: exp.Expr) -> exp.Expr:
    """``COALESCE(list, [])``: no events is an empty list, not null."""
    return exp.Coalesce(this=value, expressions=[exp.Array(expressions=[])])


def aliased(source: exp.Expr, alias: str) -> exp.Expr:
    """``source AS "alias"`` in a FROM clause (a table name or a table function)."""
    table = source.copy() if isinstance(source, exp.Table) else exp.Table(this=source.copy())
    table.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
    return table


def paren(node: exp.Expr) -> exp.Expr:
    """Parenthesise composite operands: sqlglot trees built by hand carry no precedence."""
    composite = isinstance(node, exp.Binary | exp.Unary | exp.Predicate)
    return exp.Paren(this=node) if composite and not isinstance(node, exp.Dot | exp.Paren) else node


def temporal_literal(value: date) -> exp.Expr:
    """A DATE literal, or a TIMESTAMP literal (naive UTC, microseconds) for a datetime."""
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ", timespec="microseconds")
        return exp.cast(exp.Literal.string(text), exp.DataType.Type.TIMESTAMP)
    return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)


def connect(connector: type[exp.And | exp.Or], left: exp.Expr, right: exp.Expr) -> exp.Expr:
    """``left AND right`` / ``left OR right``; only a nested AND/OR needs parentheses."""

    def operand(node: exp.Expr) -> exp.Expr:
        return exp.Paren(this=node) if isinstance(node, exp.Connector) else node

    return connector(this=operand(left), expression=operand(right))


def balanced(connector: type[exp.And | exp.Or], terms: Sequence[exp.Expr]) -> exp.Expr:
    """``terms`` joined by AND/OR as a balanced tree, depth ⌈log2 n⌉: neighbours are paired
    level by level in a loop. sqlglot's generator and DuckDB's parser recurse into nested
    operands, so a chain of thousands of terms must not be a deep left spine. Two or three terms
    give the same tree as folding left: ``(a OR b) OR c``."""
    if not terms:
        raise ValueError("balanced() needs at least one term")
    level = list(terms)
    while len(level) > 1:
        paired = [connect(connector, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def is_not_null(value: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.Paren(this=exp.Is(this=paren(value), expression=exp.Null())))


def never_null(predicate: exp.Expr) -> exp.Expr:
    """``COALESCE(predicate, FALSE)``: PQL's two-valued predicate from SQL's three values."""
    return exp.Coalesce(this=predicate, expressions=[exp.false()])


def as_filter(predicate: exp.Expr) -> exp.Expr:
    """A never-null predicate for a WHERE/FILTER clause, where NULL already means "no": drop the
    ``COALESCE(…, FALSE)`` wrappers down through AND/OR (never through NOT), so the engine can
    push plain comparisons into the scan."""
    if isinstance(predicate, exp.Coalesce) and _is_false(predicate.expressions):
        return as_filter(predicate.this)
    if isinstance(predicate, exp.Paren):
        return as_filter(predicate.this)
    if isinstance(predicate, exp.And | exp.Or):
        return connect(type(predicate), as_filter(predicate.this), as_filter(predicate.expression))
    return predicate


def _is_false(expressions: list[exp.Expr]) -> bool:
    return len(expressions) == 1 and expressions[0] == exp.false()


class NotAggregable(Exception):
    """Raised while compiling an event condition for a shared aggregate when it reads something
    other than the event (the profile, an outer variable, xEvent again): the caller then uses
    the general list form instead."""


class Row(Protocol):
    """What an implicit scope or a variable stands for while compiling."""

    def field(self, name: str) -> exp.Expr: ...

    def value(self) -> exp.Expr | None: ...


@dataclass(frozen=True)
class TableRow:
    """The current row of a table in FROM (``p`` the profile, ``e`` an event)."""

    alias: str

    def field(self, name: str) -> exp.Expr:
        return exp.column(name, table=self.alias, quoted=True)

    def value(self) -> exp.Expr | None:
        return None


@dataclass(frozen=True)
class ValueRow:
    """A SQL value: a lambda parameter, a struct, a ``let`` value."""

    sql: exp.Expr

    def field(self, name: str) -> exp.Expr:
        return struct_field(self.sql, name)

    def value(self) -> exp.Expr | None:
        return self.sql.copy()


class OutOfReach:
    """A scope an event aggregate cannot read (see :class:`NotAggregable`)."""

    def field(self, name: str) -> exp.Expr:
        raise NotAggregable(name)

    def value(self) -> exp.Expr | None:
        raise NotAggregable("value")


def struct_field(value: exp.Expr, name: str) -> exp.Expr:
    """``value."name"``; composite values are parenthesised first."""
    base = value.copy()
    if not isinstance(base, exp.Column | exp.Dot | exp.Bracket | exp.Paren):
        base = exp.Paren(this=base)
    return exp.Dot(this=base, expression=exp.to_identifier(name, quoted=True))


class Compiler:
    """Compiles a checked PQL tree to sqlglot expressions over ``profiles AS p`` (and the
    events aggregate). Subclasses set the dialect and override the few dialect hooks."""

    dialect: ClassVar[str] = ""
    engine: ClassVar[str] = "SQL"
    PROFILE_ALIAS: ClassVar[str] = "p"
    EVENT_ALIAS: ClassVar[str] = "e"
    LIKE_ESCAPE: ClassVar[str] = "\\"

    def __init__(self, now: datetime, events: EventSource) -> None:
        self.now = utc_naive(now)
        self.events = events
        self.rows: list[Row] = [TableRow(self.PROFILE_ALIAS)]
        self.variables: dict[str, Row] = {}
        self.in_isolation = False
        self.event_fields: frozenset[str] | None = None  # what event lists carry (None: all)
        self._fresh = 0

    # --- scopes ---------------------------------------------------------------------------------

    def fresh_name(self) -> str:
        """A lambda parameter name no column can take."""
        self._fresh += 1
        return f"__v{self._fresh}"

    @contextmanager
    def scoped(self, row: Row) -> Iterator[None]:
        """``row`` as the innermost implicit scope."""
        self.rows.append(row)
        try:
            yield
        finally:
            self.rows.pop()

    @contextmanager
    def bound(self, names: Sequence[str], rows: Sequence[Row]) -> Iterator[None]:
        """Variables ``names`` bound to ``rows`` (shadowing, then restoring)."""
        saved = dict(self.variables)
        self.variables.update(zip(names, rows, strict=True))
        try:
            yield
        finally:
            self.variables = saved

    @contextmanager
    def isolated(self) -> Iterator[None]:
        """Everything in scope made out of reach (for a shared event aggregate's condition)."""
        rows, variables = self.rows, self.variables
        self.in_isolation = True
        self.rows = [OutOfReach() for _ in rows]
        self.variables = {name: OutOfReach() for name in variables}
        try:
            yield
        finally:
            self.rows, self.variables = rows, variables
            self.in_isolation = False

    # --- entry points ---------------------------------------------------------------------------

    def visit(self, node: Expr) -> exp.Expr:
        """The SQL value of ``node``."""
        method: Callable[[Expr], exp.Expr] | None = getattr(
            self, f"visit_{type(node).__name__}", None
        )
        if method is None:
            raise self.unsupported(node, _describe(node))
        return method(node)

    def predicate(self, node: Expr) -> exp.Expr:
        """``node`` in a boolean position: a never-null SQL boolean (pql.md §1.4)."""
        value = self.visit(node)
        if is_predicate(node):
            return value
        return self.truth(value, self.type_of(node))

    @classmethod
    def event_list_aggregate(
        cls,
        alias: str,
        condition: exp.Expr | None,
        tiebreak: Sequence[str],
        fields: EventFields | None = None,
    ) -> exp.Expr:
        """The aggregate listing a profile's events in order (a dialect may override)."""
        return event_list(alias, condition, tiebreak, fields)

    def unsupported(self, node: object, what: str) -> Exception:
        return unsupported(node, what, self.engine)

    # --- dialect hooks --------------------------------------------------------------------------

    def truth(self, value: exp.Expr, value_type: PQLType) -> exp.Expr:
        if value_type == BOOLEAN:
            return never_null(value)
        if isinstance(value_type, ArrayType):
            size = exp.ArraySize(this=value)
            return never_null(exp.GT(this=size, expression=exp.Literal.number(0)))
        return is_not_null(value)

    def array_contains(self, array: exp.Expr, item: exp.Expr) -> exp.Expr:
        return exp.ArrayContains(this=array, expression=item)

    def string_test(self, test: str, text: exp.Expr, part: exp.Expr) -> exp.Expr:
        builders: dict[str, Callable[[], exp.Expr]] = {
            "startsWith": lambda: exp.StartsWith(this=text, expression=part),
            "endsWith": lambda: exp.EndsWith(this=text, expression=part),
            "contains": lambda: exp.Contains(this=text, expression=part),
            "equals": lambda: exp.EQ(this=paren(text), expression=paren(part)),
        }
        return builders[test]()

    def like(self, text: exp.Expr, pattern: Expr) -> exp.Expr:
        """PQL patterns have no escape character; SQL gets an explicit one, doubled in the text."""
        escape = exp.Literal.string(self.LIKE_ESCAPE)
        if isinstance(pattern, Literal) and isinstance(pattern.value, str):
            sql_pattern: exp.Expr = exp.Literal.string(
                pattern.value.replace(self.LIKE_ESCAPE, self.LIKE_ESCAPE * 2)
            )
        else:
            sql_pattern = exp.func(
                "REPLACE", self.visit(pattern), escape, exp.Literal.string(self.LIKE_ESCAPE * 2)
            )
        return exp.Escape(
            this=exp.Like(this=paren(text), expression=sql_pattern), expression=escape
        )

    # --- values and references ------------------------------------------------------------------

    def visit_Literal(self, node: Literal) -> exp.Expr:
        value = node.value
        if isinstance(value, bool):
            return exp.Boolean(this=value)
        if isinstance(value, int):
            return exp.Literal.number(value)
        if isinstance(value, float):
            return exp.cast(exp.Literal.string(repr(value)), exp.DataType.Type.DOUBLE)
        if isinstance(value, str):
            return exp.Literal.string(value)
        return self.date_literal(value)

    def date_literal(self, value: date) -> exp.Expr:
        return temporal_literal(value)

    def visit_FieldLookup(self, node: FieldLookup) -> exp.Expr:
        name, target = node.field_name, node.target
        target_type = self.type_of(target)
        if isinstance(target, ImplicitScope) and not isinstance(target_type, ArrayType):
            return self._scope(target, node).field(name)
        if isinstance(target, VarRef) and not isinstance(target_type, ArrayType):
            return self._variable(target).field(name)
        if isinstance(target_type, ObjectType):
            return struct_field(self.visit(target), name)
        if isinstance(target_type, ArrayType):
            return self.projection(node, self.visit(target))
        raise self.unsupported(node, f"the field lookup .{name} on a {target_type} value")

    def projection(self, node: FieldLookup, items: exp.Expr) -> exp.Expr:
        """A field through an array: rules in :mod:`segmint.engine.sql.collections`."""
        raise self.unsupported(node, f"the field lookup .{node.field_name} through an array")

    def _scope(self, node: ImplicitScope, used_at: Expr | None = None) -> Row:
        if not 0 <= node.depth < len(self.rows):
            where = node if node.span is not None or used_at is None else used_at
            raise self.unsupported(where, f"an outer scope {node.depth} levels up")
        return self.rows[-1 - node.depth]

    def _variable(self, node: VarRef) -> Row:
        row = self.variables.get(node.name)
        if row is None:
            raise self.unsupported(node, f"the variable {node.name!r} here")
        return row

    def visit_ImplicitScope(self, node: ImplicitScope) -> exp.Expr:
        value = self._scope(node).value()
        if value is None:
            raise self.unsupported(node, "the profile or an event as a whole value")
        return value

    def visit_VarRef(self, node: VarRef) -> exp.Expr:
        value = self._variable(node).value()
        if value is None:
            raise self.unsupported(node, f"the variable {node.name!r} as a whole value")
        return value

    def visit_FunctionCall(self, node: FunctionCall) -> exp.Expr:
        """Dispatch to ``function_<name>`` (a dialect or a rules mixin may add one)."""
        rule: Callable[[FunctionCall], exp.Expr] | None = getattr(
            self, f"function_{node.name}", None
        )
        if rule is None:
            raise self.unsupported(node, f"the function {node.name}()")
        return rule(node)

    def function_currentYear(self, node: FunctionCall) -> exp.Expr:
        return self._current_part(node, self.now.year)

    def function_currentMonth(self, node: FunctionCall) -> exp.Expr:
        return self._current_part(node, self.now.month)

    def function_currentDayOfMonth(self, node: FunctionCall) -> exp.Expr:
        return self._current_part(node, self.now.day)

    def _current_part(self, node: FunctionCall, value: int) -> exp.Expr:
        if node.args:
            raise self.unsupported(node, f"{node.name}() with arguments")
        return exp.Literal.number(value)

    # --- operators ------------------------------------------------------------------------------

    COMPARISONS: ClassVar[dict[str, type[exp.Binary]]] = {
        "=": exp.EQ,
        "!=": exp.NEQ,
        "<": exp.LT,
        "<=": exp.LTE,
        ">": exp.GT,
        ">=": exp.GTE,
    }
    ARITHMETIC: ClassVar[dict[str, type[exp.Binary]]] = {
        "+": exp.Add,
        "-": exp.Sub,
        "*": exp.Mul,
    }

    def visit_Unary(self, node: Unary) -> exp.Expr:
        if node.op == "not":
            return exp.Not(this=paren(self.predicate(node.operand)))
        if node.op == "-":
            self._require_scalar(node.operand, "unary minus")
            return exp.Neg(this=exp.Paren(this=self.visit(node.operand)))
        raise self.unsupported(node, f"the operator {node.op!r}")

    def visit_Binary(self, node: Binary) -> exp.Expr:
        op = node.op
        if op in ("and", "or"):
            connector = exp.And if op == "and" else exp.Or
            terms = [self.predicate(operand) for operand in logical_operands(node)]
            return balanced(connector, terms)
        if op in self.COMPARISONS:
            return self._comparison(node)
        if op in self.ARITHMETIC or op in ("/", "%"):
            return self._arithmetic(node)
        if op in ("in", "notIn"):
            return self._membership(node)
        if op == "like":
            if not projected(node.left):
                self._require_scalar(node.left, "like")
            self._require_scalar(node.right, "like")
            return self.lifted([node.left], lambda text: never_null(self.like(text, node.right)))
        raise self.unsupported(node, f"the operator {op!r}")

    def _comparison(self, node: Binary) -> exp.Expr:
        for operand in (node.left, node.right):
            # `=`/`!=` compare whole arrays and objects; a projection is compared item-wise.
            if not projected(operand) and node.op not in ("=", "!="):
                self._require_scalar(operand, f"{node.op!r} on this operand")
        comparison = self.COMPARISONS[node.op]

        def build(left: exp.Expr, right: exp.Expr) -> exp.Expr:
            return never_null(comparison(this=paren(left), expression=paren(right)))

        return self.lifted([node.left, node.right], build)

    def lifted(self, operands: Sequence[Expr], build: Callable[..., exp.Expr]) -> exp.Expr:
        """``build`` over the operands' values, existential over the projected ones (§4.2):
        true iff some choice of one item from each projected array satisfies it."""
        values = [self.visit(operand) for operand in operands]
        flags = [projected(operand) for operand in operands]
        return self._lift(values, flags, [], build)

    def _lift(
        self,
        values: list[exp.Expr],
        flags: list[bool],
        chosen: list[exp.Expr],
        build: Callable[..., exp.Expr],
    ) -> exp.Expr:
        index = len(chosen)
        if index == len(values):
            return build(*chosen)
        if not flags[index]:
            return self._lift(values, flags, [*chosen, values[index]], build)
        name = self.fresh_name()
        body = self._lift(values, flags, [*chosen, exp.column(name, quoted=True)], build)
        return self.any_item(values[index], name, body)

    def any_item(self, items: exp.Expr, name: str, condition: exp.Expr) -> exp.Expr:
        """Whether some item of the list ``items`` (as ``name``) satisfies ``condition``."""
        matching = self.list_filter(items, self.lambda_([name], condition))
        return never_null(exp.GT(this=self.list_size(matching), expression=exp.Literal.number(0)))

    # --- list primitives (dialect hooks) --------------------------------------------------------

    def lambda_(self, names: Sequence[str], body: exp.Expr) -> exp.Expr:
        return exp.Lambda(
            this=body, expressions=[exp.to_identifier(name, quoted=True) for name in names]
        )

    def list_filter(self, items: exp.Expr, function: exp.Expr) -> exp.Expr:
        return exp.ArrayFilter(this=items, expression=function)

    def list_transform(self, items: exp.Expr, function: exp.Expr) -> exp.Expr:
        return exp.Transform(this=items, expression=function)

    def list_size(self, items: exp.Expr) -> exp.Expr:
        """The number of items; null for a null list."""
        return exp.ArraySize(this=items)

    def _arithmetic(self, node: Binary) -> exp.Expr:
        if node.op == "/":
            numerator = self._number(node.left, as_double=True)
            denominator = self._number(node.right, as_double=True)
            return exp.Div(this=numerator, expression=_nullif_zero(denominator))
        left, right = self._number(node.left), self._number(node.right)
        if node.op == "%":
            return exp.Mod(this=paren(left), expression=_nullif_zero(right))
        return self.ARITHMETIC[node.op](this=paren(left), expression=paren(right))

    def _number(self, node: Expr, as_double: bool = False) -> exp.Expr:
        """An arithmetic operand. Integer constants widen to BIGINT like the lake's integers (a
        literal is INTEGER in DuckDB and would overflow at 2^31); ``/`` casts both to DOUBLE."""
        value_type = self._require_scalar(node, "arithmetic")
        if value_type.kind not in (ScalarKind.INTEGER, ScalarKind.DOUBLE):
            raise self.unsupported(node, f"arithmetic on {value_type}")
        value = self.visit(node)
        if as_double:
            return exp.cast(value, exp.DataType.Type.DOUBLE)
        if value_type == INTEGER and not isinstance(value, exp.Column | exp.Dot | exp.Coalesce):
            return exp.cast(value, exp.DataType.Type.BIGINT)
        return value

    def _membership(self, node: Binary) -> exp.Expr:
        left_type = self.type_of(node.left)
        if not projected(node.left):
            self._require_scalar(node.left, f"{node.op} on this operand")
        elif not isinstance(left_type, ArrayType):
            raise self.unsupported(node.left, f"{node.op} on this operand")
        items = node.right
        if isinstance(items, ListLiteral) and not items.items:
            # `v in []` is false; `v notIn []` holds for any present v.
            if node.op == "in":
                return exp.false()
            return self.lifted([node.left], lambda value: is_not_null(value))
        if isinstance(items, ListLiteral) and all(_is_constant(item) for item in items.items):
            constants = [self.visit(item) for item in items.items]

            def test(value: exp.Expr) -> exp.Expr:
                return exp.In(this=paren(value), expressions=[c.copy() for c in constants])

        elif isinstance(self.type_of(items), ArrayType):
            array = self.visit(items)

            def test(value: exp.Expr) -> exp.Expr:
                return self.array_contains(array.copy(), value)

        else:
            raise self.unsupported(items, f"{node.op} against anything but a list or array")

        def build(value: exp.Expr) -> exp.Expr:
            found = test(value)
            if node.op == "notIn":
                found = exp.Not(this=paren(found))
            return never_null(found)

        return self.lifted([node.left], build)

    # --- methods --------------------------------------------------------------------------------

    def visit_MethodCall(self, node: MethodCall) -> exp.Expr:
        """Dispatch to ``method_<name>`` (a dialect or a rules mixin may add one)."""
        if node.method in STRING_METHODS:
            return self._string_method(node)
        rule: Callable[[MethodCall], exp.Expr] | None = getattr(self, f"method_{node.method}", None)
        if rule is None:
            raise self.unsupported(node, f"the method {node.method}()")
        return rule(node)

    def method_isNull(self, node: MethodCall) -> exp.Expr:
        return self._null_test(node)

    def method_isNotNull(self, node: MethodCall) -> exp.Expr:
        return self._null_test(node)

    def _null_test(self, node: MethodCall) -> exp.Expr:
        if node.args:
            raise self.unsupported(node, f"{node.method}() with arguments")
        is_null = exp.Is(this=paren(self._nullable(node.target)), expression=exp.Null())
        return is_null if node.method == "isNull" else exp.Not(this=exp.Paren(this=is_null))

    def method_count(self, node: MethodCall) -> exp.Expr:
        if node.args:
            raise self.unsupported(node, "count() with arguments")
        return self.count_of(node.target, node)

    def _nullable(self, node: Expr) -> exp.Expr:
        if isinstance(node, Select | XEvent):
            raise self.unsupported(node, "isNull()/isNotNull() on events")
        return self.visit(node)

    def _string_method(self, node: MethodCall) -> exp.Expr:
        if len(node.args) not in (1, 2):
            raise self.unsupported(node, f"{node.method}() with {len(node.args)} arguments")
        for operand in (node.target, node.args[0]):
            if not projected(operand):
                self._require_scalar(operand, f"{node.method}() on this operand")
        case_sensitive = self._case_sensitive(node)
        test, negated = STRING_METHODS[node.method]

        def build(text: exp.Expr, part: exp.Expr) -> exp.Expr:
            if not case_sensitive:
                text, part = exp.Lower(this=text), exp.Lower(this=part)
            result = self.string_test(test, text, part)
            return never_null(exp.Not(this=paren(result)) if negated else result)

        return self.lifted([node.target, node.args[0]], build)

    def _case_sensitive(self, node: MethodCall) -> bool:
        if len(node.args) < 2:
            return True
        flag = node.args[1]
        if isinstance(flag, Literal) and isinstance(flag.value, bool):
            return flag.value
        raise self.unsupported(flag, "a case-sensitivity flag that is not true/false")

    # --- events and collections: rules in segmint.engine.sql.collections -----------------------

    def count_of(self, target: Expr, call: Expr | None = None) -> exp.Expr:
        raise self.unsupported(call or target, "count() of this value")

    # --- time -----------------------------------------------------------------------------------

    def visit_Occurs(self, node: Occurs) -> exp.Expr:
        target_type = self._require_scalar(node.target, "occurs on this value")
        if target_type not in (DATE, DATETIME):
            raise self.unsupported(node.target, f"occurs on a {target_type} value")
        target = paren(self.visit(node.target))
        window = occurs_bounds(node, self.now)
        if target_type == DATE:
            terms = [self._within(target, interval) for interval in window.by_day()]
        else:
            terms = [self._within(target, interval) for interval in window.intervals]
        if not terms:
            return exp.false()
        return never_null(exp.or_(*terms, copy=False) if len(terms) > 1 else terms[0])

    def _within(self, target: exp.Expr, interval: Interval[D]) -> exp.Expr:
        bounds: list[exp.Expr] = []
        if interval.lo is not None:
            lower = exp.GTE if interval.lo_inclusive else exp.GT
            bounds.append(lower(this=target.copy(), expression=self.date_literal(interval.lo)))
        if interval.hi is not None:
            upper = exp.LTE if interval.hi_inclusive else exp.LT
            bounds.append(upper(this=target.copy(), expression=self.date_literal(interval.hi)))
        if not bounds:
            return is_not_null(target)
        return exp.and_(*bounds, copy=False) if len(bounds) > 1 else bounds[0]

    # --- types ----------------------------------------------------------------------------------

    def type_of(self, node: Expr) -> PQLType:
        if node.type is not None:
            return node.type
        if isinstance(node, Literal):
            return _LITERAL_TYPES[node.kind]
        if is_predicate(node):
            return BOOLEAN
        raise TypeError(f"{_describe(node)} has no type: compile trees from segmint.pql.check")

    def _require_scalar(self, node: Expr, what: str) -> ScalarType:
        value_type = self.type_of(node)
        if not isinstance(value_type, ScalarType):
            raise self.unsupported(node, f"{what} ({value_type})")
        return value_type


def is_predicate(node: Expr) -> bool:
    """Whether ``node`` compiles to a never-null boolean (predicates, and/or/not, occurs)."""
    if isinstance(node, Binary):
        return node.op in _PREDICATE_OPERATORS
    if isinstance(node, Unary):
        return node.op == "not"
    if isinstance(node, MethodCall):
        return node.method in _PREDICATE_METHODS
    return isinstance(node, Occurs | Chain)


def projected(node: Expr) -> bool:
    """Whether ``node`` is a projected array: predicates over it are existential (§4.2)."""
    node_type = node.type
    return isinstance(node_type, ArrayType) and node_type.projected


def _is_constant(item: Expr) -> bool:
    literal = item.operand if isinstance(item, Unary) and item.op == "-" else item
    return isinstance(literal, Literal)


def _nullif_zero(value: exp.Expr) -> exp.Expr:
    return exp.Nullif(this=value, expression=exp.Literal.number(0))


def _describe(node: object) -> str:
    names = {
        "Chain": "chain(...)",
        "Filter": "a bracket filter [...]",
        "Quantified": "exists/forall",
        "Aggregate": "sum/average/min/max … over",
        "Let": "let",
        "Lambda": "a lambda",
        "ObjectLiteral": "an object literal",
        "UpRef": "the up operator ^",
        "TimeRef": "a time reference outside occurs",
        "XEvent": "xEvent used as a value",
        "ListLiteral": "a list outside in/notIn",
        "Name": "an unresolved name (check the expression first)",
        "ImplicitScope": "the profile as a value",
        "VarRef": "an event variable as a value",
        "ContextRef": "a context-data reference @{…}",
        "ParamRef": "the profile as a value",
    }
    return names.get(type(node).__name__, type(node).__name__)
