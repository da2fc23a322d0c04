"""Many segments, one query: the plan a runner executes for a segment job.

Every event sub-expression of every segment becomes one ``COUNT(*) FILTER (WHERE …)`` column of
a single ``GROUP BY __profile_id`` pass over the events (identical conditions, after compiling,
share one column); that aggregate is LEFT JOINed to the profiles, and each segment is one boolean
column of the result (``seg_0``, ``seg_1``, … in input order). Never ``SUM(CASE …)``: DuckDB runs
``FILTER`` aggregates about 4 times faster (engine-measurements.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlglot import exp

from segmint.engine.sql.atoms import share_atoms
from segmint.engine.sql.collections import QUALIFYING_STATUSES
from segmint.engine.sql.compiler import (
    Compiler,
    CorrelatedEventCounts,
    EventFields,
    aggregate_default,
    aliased,
    as_filter,
    balanced,
    event_aggregate,
    or_empty_list,
)
from segmint.engine.sql.duckdb import DuckDBCompiler
from segmint.engine.sql.fields import event_fields_used
from segmint.engine.sql.language import LanguageCompiler
from segmint.pql.ast import Expr
from segmint.pql.errors import PQLUnsupportedError
from segmint.xdm.arrow import PROFILE_ID_COLUMN

COMPILERS: dict[str, type[LanguageCompiler]] = {"duckdb": DuckDBCompiler}

EVENT_COUNTS = "event_counts"
EVENT_COUNTS_ALIAS = "ec"
EVENT_LISTS = "event_lists"
EVENT_LISTS_ALIAS = "el"
MEMBERSHIPS = "stored_memberships"
MEMBERSHIPS_ALIAS = "ms"

Source = exp.Expr | str


def segment_column(index: int) -> str:
    """The result column holding segment number ``index`` of :func:`plan_segments`."""
    return f"seg_{index}"


def compiler_for(engine: str) -> type[LanguageCompiler]:
    compiler = COMPILERS.get(engine)
    if compiler is None:
        raise PQLUnsupportedError(f"the engine {engine!r} is not supported")
    return compiler


AggregateKey = tuple[str, exp.Expr | None, exp.Expr | None, EventFields | None]
LIST = "list"


class GroupedEventCounts:
    """Event aggregates and event lists as shared columns of grouped passes over the events
    table: one column per distinct (function, value, condition, fields) after compiling.

    Aggregates (``COUNT``/``SUM``/… ``FILTER``) share one pass; event lists get a pass of
    their own when there are both: DuckDB groups a mix of ``LIST`` and ``FILTER`` aggregates
    markedly slower than the two separately (1.6 times the CPU on the benchmark job)."""

    def __init__(
        self, compiler: type[Compiler], available: bool = True, tiebreak: Sequence[str] = ()
    ) -> None:
        self.compiler = compiler
        self.available = available
        self.tiebreak = tuple(tiebreak)
        self.columns: dict[AggregateKey, str] = {}
        self.lists: dict[AggregateKey, str] = {}

    def count(self, condition: exp.Expr | None) -> exp.Expr:
        return self.aggregate("count", None, condition)

    def aggregate(
        self, function: str, value: exp.Expr | None, condition: exp.Expr | None
    ) -> exp.Expr:
        if not self.available:
            return exp.Literal.number(0) if function in ("count", "sum") else exp.Null()
        key = (function, value, condition, None)
        name = self.columns.setdefault(key, f"ev_{len(self.columns)}")
        return aggregate_default(function, exp.column(name, table=EVENT_COUNTS_ALIAS, quoted=True))

    def events(self, condition: exp.Expr | None, fields: EventFields | None = None) -> exp.Expr:
        if not self.available:
            return exp.Array(expressions=[])
        name = self.lists.setdefault((LIST, None, condition, fields), f"el_{len(self.lists)}")
        return or_empty_list(exp.column(name, table=EVENT_LISTS_ALIAS, quoted=True))

    def aggregate_query(self, events: exp.Expr) -> exp.Select:
        """``SELECT __profile_id, COUNT(*) FILTER (WHERE c) AS ev_i, … GROUP BY __profile_id``."""
        columns = [
            (name, event_aggregate(function, value, condition))
            for (function, value, condition, _), name in self.columns.items()
        ]
        return self._grouped(events, columns, [key[2] for key in self.columns])

    def list_query(self, events: exp.Expr) -> exp.Select:
        """``SELECT __profile_id, LIST(…) FILTER (WHERE c) AS el_i, … GROUP BY __profile_id``."""
        alias = self.compiler.EVENT_ALIAS
        columns = [
            (name, self.compiler.event_list_aggregate(alias, condition, tiebreak, fields))
            for (_, _, condition, fields), name in self.lists.items()
            # Computed items (a chain's step flags) need no lake order: among events of equal
            # timestamp, which one a step takes cannot change whether the chain holds.
            for tiebreak in [() if isinstance(fields, tuple) else self.tiebreak]
        ]
        return self._grouped(events, columns, [key[2] for key in self.lists])

    def _grouped(
        self,
        events: exp.Expr,
        columns: Sequence[tuple[str, exp.Expr]],
        conditions: Sequence[exp.Expr | None],
    ) -> exp.Select:
        alias = self.compiler.EVENT_ALIAS
        profile_id = exp.column(PROFILE_ID_COLUMN, table=alias, quoted=True)
        selected = [exp.alias_(profile_id, PROFILE_ID_COLUMN, quoted=True)]
        selected += [exp.alias_(column, name, quoted=True) for name, column in columns]
        query = exp.select(*selected).from_(aliased(events, alias)).group_by(profile_id.copy())
        if all(condition is not None for condition in conditions):
            # Only matching events can count: skip the rest before grouping (and let the
            # scan prune row groups on time windows). Balanced: there may be thousands.
            matching = list(dict.fromkeys(as_filter(c.copy()) for c in conditions if c is not None))
            query = query.where(balanced(exp.Or, matching))
        return share_atoms(query, alias)


class MembershipLookup:
    """Stored statuses of segments outside the job, one shared column per segment of a
    grouped pass over earlier membership rows (``__profile_id``, ``segmentId``, ``status``)."""

    def __init__(self) -> None:
        self.columns: dict[str, str] = {}

    def __call__(self, segment_id: str) -> exp.Expr:
        name = self.columns.setdefault(segment_id, f"ms_{len(self.columns)}")
        column = exp.column(name, table=MEMBERSHIPS_ALIAS, quoted=True)
        return exp.Coalesce(this=column, expressions=[exp.false()])

    def aggregate_query(self, memberships: exp.Expr) -> exp.Select:
        profile_id = exp.column(PROFILE_ID_COLUMN, table="m", quoted=True)
        segment = exp.column("segmentId", table="m", quoted=True)
        statuses = [exp.Literal.string(status) for status in QUALIFYING_STATUSES]
        qualifying = exp.In(this=exp.column("status", table="m", quoted=True), expressions=statuses)
        columns: list[exp.Expr] = [exp.alias_(profile_id, PROFILE_ID_COLUMN, quoted=True)]
        for segment_id, name in self.columns.items():
            test = exp.and_(
                exp.EQ(this=segment.copy(), expression=exp.Literal.string(segment_id)),
                qualifying.copy(),
                copy=False,
            )
            count = exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=test))
            columns.append(
                exp.alias_(exp.GT(this=count, expression=exp.Literal.number(0)), name, quoted=True)
            )
        wanted = [exp.Literal.string(segment_id) for segment_id in self.columns]
        return (
            exp.select(*columns)
            .from_(aliased(memberships, "m"))
            .where(exp.In(this=segment.copy(), expressions=wanted))
            .group_by(profile_id.copy())
        )


def plan_segments(
    segments: Sequence[tuple[str, Expr]],
    now: datetime,
    *,
    profiles: Source = "profiles",
    events: Source | None = "events",
    compiler: type[LanguageCompiler] = DuckDBCompiler,
    profile_columns: Sequence[str] = (),
    memberships: Source | None = None,
    event_tiebreak: Sequence[str] = (),
) -> exp.Select:
    """One query evaluating every checked segment expression for every profile.

    ``profiles``/``events`` are table names or table expressions (``read_parquet(…)``); ``events``
    None means there are no events (every count is 0). ``inSegment`` of one of ``segments`` is
    evaluated in this query (compiled in place); of another segment, it reads ``memberships``
    (earlier membership rows) when given, else the profile's ``segmentMembership`` map. Events
    listed in order are ordered by timestamp, then ``event_tiebreak`` columns (lake order).
    The result has ``__profile_id``, then the ``profile_columns`` passed through, then one
    never-null boolean per segment (``seg_i``).
    """
    counts = GroupedEventCounts(compiler, available=events is not None, tiebreak=event_tiebreak)
    compiling = compiler(now, counts)
    compiling.job_segments = dict(segments)
    lookup = MembershipLookup()
    if memberships is not None:
        compiling.stored_membership = lookup
    alias = compiler.PROFILE_ALIAS
    columns: list[exp.Expr] = [exp.column(PROFILE_ID_COLUMN, table=alias, quoted=True)]
    columns += [exp.column(name, table=alias, quoted=True) for name in profile_columns]
    for index, (_, expression) in enumerate(segments):
        compiling.event_fields = event_fields_used([expression])
        predicate = compiling.predicate(expression)
        columns.append(exp.alias_(predicate, segment_column(index), quoted=True))
    query = exp.select(*columns).from_(aliased(_source(profiles), alias))
    if events is not None and counts.columns:
        aggregate = counts.aggregate_query(_source(events))
        query = _join_grouped(query, aggregate, EVENT_COUNTS, EVENT_COUNTS_ALIAS, alias)
    if events is not None and counts.lists:
        listed = counts.list_query(_source(events))
        query = _join_grouped(query, listed, EVENT_LISTS, EVENT_LISTS_ALIAS, alias)
    if memberships is not None and lookup.columns:
        aggregate = lookup.aggregate_query(_source(memberships))
        query = _join_grouped(query, aggregate, MEMBERSHIPS, MEMBERSHIPS_ALIAS, alias)
    return query


def _join_grouped(
    query: exp.Select, aggregate: exp.Select, name: str, alias: str, profile_alias: str
) -> exp.Select:
    """``WITH name AS (aggregate) … LEFT JOIN name AS alias USING the profile id``."""
    same_profile = exp.EQ(
        this=exp.column(PROFILE_ID_COLUMN, table=profile_alias, quoted=True),
        expression=exp.column(PROFILE_ID_COLUMN, table=alias, quoted=True),
    )
    table = aliased(_source(name), alias)
    return query.with_(exp.to_identifier(name, quoted=True), as_=aggregate).join(
        table, on=same_profile, join_type="left"
    )


def compile_expression(
    expression: Expr,
    now: datetime,
    *,
    engine: str = "duckdb",
    events: Source = "events",
) -> exp.Expr:
    """One checked expression as a never-null SQL boolean over ``profiles AS p``; its event
    sub-expressions are correlated subqueries over ``events``."""
    compiler = compiler_for(engine)
    counts = CorrelatedEventCounts(_source(events), compiler)
    return compiler(now, counts).predicate(expression)


def check_supported(expression: Expr, engine: str = "duckdb") -> None:
    """Raise ``PQLUnsupportedError`` (with the node's location) unless ``engine`` can evaluate
    the checked ``expression``: call it before a job starts."""
    compile_expression(expression, datetime.now(UTC), engine=engine)


def _source(source: Source) -> exp.Expr:
    if isinstance(source, str):
        return exp.Table(this=exp.to_identifier(source, quoted=True))
    return source
