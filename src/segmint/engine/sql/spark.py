"""Spark SQL's overrides of the base compiler (Spark 4, ANSI mode, session time zone UTC).

Emit with ``.sql(dialect="spark")``: sqlglot then writes Spark's spelling of the shared nodes
(backquoted identifiers, ``SIZE``, ``ARRAY_CONTAINS``, ``x -> …`` lambdas, ``FILTER``/
``TRANSFORM``/``EXISTS``/``FORALL``/``AGGREGATE`` on arrays, 0-based ``arr[i]`` from
offset-carrying brackets). What stays different is overridden here, and what Spark cannot run
is listed in :attr:`SparkCompiler.UNSUPPORTED`, its capability table: a construct there is
rejected by ``check_supported(expr, "spark")`` before a job starts, never answered wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import ClassVar

from sqlglot import exp

from segmint.engine.sql.compiler import (
    EVENT_ORDER_FIELD,
    EventFields,
    as_filter,
    item_fields,
    paren,
    temporal_literal,
)
from segmint.engine.sql.language import LanguageCompiler
from segmint.engine.sql.planner import COMPILERS
from segmint.engine.sql.re2 import Re2Pattern, Re2Unsupported
from segmint.pql.ast import Binary, Expr, FunctionCall, ListLiteral, MethodCall
from segmint.pql.types import ArrayType, MapType, ObjectType, PQLType


class SparkCompiler(LanguageCompiler):
    dialect: ClassVar[str] = "spark"
    engine: ClassVar[str] = "Spark"

    # The capability table: rule name (``visit_<Node>``, ``method_<name>``,
    # ``function_<name>``) → why Spark cannot run it. Everything else the language compiles
    # runs on Spark as it does on DuckDB (the compliance suite holds both to the interpreter).
    UNSUPPORTED: ClassVar[Mapping[str, str]] = {}

    # --- capability -----------------------------------------------------------------------------

    def visit(self, node: Expr) -> exp.Expr:
        self._check_capability(node, f"visit_{type(node).__name__}")
        return super().visit(node).transform(self._flatten_present)

    def _flatten_present(self, node: exp.Expr) -> exp.Expr:
        """Spark's FLATTEN is null when one inner list is null; DuckDB's (and PQL's) skips it."""
        if not isinstance(node, exp.Flatten) or node.meta.get("present"):
            return node
        present = self.list_filter(node.this, self._present_lambda())
        flattened = exp.Flatten(this=present)
        flattened.meta["present"] = True
        return flattened

    def visit_FunctionCall(self, node: FunctionCall) -> exp.Expr:
        self._check_capability(node, f"function_{node.name}")
        return super().visit_FunctionCall(node)

    def _check_capability(self, node: Expr, rule: str) -> None:
        reason = self.UNSUPPORTED.get(rule)
        if reason is not None:
            raise self.unsupported(node, reason)

    def visit_Binary(self, node: Binary) -> exp.Expr:
        if node.op in ("=", "!=") and any(
            _holds_map(self.type_of(operand)) for operand in (node.left, node.right)
        ):
            # Spark cannot compare MAP values (nor structs or arrays holding one).
            raise self.unsupported(node, f"{node.op!r} on values holding a map")
        return super().visit_Binary(node)

    def visit_MethodCall(self, node: MethodCall) -> exp.Expr:
        self._check_capability(node, f"method_{node.method}")
        if node.method in _SET_METHODS and any(_empty_list(arg) for arg in node.args):
            # Spark types ARRAY() as ARRAY<VOID>: ARRAY_CONTAINS rejects its (VOID) items.
            raise self.unsupported(node, f"{node.method}() of an empty list literal")
        return super().visit_MethodCall(node)

    # --- dialect hooks --------------------------------------------------------------------------

    def date_literal(self, value: date) -> exp.Expr:
        # The lake's timestamps are naive UTC (Parquet isAdjustedToUTC=false): Spark reads them
        # as TIMESTAMP_NTZ, so bounds are NTZ too and no column is converted per row.
        if isinstance(value, datetime):
            text = value.isoformat(sep=" ", timespec="microseconds")
            return exp.cast(exp.Literal.string(text), exp.DataType.Type.TIMESTAMPNTZ)
        return temporal_literal(value)

    def array_contains(self, array: exp.Expr, item: exp.Expr) -> exp.Expr:
        """Spark's ARRAY_CONTAINS is null when the array holds a null and no match; a null item
        is never a member in PQL (DuckDB's LIST_CONTAINS is false there)."""
        absent = exp.or_(
            exp.Is(this=paren(array.copy()), expression=exp.Null()),
            exp.Is(this=paren(item.copy()), expression=exp.Null()),
        )
        found = exp.Coalesce(this=super().array_contains(array, item), expressions=[exp.false()])
        return exp.Case(ifs=[exp.If(this=absent, true=exp.Null())], default=found)

    def regex_pattern(self, pattern: str) -> Re2Pattern:
        """The RE2 rewrite (explicit ASCII classes, no engine flags) is Java syntax too, and
        keeps the interpreter's semantics; only named groups are spelled ``(?<name>…)``."""
        translated = super().regex_pattern(pattern)
        java = _NAMED_GROUP.sub(r"\1(?<", translated.pattern)
        for name in _GROUP_NAME.findall(java):
            if not name.isalnum():
                raise Re2Unsupported(f"the group name {name!r} (Java allows letters and digits)")
        return replace(translated, pattern=java)

    # --- lists ----------------------------------------------------------------------------------

    def list_aggregate(self, function: str, items: exp.Expr) -> exp.Expr:
        """Spark has ``ARRAY_MIN``/``ARRAY_MAX`` (nulls skipped) but no list sum or average:
        those fold with ``AGGREGATE``, whose zero must have the items' type exactly (the dead
        ``CASE`` branch gives it that type without knowing it)."""
        if function in ("min", "max"):
            return exp.func(f"ARRAY_{function.upper()}", items)
        present = self.list_filter(items.copy(), self._present_lambda())
        acc, item = self.fresh_name(), self.fresh_name()
        acc_col, item_col = exp.column(acc, quoted=True), exp.column(item, quoted=True)
        if function == "sum":
            zero = (
                exp.Case()
                .when(exp.false(), exp.func("ARRAY_MIN", items.copy()))
                .else_(exp.Literal.number(0))
            )
            merge = exp.Add(this=acc_col, expression=item_col)
            total = exp.func("AGGREGATE", present, zero, self.lambda_([acc, item], merge))
            return exp.Coalesce(this=total, expressions=[exp.Literal.number(0)])
        if function == "average":
            start = self.make_struct(
                [
                    ("s", exp.cast(exp.Literal.number(0), exp.DataType.Type.DOUBLE)),
                    ("n", exp.cast(exp.Literal.number(0), exp.DataType.Type.BIGINT)),
                ]
            )
            step = self.make_struct(
                [
                    ("s", exp.Add(this=_field(acc_col, "s"), expression=item_col.copy())),
                    ("n", exp.Add(this=_field(acc_col, "n"), expression=exp.Literal.number(1))),
                ]
            )
            finish = exp.Div(
                this=_field(acc_col, "s"),
                expression=exp.Nullif(this=_field(acc_col, "n"), expression=exp.Literal.number(0)),
            )
            return exp.func(
                "AGGREGATE",
                present,
                start,
                self.lambda_([acc, item], step),
                self.lambda_([acc], finish),
            )
        raise ValueError(f"unknown list aggregate {function!r}")

    def _present_lambda(self) -> exp.Expr:
        name = self.fresh_name()
        column = exp.column(name, quoted=True)
        return self.lambda_(
            [name], exp.Not(this=exp.Paren(this=exp.Is(this=column, expression=exp.Null())))
        )

    def list_item(self, items: exp.Expr, position: int) -> exp.Expr:
        # ANSI Spark fails on an index past the end; TRY_ELEMENT_AT is 1-based and null there.
        return exp.func("TRY_ELEMENT_AT", paren(items), exp.Literal.number(position))

    def list_distinct(self, items: exp.Expr) -> exp.Expr:
        # First-seen order, one null kept: exactly Spark's ARRAY_DISTINCT.
        return exp.func("ARRAY_DISTINCT", items)

    def list_sort(self, items: exp.Expr, descending: bool) -> exp.Expr:
        """Sort the ``{k, j, v}`` entries of topN/bottomN by ``(k, j)``: Spark cannot order a
        struct holding a map, so the comparator reads only the keys (ARRAY_SORT is stable)."""
        left, right = self.fresh_name(), self.fresh_name()
        a, b = exp.column(left, quoted=True), exp.column(right, quoted=True)
        less, more = (1, -1) if descending else (-1, 1)
        order = exp.Case()
        for key in ("k", "j"):
            order = order.when(exp.LT(this=_field(a, key), expression=_field(b, key)), _int(less))
            order = order.when(exp.GT(this=_field(a, key), expression=_field(b, key)), _int(more))
        comparator = self.lambda_([left, right], order.else_(_int(0)))
        return exp.func("ARRAY_SORT", items, comparator)

    def list_slice(self, items: exp.Expr, start: int, end: int | None) -> exp.Expr:
        if end is not None:
            length: exp.Expr = exp.Literal.number(max(0, end - start + 1))
        else:
            rest = exp.Sub(
                this=exp.ArraySize(this=items.copy()), expression=exp.Literal.number(start - 1)
            )
            length = exp.func("GREATEST", rest, exp.Literal.number(0))
        return exp.func("SLICE", items, exp.Literal.number(start), length)

    # --- events as a list -----------------------------------------------------------------------

    @classmethod
    def event_list_aggregate(
        cls,
        alias: str,
        condition: exp.Expr | None,
        tiebreak: Sequence[str],
        fields: EventFields | None = None,
    ) -> exp.Expr:
        """Spark's ``COLLECT_LIST`` takes no ORDER BY: collect ``{n, t, …tiebreak, v}`` (``n``
        puts null timestamps last), sort by the keys only, keep ``v`` (the event struct, or
        the struct of ``fields``)."""
        keys = [
            ("n", exp.Is(this=_event_field(alias, EVENT_ORDER_FIELD), expression=exp.Null())),
            ("t", _event_field(alias, EVENT_ORDER_FIELD)),
        ]
        keys += [(f"b{i}", _event_field(alias, name)) for i, name in enumerate(tiebreak)]
        event: exp.Expr = exp.func(
            "STRUCT", exp.Column(this=exp.Star(), table=exp.to_identifier(alias, quoted=True))
        )
        if fields is not None:
            event = exp.Struct(
                expressions=[
                    exp.PropertyEQ(this=exp.to_identifier(name, quoted=True), expression=value)
                    for name, value in item_fields(alias, fields)
                ]
            )
        entry = exp.Struct(
            expressions=[
                exp.PropertyEQ(this=exp.to_identifier(name, quoted=True), expression=value)
                for name, value in [*keys, ("v", event)]
            ]
        )
        collected: exp.Expr = exp.func("COLLECT_LIST", entry)
        if condition is not None:
            collected = exp.Filter(this=collected, expression=exp.Where(this=as_filter(condition)))
        a, b = exp.column("__a", quoted=True), exp.column("__b", quoted=True)
        order = exp.Case()
        for name, _ in keys:
            order = order.when(exp.LT(this=_field(a, name), expression=_field(b, name)), _int(-1))
            order = order.when(exp.GT(this=_field(a, name), expression=_field(b, name)), _int(1))
        comparator = exp.Lambda(
            this=order.else_(_int(0)),
            expressions=[
                exp.to_identifier("__a", quoted=True),
                exp.to_identifier("__b", quoted=True),
            ],
        )
        ordered = exp.func("ARRAY_SORT", collected, comparator)
        value = exp.Lambda(
            this=_field(exp.column("__x", quoted=True), "v"),
            expressions=[exp.to_identifier("__x", quoted=True)],
        )
        return exp.Transform(this=ordered, expression=value)


_NAMED_GROUP = re.compile(r"(?<!\\)((?:\\\\)*)\(\?P<")
_GROUP_NAME = re.compile(r"\(\?<([^>=!]*)>")
_SET_METHODS = frozenset({"supersetOf", "subsetOf", "intersects", "intersection"})


def _empty_list(node: Expr) -> bool:
    return isinstance(node, ListLiteral) and not node.items


def _holds_map(value_type: PQLType) -> bool:
    pending = [value_type]
    while pending:
        current = pending.pop()
        if isinstance(current, MapType):
            return True
        if isinstance(current, ArrayType):
            pending.append(current.item)
        elif isinstance(current, ObjectType):
            pending.extend(current.fields.values())
    return False


def _field(value: exp.Expr, name: str) -> exp.Expr:
    return exp.Dot(this=value.copy(), expression=exp.to_identifier(name, quoted=True))


def _event_field(alias: str, name: str) -> exp.Expr:
    return exp.column(name, table=alias, quoted=True)


def _int(value: int) -> exp.Expr:
    return exp.Literal.number(value) if value >= 0 else exp.Neg(this=exp.Literal.number(-value))


# Registered where the planner looks engines up (``compiler_for("spark")``).
COMPILERS.setdefault(SparkCompiler.dialect, SparkCompiler)
