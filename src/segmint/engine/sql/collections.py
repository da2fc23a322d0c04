"""Collections in SQL: arrays, maps, objects, events, bindings (pql.md §4, §7.5-7.13).

Arrays are SQL lists; item-relative arguments become lambdas over a fresh parameter. The
events of a profile are used in two forms:

* **shared aggregates** — ``xEvent`` (or a filter/select over it) counted, summed, averaged,
  tested with ``exists``/``forall`` under a condition that reads only the event becomes one
  ``agg(…) FILTER (WHERE …)`` column of the grouped pass over the events table, shared by every
  segment of the job (see :meth:`EventSource.aggregate`);
* **the event list** — anything else (conditions reading the profile or another event, nested
  selects, ``topN``, ``head``…) reads the profile's events as a list of structs ordered by
  timestamp and evaluates the general list form. A condition that reads only the event still
  filters that list inside the grouped pass.

Null rules follow :mod:`segmint.engine.interpreter.runtime`: the count of a null array is 0,
``sum`` of nothing is 0 and the other aggregates null, a null item is never a member.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlglot import exp

from segmint.engine.sql.compiler import (
    Compiler,
    EventSource,
    NotAggregable,
    Row,
    TableRow,
    ValueRow,
    never_null,
    paren,
)
from segmint.engine.sql.fields import event_fields_used
from segmint.pql.ast import (
    Aggregate,
    Binding,
    Expr,
    FieldLookup,
    Filter,
    FunctionCall,
    Lambda,
    Let,
    ListLiteral,
    Literal,
    MethodCall,
    ObjectLiteral,
    Quantified,
    Select,
    VarRef,
    XEvent,
)
from segmint.pql.types import INTEGER, ArrayType, MapType, ObjectType, ScalarType

AGGREGATES = ("sum", "average", "min", "max")
QUALIFYING_STATUSES = ("realized", "existing")
SEGMENT_NAMESPACE = "ups"


@dataclass(frozen=True)
class Part:
    """One condition narrowing the events: on the implicit scope (``var`` None) or a variable."""

    condition: Expr
    var: str | None = None


class CollectionRules(Compiler):
    """Rules for arrays, maps, objects, events and the binding constructs."""

    job_segments: Mapping[str, Expr] = {}
    stored_membership: Callable[[str], exp.Expr] | None = None
    _inlining: set[str]
    _built_maps: set[str]

    def __init__(self, now: datetime, events: EventSource) -> None:
        super().__init__(now, events)
        self._inlining = set()
        self._built_maps = set()

    # --- recognising event collections ----------------------------------------------------------

    def event_parts(self, node: Expr) -> list[Part] | None:
        """The conditions narrowing ``xEvent`` when ``node`` is xEvent filtered (bracket filter,
        ``filter()``, a one-binding select over it), else None."""
        if isinstance(node, XEvent):
            return []
        if isinstance(node, Filter):
            parts = self.event_parts(node.target)
            return None if parts is None else [*parts, Part(node.condition)]
        if isinstance(node, MethodCall) and node.method == "filter" and len(node.args) == 1:
            parts = self.event_parts(node.target)
            return None if parts is None else [*parts, _part(node.args[0])]
        if isinstance(node, Select) and len(node.bindings) == 1:
            binding = node.bindings[0]
            parts = self.event_parts(binding.source)
            if parts is None or binding.condition is None:
                return parts
            return [*parts, Part(binding.condition, binding.var)]
        return None

    def aggregable(
        self,
        parts: Sequence[Part],
        value: Callable[[Row], exp.Expr] | None = None,
    ) -> tuple[exp.Expr | None, exp.Expr | None] | None:
        """The parts as one SQL condition on the event row (and ``value`` of the event), when
        they read nothing but the event; None when they need the general list form."""
        event = TableRow(self.EVENT_ALIAS)
        try:
            with self.isolated():
                conditions = [self._on_event(part, event) for part in parts]
                value_sql = value(event) if value is not None else None
        except NotAggregable:
            return None
        condition: exp.Expr | None = exp.and_(*conditions, copy=False) if conditions else None
        if condition is not None and len(conditions) > 1:
            condition = never_null(condition)
        return condition, value_sql

    def _on_event(self, part: Part, event: Row) -> exp.Expr:
        if part.var is None:
            with self.scoped(event):
                return self.predicate(part.condition)
        with self.bound([part.var], [event]):
            return self.predicate(part.condition)

    def _shared(
        self,
        node: Expr,
        function: str,
        value: Callable[[Row], exp.Expr] | None = None,
        extra: Sequence[Part] = (),
    ) -> exp.Expr | None:
        """``function`` over the events of ``node`` as a shared aggregate, when possible."""
        if self.in_isolation:
            raise NotAggregable("events inside an event condition")
        parts = self.event_parts(node)
        if parts is None:
            return None
        compiled = self.aggregable([*parts, *extra], value)
        if compiled is None:
            return None
        condition, value_sql = compiled
        return self.events.aggregate(function, value_sql, condition)

    def visit_XEvent(self, node: XEvent) -> exp.Expr:
        if self.in_isolation:
            raise NotAggregable("xEvent")
        return self.events.events(None, self.event_fields)

    # --- boolean positions and counts -----------------------------------------------------------

    def predicate(self, node: Expr) -> exp.Expr:
        if isinstance(node, Lambda):  # the whole query `(Profile) => …`
            with self.bound(node.params[:1], [self.rows[0]]):
                return self.predicate(node.body)
        if isinstance(node.type, ArrayType):
            shared = self._shared(node, "count")
            if shared is not None:
                return _positive(shared)
        return super().predicate(node)

    def count_of(self, target: Expr, call: Expr | None = None) -> exp.Expr:
        shared = self._shared(target, "count")
        if shared is not None:
            return shared
        if isinstance(self.type_of(target), MapType):
            raise self.unsupported(call or target, "count() of a map")
        if not isinstance(self.type_of(target), ArrayType):
            raise self.unsupported(call or target, "count() of this value")
        return _zero_if_null(self.list_size(self.visit(target)))

    # --- item-relative arguments ----------------------------------------------------------------

    def item_lambda(self, argument: Expr, as_predicate: bool, arity: int = 1) -> exp.Expr:
        """An item-relative argument as a SQL lambda: a PQL lambda's parameters bound, or the
        item as the innermost implicit scope."""
        names = [self.fresh_name() for _ in range(arity)]
        rows: list[Row] = [ValueRow(exp.column(name, quoted=True)) for name in names]
        compile_body = self.predicate if as_predicate else self.visit
        if isinstance(argument, Lambda):
            with self.bound(argument.params, rows[: len(argument.params)]):
                body = compile_body(argument.body)
        else:
            with self.scoped(rows[0]):
                body = compile_body(argument)
        return self.lambda_(names, body)

    def visit_Filter(self, node: Filter) -> exp.Expr:
        return self._filtered(node.target, Part(node.condition))

    def method_filter(self, node: MethodCall) -> exp.Expr:
        self._arguments(node, 1)
        return self._filtered(node.target, _part(node.args[0]))

    def _filtered(self, target: Expr, part: Part) -> exp.Expr:
        parts = self.event_parts(target)
        if parts is not None:
            compiled = self.aggregable([*parts, part])
            if compiled is not None:
                return self.events.events(compiled[0], self.event_fields)
        self._require_array(target, "a filter")
        argument = part.condition if part.var is None else Lambda((part.var,), part.condition)
        return self.list_filter(self.visit(target), self.item_lambda(argument, True))

    def method_exists(self, node: MethodCall) -> exp.Expr:
        self._arguments(node, 1)
        shared = self._shared(node.target, "count", extra=[_part(node.args[0])])
        if shared is not None:
            return _positive(shared)
        self._require_array(node.target, "exists()")
        matching = self.list_filter(self.visit(node.target), self.item_lambda(node.args[0], True))
        return _positive(_zero_if_null(self.list_size(matching)))

    def method_map(self, node: MethodCall) -> exp.Expr:
        self._arguments(node, 1)
        if isinstance(self.type_of(node.target), MapType):
            return self._map_over_map(node)
        self._require_array(node.target, "map()")
        return self.list_transform(self.visit(node.target), self.item_lambda(node.args[0], False))

    # --- aggregates -----------------------------------------------------------------------------

    def method_sum(self, node: MethodCall) -> exp.Expr:
        return self._aggregate_method(node)

    def method_average(self, node: MethodCall) -> exp.Expr:
        return self._aggregate_method(node)

    def method_min(self, node: MethodCall) -> exp.Expr:
        return self._aggregate_method(node)

    def method_max(self, node: MethodCall) -> exp.Expr:
        return self._aggregate_method(node)

    def _aggregate_method(self, node: MethodCall) -> exp.Expr:
        if len(node.args) > 1:
            raise self.unsupported(node, f"{node.method}() with several arguments")
        argument = node.args[0] if node.args else None
        value = None if argument is None else self._value_of(argument)
        if value is not None:
            shared = self._shared(node.target, node.method, value)
            if shared is not None:
                return self._typed_aggregate(node, shared)
        self._require_array(node.target, f"{node.method}()")
        items = self.visit(node.target)
        if argument is not None:
            items = self.list_transform(items, self.item_lambda(argument, False))
        return self._typed_aggregate(node, self.list_aggregate(node.method, items))

    def _value_of(self, argument: Expr) -> Callable[[Row], exp.Expr]:
        def value(row: Row) -> exp.Expr:
            if isinstance(argument, Lambda):
                with self.bound(argument.params[:1], [row]):
                    return self.visit(argument.body)
            with self.scoped(row):
                return self.visit(argument)

        return value

    def _typed_aggregate(self, node: Expr, value: exp.Expr) -> exp.Expr:
        """Sums of integers stay BIGINT (DuckDB would widen them to HUGEINT)."""
        if node.type == INTEGER and isinstance(node, MethodCall | Aggregate):
            function = node.method if isinstance(node, MethodCall) else node.function
            if function == "sum":
                return exp.cast(value, exp.DataType.Type.BIGINT)
        return value

    def list_aggregate(self, function: str, items: exp.Expr) -> exp.Expr:
        """``sum`` (0 for nothing), ``average``/``min``/``max`` (null for nothing) of a list,
        null items skipped."""
        names = {"sum": "LIST_SUM", "average": "LIST_AVG", "min": "LIST_MIN", "max": "LIST_MAX"}
        value = exp.Anonymous(this=names[function], expressions=[items])
        return _zero_if_null(value) if function == "sum" else value

    def visit_Aggregate(self, node: Aggregate) -> exp.Expr:
        """``AGG value over bindings`` / ``AGG V from …`` (pql.md §7.6)."""
        if len(node.bindings) == 1 and node.value is not None:
            binding = node.bindings[0]
            value = node.value

            def bound_value(row: Row) -> exp.Expr:
                with self.bound([binding.var], [row]):
                    return self.visit(value)

            extra = [] if binding.condition is None else [Part(binding.condition, binding.var)]
            shared = self._shared(binding.source, node.function, bound_value, extra)
            if shared is not None:
                return self._typed_aggregate(node, shared)
        names = [binding.var for binding in node.bindings]

        def item() -> exp.Expr:
            if node.value is None:
                return self._variable_value(names[0])
            return self.visit(node.value)

        values = self.rows_of(node.bindings, item)
        return self._typed_aggregate(node, self.list_aggregate(node.function, values))

    # --- bindings: select, exists/forall --------------------------------------------------------

    def rows_of(self, bindings: Sequence[Binding], item: Callable[[], exp.Expr]) -> exp.Expr:
        """The list of ``item()`` for every combination of the bindings' items satisfying
        their conditions, left to right (nested lambdas, flattened)."""
        return self._rows(bindings, 0, item)

    def _rows(
        self, bindings: Sequence[Binding], index: int, item: Callable[[], exp.Expr]
    ) -> exp.Expr:
        binding = bindings[index]
        source = self._binding_source(binding)
        name = self.fresh_name()
        with self.bound([binding.var], [ValueRow(exp.column(name, quoted=True))]):
            condition = None
            if binding.condition is not None and not self._pushed(binding):
                condition = self.predicate(binding.condition)
            last = index + 1 == len(bindings)
            inner = item() if last else self._rows(bindings, index + 1, item)
        if condition is not None:
            source = self.list_filter(source, self.lambda_([name], condition))
        if last and inner == exp.column(name, quoted=True):
            return source
        mapped = self.list_transform(source, self.lambda_([name], inner))
        return mapped if last else exp.Flatten(this=mapped)

    def _binding_source(self, binding: Binding) -> exp.Expr:
        if self._pushed(binding):
            parts = self.event_parts(binding.source) or []
            assert binding.condition is not None
            compiled = self.aggregable([*parts, Part(binding.condition, binding.var)])
            assert compiled is not None
            return self.events.events(compiled[0], self.event_fields)
        self._require_array(binding.source, "a binding source")
        return self.visit(binding.source)

    def _pushed(self, binding: Binding) -> bool:
        """Whether the binding's condition reads only its event (then it filters the list in
        the grouped pass)."""
        if binding.condition is None:
            return False
        parts = self.event_parts(binding.source)
        if parts is None:
            return False
        return self.aggregable([*parts, Part(binding.condition, binding.var)]) is not None

    def _variable_value(self, name: str) -> exp.Expr:
        value = self.variables[name].value()
        if value is None:
            raise self.unsupported(None, f"the variable {name!r} as a value")
        return value

    def visit_Select(self, node: Select) -> exp.Expr:
        names = [binding.var for binding in node.bindings]
        if len(names) == 1:
            return self.rows_of(node.bindings, lambda: self._variable_value(names[0]))

        def row() -> exp.Expr:
            return self.make_struct([(name, self._variable_value(name)) for name in names])

        return self.rows_of(node.bindings, row)

    def visit_Quantified(self, node: Quantified) -> exp.Expr:
        if node.quantifier.lower() in ("exists", "some"):
            if len(node.bindings) == 1:
                binding = node.bindings[0]
                extra = [] if binding.condition is None else [Part(binding.condition, binding.var)]
                shared = self._shared(binding.source, "count", extra=extra)
                if shared is not None:
                    return _positive(shared)
            rows = self.rows_of(node.bindings, lambda: exp.Literal.number(1))
            return _positive(_zero_if_null(self.list_size(rows)))
        return self._for_all(node.bindings, 0)

    def _for_all(self, bindings: Sequence[Binding], index: int) -> exp.Expr:
        """Every item of each source satisfies its condition, for every choice of the earlier
        variables; an empty or null source holds."""
        if index == len(bindings):
            return exp.true()
        binding = bindings[index]
        if len(bindings) == 1:
            shared = self._shared_failing(binding)
            if shared is not None:
                return shared
        source = self.visit(binding.source)
        name = self.fresh_name()
        with self.bound([binding.var], [ValueRow(exp.column(name, quoted=True))]):
            holds = self.predicate(binding.condition) if binding.condition else exp.true()
            rest = self._for_all(bindings, index + 1)
        failing_items = self.list_filter(
            source, self.lambda_([name], exp.Not(this=paren(exp.and_(holds, rest, copy=False))))
        )
        empty = exp.EQ(this=self.list_size(failing_items), expression=exp.Literal.number(0))
        return exp.Coalesce(this=empty, expressions=[exp.true()])

    def _shared_failing(self, binding: Binding) -> exp.Expr | None:
        """``forall`` over events as "no event fails the condition": a shared count."""
        parts = self.event_parts(binding.source)
        if parts is None or binding.condition is None:
            return None
        event = TableRow(self.EVENT_ALIAS)
        try:
            with self.isolated():
                narrowing = [self._on_event(part, event) for part in parts]
                with self.bound([binding.var], [event]):
                    holds = self.predicate(binding.condition)
        except NotAggregable:
            return None
        condition = exp.and_(*narrowing, exp.Not(this=paren(holds)), copy=False)
        failing = self.events.aggregate("count", None, never_null(condition))
        return exp.EQ(this=failing, expression=exp.Literal.number(0))

    # --- let, literals, objects -----------------------------------------------------------------

    def visit_Let(self, node: Let) -> exp.Expr:
        value = self.visit(node.value)
        built = self.built_map(node.value)
        outer = set(self._built_maps)
        self._built_maps = outer | {node.name} if built else outer - {node.name}
        try:
            with self.bound([node.name], [ValueRow(value)]):
                return self.visit(node.body)
        finally:
            self._built_maps = outer

    def visit_Lambda(self, node: Lambda) -> exp.Expr:
        with self.bound(node.params[:1], [self.rows[0]]):
            return self.predicate(node.body)

    def visit_ListLiteral(self, node: ListLiteral) -> exp.Expr:
        return exp.Array(expressions=[self.visit(item) for item in node.items])

    def visit_ObjectLiteral(self, node: ObjectLiteral) -> exp.Expr:
        return self.make_struct([(key, self.visit(value)) for key, value in node.entries])

    def make_struct(self, fields: Sequence[tuple[str, exp.Expr]]) -> exp.Expr:
        return exp.Struct(
            expressions=[
                exp.PropertyEQ(this=exp.to_identifier(name, quoted=True), expression=value)
                for name, value in fields
            ]
        )

    # --- arrays (§7.5) --------------------------------------------------------------------------

    def method_head(self, node: MethodCall) -> exp.Expr:
        self._arguments(node, 0)
        self._require_array(node.target, "head()")
        return self.list_item(self.visit(node.target), 1)

    def list_item(self, items: exp.Expr, position: int) -> exp.Expr:
        """Item number ``position`` (1-based); null past the end or for a null list."""
        return exp.Bracket(this=paren(items), expressions=[exp.Literal.number(position)], offset=1)

    def method_distinct(self, node: MethodCall) -> exp.Expr:
        self._arguments(node, 0)
        self._require_array(node.target, "distinct()")
        return self.list_distinct(self.visit(node.target))

    def list_distinct(self, items: exp.Expr) -> exp.Expr:
        """The items without repeats (nulls kept once) in first-seen order."""
        item, index = self.fresh_name(), self.fresh_name()
        first = exp.EQ(
            this=exp.Anonymous(
                this="LIST_POSITION", expressions=[items.copy(), exp.column(item, quoted=True)]
            ),
            expression=exp.column(index, quoted=True),
        )
        return self.list_filter(items, self.lambda_([item, index], first))

    def method_includes(self, node: MethodCall) -> exp.Expr:
        self._arguments(node, 1)
        self._require_array(node.target, "includes()")
        items = self.visit(node.target)
        return self.lifted(
            [node.args[0]], lambda value: never_null(self.array_contains(items.copy(), value))
        )

    def method_intersection(self, node: MethodCall) -> exp.Expr:
        left, right = self._set_operands(node)
        common = self.list_distinct(self._members_of(left, right))
        either_null = exp.or_(_null(left), _null(right), copy=False)
        return exp.Case(ifs=[exp.If(this=either_null, true=exp.Null())], default=common)

    def method_intersects(self, node: MethodCall) -> exp.Expr:
        left, right = self._set_operands(node)
        size = self.list_size(self._members_of(left, right))
        return never_null(exp.GT(this=size, expression=exp.Literal.number(0)))

    def method_subsetOf(self, node: MethodCall) -> exp.Expr:
        left, right = self._set_operands(node)
        return self._subset(left, right)

    def method_supersetOf(self, node: MethodCall) -> exp.Expr:
        left, right = self._set_operands(node)
        return self._subset(right, left)

    def _set_operands(self, node: MethodCall) -> tuple[exp.Expr, exp.Expr]:
        self._arguments(node, 1)
        self._require_array(node.target, f"{node.method}()")
        self._require_array(node.args[0], f"{node.method}() with this argument")
        return self.visit(node.target), self.visit(node.args[0])

    def _member_test(self, items: exp.Expr, name: str) -> exp.Expr:
        return never_null(self.array_contains(items.copy(), exp.column(name, quoted=True)))

    def _members_of(self, left: exp.Expr, right: exp.Expr) -> exp.Expr:
        name = self.fresh_name()
        return self.list_filter(left, self.lambda_([name], self._member_test(right, name)))

    def _subset(self, left: exp.Expr, right: exp.Expr) -> exp.Expr:
        name = self.fresh_name()
        outside = exp.Not(this=self._member_test(right, name))
        strays = self.list_size(self.list_filter(left.copy(), self.lambda_([name], outside)))
        none = exp.EQ(this=strays, expression=exp.Literal.number(0))
        present = exp.and_(_not_null(left), _not_null(right), copy=False)
        return never_null(exp.and_(present, none, copy=False))

    def method_topN(self, node: MethodCall) -> exp.Expr:
        return self._ranked(node, largest=True)

    def method_bottomN(self, node: MethodCall) -> exp.Expr:
        return self._ranked(node, largest=False)

    def _ranked(self, node: MethodCall, largest: bool) -> exp.Expr:
        """The ``n`` items with the largest (smallest) keys, null keys left out, ties in their
        original order: sort structs ``{k, j, v}`` where ``j`` is the position (negated for a
        descending sort, so ties stay in order)."""
        self._arguments(node, 2)
        self._require_array(node.target, f"{node.method}()")
        count = node.args[1]
        if not (isinstance(count, Literal) and isinstance(count.value, int)):
            raise self.unsupported(count, f"{node.method}() with a count that is not a number")
        key_lambda = self.item_lambda(node.args[0], False, arity=1)
        assert isinstance(key_lambda, exp.Lambda)
        item, index = key_lambda.expressions[0].name, self.fresh_name()
        position: exp.Expr = exp.column(index, quoted=True)
        if largest:
            position = exp.Neg(this=position)
        keyed = self.make_struct(
            [("k", key_lambda.this), ("j", position), ("v", exp.column(item, quoted=True))]
        )
        entries = self.list_transform(self.visit(node.target), self.lambda_([item, index], keyed))
        entry = self.fresh_name()
        has_key = exp.Not(
            this=exp.Paren(
                this=exp.Is(
                    this=exp.Dot(
                        this=exp.column(entry, quoted=True),
                        expression=exp.to_identifier("k", quoted=True),
                    ),
                    expression=exp.Null(),
                )
            )
        )
        ranked = self.list_sort(self.list_filter(entries, self.lambda_([entry], has_key)), largest)
        top = self.list_slice(ranked, 1, count.value)
        value = exp.Dot(
            this=exp.column(entry, quoted=True), expression=exp.to_identifier("v", quoted=True)
        )
        return self.list_transform(top, self.lambda_([entry], value))

    def list_sort(self, items: exp.Expr, descending: bool) -> exp.Expr:
        order = exp.Literal.string("DESC" if descending else "ASC")
        return exp.Anonymous(this="LIST_SORT", expressions=[items, order])

    def list_slice(self, items: exp.Expr, start: int, end: int | None) -> exp.Expr:
        """Items ``start`` to ``end`` (1-based, inclusive; None: to the last); empty when
        ``end < start``."""
        stop = None if end is None else exp.Literal.number(end)
        return exp.Bracket(
            this=paren(items),
            expressions=[exp.Slice(this=exp.Literal.number(start), expression=stop)],
        )

    # --- projections (§4.2) ---------------------------------------------------------------------

    def projection(self, node: FieldLookup, items: exp.Expr) -> exp.Expr:
        """The field of every item, one level flattened, nulls dropped."""
        owner = self.type_of(node.target)
        declared = owner.item if isinstance(owner, ArrayType) else None
        field_type = (
            declared.fields.get(node.field_name) if isinstance(declared, ObjectType) else None
        )
        if not isinstance(declared, ObjectType) or field_type is None:
            raise self.unsupported(node, f"the field lookup .{node.field_name} here")
        name = self.fresh_name()
        field = ValueRow(exp.column(name, quoted=True)).field(node.field_name)
        values = self.list_transform(items, self.lambda_([name], field))
        if isinstance(field_type, ArrayType):
            values = exp.Flatten(this=self.list_filter(values, self._present()))
        return self.list_filter(values, self._present())

    def _present(self) -> exp.Expr:
        name = self.fresh_name()
        return self.lambda_([name], _not_null(exp.column(name, quoted=True)))

    # --- maps (§7.7) ----------------------------------------------------------------------------
    #
    # A map read from the lake is a SQL MAP. A map built by a query (``groupBy``, ``map`` with a
    # ``(K, V) => mapEntry(…)`` lambda) is a list of ``{key, value}`` structs in key order: SQL
    # MAPs take no null key, and ``groupBy`` gives null keys a group of their own.

    def built_map(self, node: Expr) -> bool:
        """Whether ``node``'s map value is a list of entries rather than a SQL MAP."""
        if isinstance(node, MethodCall) and node.method in ("groupBy", "map"):
            return isinstance(node.type, MapType)
        if isinstance(node, VarRef):
            return node.name in self._built_maps
        if isinstance(node, Let):
            return self.built_map(node.body)
        return False

    def map_entries(self, node: Expr) -> exp.Expr:
        """``node``'s map as a list of ``{key, value}`` structs."""
        self._require_map(node, "this map operation")
        mapping = self.visit(node)
        if self.built_map(node):
            return mapping
        return exp.Anonymous(this="MAP_ENTRIES", expressions=[mapping])

    def _entry_part(self, name: str, part: str) -> exp.Expr:
        return ValueRow(exp.column(name, quoted=True)).field(part)

    def method_get(self, node: MethodCall) -> exp.Expr:
        self._arguments(node, 1)
        self._require_map(node.target, "get()")
        self._require_scalar(node.args[0], "get() with this key")
        key = self.visit(node.args[0])
        if not self.built_map(node.target):
            return self.map_get(self.visit(node.target), key)
        name = self.fresh_name()
        same = exp.EQ(this=self._entry_part(name, "key"), expression=paren(key))
        found = self.list_item(
            self.list_filter(self.visit(node.target), self.lambda_([name], same)), 1
        )
        return ValueRow(found).field("value")

    def map_get(self, mapping: exp.Expr, key: exp.Expr) -> exp.Expr:
        return exp.Bracket(this=paren(mapping), expressions=[key])

    def method_keys(self, node: MethodCall) -> exp.Expr:
        self._arguments(node, 0)
        return self._entry_list(node.target, "key")

    def method_values(self, node: MethodCall) -> exp.Expr:
        self._arguments(node, 0)
        return self._entry_list(node.target, "value")

    def _entry_list(self, target: Expr, part: str) -> exp.Expr:
        name = self.fresh_name()
        return self.list_transform(
            self.map_entries(target), self.lambda_([name], self._entry_part(name, part))
        )

    def _map_over_map(self, node: MethodCall) -> exp.Expr:
        """``m.map(expr)``: one value per entry, the entry's value as ``this``; ``m.map((K, V)
        => mapEntry(K, value))``: a map with the same keys and new values."""
        entries, argument = self.map_entries(node.target), node.args[0]
        name = self.fresh_name()
        key, value = self._entry_part(name, "key"), self._entry_part(name, "value")
        if not isinstance(argument, Lambda):
            with self.scoped(ValueRow(value)):
                mapped = self.visit(argument)
            return self.list_transform(entries, self.lambda_([name], mapped))
        body = argument.body
        same_key = (
            isinstance(body, FunctionCall)
            and body.name == "mapEntry"
            and isinstance(body.args[0], VarRef)
            and body.args[0].name == argument.params[0]
        )
        if not same_key:
            raise self.unsupported(body, "map() over a map that changes its keys")
        assert isinstance(body, FunctionCall)
        with self.bound(argument.params, [ValueRow(key), ValueRow(value)]):
            new_value = self.visit(body.args[1])
        entry = self.make_struct([("key", key.copy()), ("value", new_value)])
        return self.list_transform(entries, self.lambda_([name], entry))

    def method_groupBy(self, node: MethodCall) -> exp.Expr:
        """The items grouped by key (null keys too), keys in first-seen order."""
        self._arguments(node, 1)
        self._require_array(node.target, "groupBy()")
        key_type = self.type_of(
            node.args[0].body if isinstance(node.args[0], Lambda) else node.args[0]
        )
        if not isinstance(key_type, ScalarType):
            raise self.unsupported(node.args[0], f"groupBy() on a {key_type} key")
        items = self.visit(node.target)
        keys = self.list_distinct(
            self.list_transform(items.copy(), self.item_lambda(node.args[0], False))
        )
        group_key = self.fresh_name()
        key_lambda = self.item_lambda(node.args[0], False)
        assert isinstance(key_lambda, exp.Lambda)
        same = exp.NullSafeEQ(
            this=paren(key_lambda.this), expression=exp.column(group_key, quoted=True)
        )
        group = self.list_filter(items, self.lambda_([key_lambda.expressions[0].name], same))
        entry = self.make_struct([("key", exp.column(group_key, quoted=True)), ("value", group)])
        return self.list_transform(keys, self.lambda_([group_key], entry))

    def function_mapEntry(self, node: FunctionCall) -> exp.Expr:
        key, value = node.args
        return self.make_struct([("key", self.visit(key)), ("value", self.visit(value))])

    def _require_map(self, node: Expr, what: str) -> MapType:
        node_type = self.type_of(node)
        if not isinstance(node_type, MapType):
            raise self.unsupported(node, f"{what} on a {node_type} value")
        return node_type

    # --- segments (§7.14) -----------------------------------------------------------------------

    def function_inSegment(self, node: FunctionCall) -> exp.Expr:
        """Membership of another segment: evaluated in this job when it is one of the job's
        segments, else the status stored by earlier jobs."""
        argument = node.args[0] if node.args else None
        if not (isinstance(argument, Literal) and isinstance(argument.value, str)):
            raise self.unsupported(node, "inSegment() with an id that is not a string literal")
        return self.segment_membership(node, argument.value)

    def segment_membership(self, node: FunctionCall, segment_id: str) -> exp.Expr:
        """This job's own segment compiled in place (a cycle is an error), else the stored
        status: a lookup the planner provides, or the profile's ``segmentMembership`` map."""
        definition = self.job_segments.get(segment_id)
        if definition is not None:
            return self._inline_segment(node, segment_id, definition)
        if self.stored_membership is not None:
            return self.stored_membership(segment_id)
        return self._profile_membership(segment_id)

    def _inline_segment(self, node: FunctionCall, segment_id: str, definition: Expr) -> exp.Expr:
        if segment_id in self._inlining:
            raise self.unsupported(node, f"inSegment({segment_id!r}) in a cycle of segments")
        rows, variables = self.rows, self.variables
        fields = self.event_fields
        self.rows, self.variables = [rows[0]], {}
        self.event_fields = _union(fields, event_fields_used([definition]))
        self._inlining.add(segment_id)
        try:
            return self.predicate(definition)
        finally:
            self._inlining.discard(segment_id)
            self.rows, self.variables, self.event_fields = rows, variables, fields

    def _profile_membership(self, segment_id: str) -> exp.Expr:
        memberships = self.rows[0].field("segmentMembership")
        namespace = self.map_get(memberships, exp.Literal.string(SEGMENT_NAMESPACE))
        entry = self.map_get(namespace, exp.Literal.string(segment_id))
        status = ValueRow(entry).field("status")
        statuses = [exp.Literal.string(s) for s in QUALIFYING_STATUSES]
        return never_null(exp.In(this=status, expressions=statuses))

    # --- helpers --------------------------------------------------------------------------------

    def _arguments(self, node: MethodCall, count: int) -> None:
        if len(node.args) != count:
            raise self.unsupported(node, f"{node.method}() with {len(node.args)} arguments")

    def _require_array(self, node: Expr, what: str) -> ArrayType:
        node_type = self.type_of(node)
        if not isinstance(node_type, ArrayType):
            raise self.unsupported(node, f"{what} on a {node_type} value")
        return node_type


def _union(one: frozenset[str] | None, other: frozenset[str] | None) -> frozenset[str] | None:
    return None if one is None or other is None else one | other


def _part(argument: Expr) -> Part:
    if isinstance(argument, Lambda):
        return Part(argument.body, argument.params[0])
    return Part(argument)


def _positive(count: exp.Expr) -> exp.Expr:
    """``count > 0`` for a never-null count."""
    return exp.GT(this=count, expression=exp.Literal.number(0))


def _zero_if_null(value: exp.Expr) -> exp.Expr:
    return exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])


def _null(value: exp.Expr) -> exp.Expr:
    return exp.Is(this=paren(value.copy()), expression=exp.Null())


def _not_null(value: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.Paren(this=exp.Is(this=paren(value), expression=exp.Null())))
