"""Run segment jobs on embedded DuckDB: evaluate, diff against the previous run, write Parquet.

One connection per run. Stage 1 (evaluate) runs the planner's one-pass query over
``read_parquet(profiles)`` / ``read_parquet(events)`` into a long table of qualified
(profile, segment) pairs. Stage 2 (write) joins it with the previous run's rows to get each
row's status, COPYs the rows to Parquet and counts them. Every statement is a sqlglot tree;
file names, segment ids and PQL values reach DuckDB only as quoted literals.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
from sqlglot import exp

from segmint.engine.runners.membership import (
    EXITED,
    QUALIFYING_STATUSES,
    MembershipStats,
    QueryCancelled,
    SegmentCounts,
    Transition,
    segment_counts,
)
from segmint.engine.sql.compiler import aliased, temporal_literal
from segmint.engine.sql.duckdb import DuckDBCompiler
from segmint.engine.sql.planner import plan_segments, segment_column
from segmint.engine.timewindows import utc_naive
from segmint.pql.ast import Expr, XEvent
from segmint.pql.types import ArrayType, ObjectType
from segmint.pql.walk import descendants
from segmint.xdm.arrow import PROFILE_ID_COLUMN, table_schema

DIALECT = DuckDBCompiler.dialect
OUTPUT_FILE = "membership.parquet"
IDENTITY_MAP = "identityMap"
Previous = Sequence[tuple[Sequence[Path], Sequence[str]]]


class DuckDBRunner:
    """Evaluates segment jobs in an embedded DuckDB; :meth:`interrupt` cancels a running one."""

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: Path | None = None,
    ) -> None:
        self.config: dict[str, Any] = {"preserve_insertion_order": False}
        if threads is not None:
            self.config["threads"] = threads
        if memory_limit is not None:
            self.config["memory_limit"] = memory_limit
        if temp_directory is not None:
            self.config["temp_directory"] = str(temp_directory)
        self._lock = threading.Lock()
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._cancelled = False
        self._closed = False

    # --- cancellation ---------------------------------------------------------------------------

    def interrupt(self) -> None:
        """Cancel the running :meth:`run_membership` (it raises ``QueryCancelled``); thread-safe,
        a no-op when nothing runs."""
        with self._lock:
            if self._connection is not None:
                self._cancelled = True
                self._connection.interrupt()

    def close(self) -> None:
        """Stop accepting jobs and cancel a running one; each run closes its own connection."""
        with self._lock:
            self._closed = True
        self.interrupt()

    def __enter__(self) -> DuckDBRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        connection = duckdb.connect(":memory:", config=self.config)
        with self._lock:
            if self._connection is not None or self._closed:
                connection.close()
                raise RuntimeError("this DuckDBRunner is closed or already running a job")
            self._connection, self._cancelled = connection, False
        try:
            yield connection
        finally:
            with self._lock:
                self._connection = None
            connection.close()

    def _execute(self, connection: duckdb.DuckDBPyConnection, statement: exp.Expr) -> None:
        self._fetch(connection, statement, fetch=False)

    def _fetch(
        self, connection: duckdb.DuckDBPyConnection, statement: exp.Expr, fetch: bool = True
    ) -> list[tuple[Any, ...]]:
        # The flag is checked around each statement: an interrupt landing between two
        # statements (when DuckDB has nothing to interrupt) still cancels the run.
        self._raise_if_cancelled()
        try:
            result = connection.execute(statement.sql(dialect=DIALECT))
            rows = result.fetchall() if fetch else []
        except duckdb.InterruptException as error:
            raise QueryCancelled("the segment evaluation was cancelled") from error
        self._raise_if_cancelled()
        return rows

    def _raise_if_cancelled(self) -> None:
        with self._lock:
            if self._cancelled:
                raise QueryCancelled("the segment evaluation was cancelled")

    # --- the job --------------------------------------------------------------------------------

    def run_membership(
        self,
        *,
        profile_files: Sequence[Path],
        event_files: Sequence[Path],
        segments: Sequence[tuple[str, Expr]],
        now: datetime,
        previous: Previous,
        out_dir: Path,
        namespaces: bool = True,
        memberships: Previous = (),
        person_keys: Sequence[Path] = (),
    ) -> MembershipStats:
        """Evaluate every segment over the profiles and their events in one pass, derive each
        (profile, segment) status against ``previous`` (batch files, segment ids to take from
        them), write the rows as Parquet into ``out_dir`` and return the counts.
        ``memberships`` (batch files, segment ids to take from them) are the earlier runs that
        ``inSegment`` of a segment outside this job reads; without them it reads the profiles'
        ``segmentMembership``. ``person_keys`` (identity → person files) give each event the
        profile it belongs to when profiles are stitched; without them an event belongs to the
        profile of its primary identity."""
        segment_ids = [segment_id for segment_id, _ in segments]
        _check_unique(segment_ids, previous)
        now = utc_naive(now)
        with self._connect() as connection, _typed_events(event_files, segments) as events:
            started = time.perf_counter()
            source = keyed_events(events, person_keys) if events else None
            total = self._evaluate(
                connection, profile_files, source, segments, now, namespaces, memberships
            )
            evaluated = time.perf_counter()
            counted = namespaces and bool(profile_files and segment_ids)
            stats = self._write(connection, segment_ids, previous, now, out_dir, counted)
            written = time.perf_counter()
        return MembershipStats(
            total_profiles=total,
            segments=stats,
            evaluate_ms=(evaluated - started) * 1000,
            write_ms=(written - evaluated) * 1000,
        )

    def _evaluate(
        self,
        connection: duckdb.DuckDBPyConnection,
        profile_files: Sequence[Path],
        events: exp.Expr | None,
        segments: Sequence[tuple[str, Expr]],
        now: datetime,
        namespaces: bool,
        memberships: Previous,
    ) -> int:
        self._execute(connection, _create_qualified_table())
        if not profile_files:
            return 0
        if segments:
            plan = plan_segments(
                segments,
                now,
                profiles=read_parquet(profile_files),
                events=events,
                compiler=DuckDBCompiler,
                profile_columns=(IDENTITY_MAP,) if namespaces else (),
                memberships=stored_memberships(memberships),
                event_tiebreak=EVENT_TIEBREAK,
            )
            self._execute(connection, _create_evaluated_table(plan, len(segments), namespaces))
            self._execute(connection, _insert_qualified(len(segments)))
        count = exp.select(exp.Count(this=exp.Star())).from_(read_parquet(profile_files))
        return int(self._fetch(connection, count)[0][0])

    def _write(
        self,
        connection: duckdb.DuckDBPyConnection,
        segment_ids: Sequence[str],
        previous: Previous,
        now: datetime,
        out_dir: Path,
        namespaces: bool,
    ) -> dict[str, SegmentCounts]:
        self._execute(connection, _create_previous_table())
        for files, ids in previous:
            wanted = [i for i in ids if i in segment_ids]
            if files and wanted:
                self._execute(connection, _insert_previous(files, wanted, segment_ids))
        self._execute(connection, _create_membership_table(now))
        out_dir.mkdir(parents=True, exist_ok=True)
        self._execute(connection, _copy_membership(segment_ids, out_dir / OUTPUT_FILE))
        transitions: dict[int, dict[Transition, int]] = defaultdict(dict)
        for seg, code, count in self._fetch(connection, _count_transitions()):
            transitions[seg][Transition(code)] = count
        by_namespace: dict[int, dict[str, int]] = defaultdict(dict)
        if namespaces:  # the evaluated table exists
            for namespace, *counts in self._fetch(connection, _count_namespaces(len(segment_ids))):
                for seg, count in enumerate(counts):
                    if count:
                        by_namespace[seg][namespace] = count
        return {
            segment_id: segment_counts(transitions[index], by_namespace[index])
            for index, segment_id in enumerate(segment_ids)
        }


@contextmanager
def _typed_events(
    event_files: Sequence[Path], segments: Sequence[tuple[str, Expr]]
) -> Iterator[Sequence[Path]]:
    """The event files; without any, a zero-row file with the layout of the events the
    segments read, so event values keep their types (a timestamp stays a TIMESTAMP)."""
    if event_files:
        yield event_files
        return
    event_type = _event_type(segments)
    if event_type is None:
        yield event_files
        return
    with tempfile.TemporaryDirectory(prefix="segmint-events-") as scratch:
        anchor = Path(scratch) / "events.parquet"
        pq.write_table(table_schema(event_type).empty_table(), anchor)
        yield [anchor]


def _event_type(segments: Sequence[tuple[str, Expr]]) -> ObjectType | None:
    for node, _ in descendants(expression for _, expression in segments):
        if isinstance(node, XEvent) and isinstance(node.type, ArrayType):
            item = node.type.item
            if isinstance(item, ObjectType):
                return item
    return None


def _check_unique(segment_ids: Sequence[str], previous: Previous) -> None:
    if len(set(segment_ids)) != len(segment_ids):
        raise ValueError("segment ids must be unique")
    seen: set[str] = set()
    for _, ids in previous:
        repeated = seen.intersection(ids)
        if repeated:
            raise ValueError(f"previous membership of {sorted(repeated)} given twice")
        seen.update(ids)


# --- statements (sqlglot trees) ----------------------------------------------------------------


EVENT_TIEBREAK = ("filename", "file_row_number")
MEMBERSHIP_COLUMNS = (PROFILE_ID_COLUMN, "segmentId", "status")


def stored_memberships(batches: Previous) -> exp.Expr | None:
    """The rows of earlier batches for the segments taken from each (``UNION ALL``), or None
    when there are none."""
    selects = [
        exp.select(*(_column(name) for name in MEMBERSHIP_COLUMNS))
        .from_(read_parquet(files))
        .where(exp.In(this=_column("segmentId"), expressions=[exp.Literal.string(i) for i in ids]))
        for files, ids in batches
        if files and ids
    ]
    if not selects:
        return None
    union: exp.Query = selects[0]
    for select in selects[1:]:
        union = exp.union(union, select, distinct=False)
    return exp.Subquery(this=union)


def read_parquet(files: Sequence[Path], *, lake_order: bool = False) -> exp.Expr:
    """``read_parquet(['f1', …], union_by_name = TRUE)``: batches may differ in their columns.
    ``lake_order`` adds the ``filename``/``file_row_number`` columns (events of equal timestamp
    keep their order in the lake)."""
    paths = exp.Array(expressions=[exp.Literal.string(str(path)) for path in files])
    options = ["union_by_name", *(EVENT_TIEBREAK if lake_order else ())]
    flags = [exp.EQ(this=exp.column(option), expression=exp.true()) for option in options]
    return exp.ReadParquet(expressions=[paths, *flags])


KEY_IDENTITY, KEY_PERSON = "__key_identity", "__key_person"


def keyed_events(event_files: Sequence[Path], person_keys: Sequence[Path]) -> exp.Expr:
    """The events in lake order; with ``person_keys``, each carrying as ``__profile_id`` the
    person its primary identity belongs to (an identity without a key stays its own person)."""
    events = read_parquet(event_files, lake_order=True)
    if not person_keys:
        return events
    keys = exp.select(
        exp.alias_(_column("identity"), KEY_IDENTITY, quoted=True),
        exp.alias_(_column("person"), KEY_PERSON, quoted=True),
    ).from_(read_parquet(person_keys))
    person = exp.Coalesce(
        this=_column(KEY_PERSON, "k"), expressions=[_column(PROFILE_ID_COLUMN, "e")]
    )
    others = exp.Star(except_=[_column(c) for c in (PROFILE_ID_COLUMN, KEY_IDENTITY, KEY_PERSON)])
    rows = (
        exp.select(exp.alias_(person, PROFILE_ID_COLUMN, quoted=True), others)
        .from_(aliased(events, "e"))
        .join(
            exp.Subquery(this=keys, alias=exp.TableAlias(this=exp.to_identifier("k"))),
            on=exp.EQ(this=_column(KEY_IDENTITY, "k"), expression=_column(PROFILE_ID_COLUMN, "e")),
            join_type="left",
        )
    )
    return exp.Subquery(this=rows)


def _table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def _column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def _create_table(name: str, columns: Sequence[tuple[str, str]]) -> exp.Create:
    definitions = [
        exp.ColumnDef(this=exp.to_identifier(column, quoted=True), kind=exp.DataType.build(kind))
        for column, kind in columns
    ]
    return exp.Create(
        kind="TABLE",
        this=exp.Schema(this=_table(name), expressions=definitions),
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def _create_qualified_table() -> exp.Create:
    return _create_table("qualified", [(PROFILE_ID_COLUMN, "VARCHAR"), ("seg", "INTEGER")])


def _create_evaluated_table(plan: exp.Select, segment_count: int, namespaces: bool) -> exp.Create:
    """The plan's result, one row per profile: its id, its identity namespaces (for the
    per-namespace counters) and one boolean per segment. Kept apart from the (profile, segment)
    rows, so the namespaces are stored once per profile, not once per qualification."""
    keys: exp.Expr = (
        exp.func("MAP_KEYS", _column(IDENTITY_MAP, "plan")) if namespaces else exp.null()
    )
    rows = exp.select(
        _column(PROFILE_ID_COLUMN, "plan"),
        exp.alias_(keys, "namespaces", quoted=True),
        *(_column(segment_column(i), "plan") for i in range(segment_count)),
    ).from_(exp.Subquery(this=plan, alias=exp.TableAlias(this=exp.to_identifier("plan"))))
    return exp.Create(
        kind="TABLE",
        this=_table("evaluated"),
        expression=rows,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def _insert_qualified(segment_count: int) -> exp.Insert:
    """One row per (profile, qualifying segment): the boolean columns unnested."""
    flags = [
        exp.Case().when(_column(segment_column(i)), exp.Literal.number(i))
        for i in range(segment_count)
    ]
    unnested = exp.select(
        _column(PROFILE_ID_COLUMN),
        exp.alias_(exp.Unnest(expressions=[exp.Array(expressions=flags)]), "seg", quoted=True),
    ).from_(_table("evaluated"))
    rows = (
        exp.select(_column(PROFILE_ID_COLUMN), _column("seg"))
        .from_(exp.Subquery(this=unnested, alias=exp.TableAlias(this=exp.to_identifier("u"))))
        .where(exp.Not(this=exp.Is(this=_column("seg"), expression=exp.Null())))
    )
    return exp.insert(rows, _table("qualified"))


def _create_previous_table() -> exp.Create:
    return _create_table(
        "previous",
        [
            (PROFILE_ID_COLUMN, "VARCHAR"),
            ("seg", "INTEGER"),
            ("status", "VARCHAR"),
            ("lastQualificationTime", "TIMESTAMP"),
        ],
    )


def _segment_values(segment_ids: Sequence[str]) -> exp.Expr:
    """``(VALUES (0, 'id0'), …) AS segments(seg, segmentId)`` (a typed empty table for none)."""
    if not segment_ids:
        nothing = exp.select(
            exp.alias_(exp.cast(exp.null(), "INTEGER"), "seg", quoted=True),
            exp.alias_(exp.cast(exp.null(), "VARCHAR"), "segmentId", quoted=True),
        ).where(exp.false())
        return exp.Subquery(this=nothing, alias=exp.TableAlias(this=exp.to_identifier("segments")))
    return exp.values(
        [(index, segment_id) for index, segment_id in enumerate(segment_ids)],
        alias="segments",
        columns=["seg", "segmentId"],
    )


def _strings(values: Sequence[str]) -> list[exp.Expr]:
    return [exp.Literal.string(value) for value in values]


def _insert_previous(
    files: Sequence[Path], wanted: Sequence[str], segment_ids: Sequence[str]
) -> exp.Insert:
    known = (*QUALIFYING_STATUSES, EXITED)
    rows = (
        exp.select(
            _column(PROFILE_ID_COLUMN, "r"),
            _column("seg", "segments"),
            _column("status", "r"),
            _column("lastQualificationTime", "r"),
        )
        .from_(aliased(read_parquet(files), "r"))
        .join(
            _segment_values(segment_ids),
            on=exp.EQ(this=_column("segmentId", "r"), expression=_column("segmentId", "segments")),
        )
        .where(exp.In(this=_column("segmentId", "r"), expressions=_strings(wanted)))
        .where(exp.In(this=_column("status", "r"), expressions=_strings(known)))
    )
    return exp.insert(rows, _table("previous"))


def _create_membership_table(now: datetime) -> exp.Create:
    """Every (profile, segment) row of this run with its :class:`Transition` code."""
    qualifies = exp.Not(this=exp.Is(this=_column("seg", "q"), expression=exp.Null()))
    was_in = exp.In(this=_column("status", "r"), expressions=_strings(QUALIFYING_STATUSES))
    was_exited = exp.EQ(this=_column("status", "r"), expression=exp.Literal.string(EXITED))
    code = (
        exp.Case()
        .when(exp.and_(qualifies, was_in), exp.Literal.number(Transition.EXISTING.value))
        .when(qualifies.copy(), exp.Literal.number(Transition.REALIZED.value))
        .when(was_exited, exp.Literal.number(Transition.CARRIED_EXITED.value))
        .else_(exp.Literal.number(Transition.EXITED.value))
    )
    carried = exp.and_(exp.Not(this=qualifies.copy()), was_exited.copy())
    qualified_at = (
        exp.Case().when(carried, _column("lastQualificationTime", "r")).else_(temporal_literal(now))
    )
    same_row = exp.and_(
        exp.EQ(this=_column(PROFILE_ID_COLUMN, "q"), expression=_column(PROFILE_ID_COLUMN, "r")),
        exp.EQ(this=_column("seg", "q"), expression=_column("seg", "r")),
    )
    rows = (
        exp.select(
            exp.alias_(_coalesce(PROFILE_ID_COLUMN), PROFILE_ID_COLUMN, quoted=True),
            exp.alias_(_coalesce("seg"), "seg", quoted=True),
            exp.alias_(code, "code", quoted=True),
            exp.alias_(qualified_at, "lastQualificationTime", quoted=True),
        )
        .from_(aliased(_table("qualified"), "q"))
        .join(aliased(_table("previous"), "r"), on=same_row, join_type="full outer")
    )
    return exp.Create(
        kind="TABLE",
        this=_table("membership"),
        expression=rows,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def _coalesce(column: str) -> exp.Expr:
    return exp.Coalesce(this=_column(column, "q"), expressions=[_column(column, "r")])


def _copy_membership(segment_ids: Sequence[str], target: Path) -> exp.Copy:
    status = exp.Case()
    for transition in (Transition.REALIZED, Transition.EXISTING):
        status = status.when(
            exp.EQ(this=_column("code", "m"), expression=exp.Literal.number(transition.value)),
            exp.Literal.string(transition.status),
        )
    rows = (
        exp.select(
            _column(PROFILE_ID_COLUMN, "m"),
            _column("segmentId", "segments"),
            exp.alias_(status.else_(exp.Literal.string(EXITED)), "status", quoted=True),
            _column("lastQualificationTime", "m"),
        )
        .from_(aliased(_table("membership"), "m"))
        .join(
            _segment_values(segment_ids),
            on=exp.EQ(this=_column("seg", "m"), expression=_column("seg", "segments")),
        )
    )
    return exp.Copy(
        this=exp.Subquery(this=rows),
        kind=False,
        files=[exp.Literal.string(str(target))],
        params=[exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("PARQUET"))],
    )


def _count_transitions() -> exp.Select:
    return (
        exp.select(_column("seg"), _column("code"), exp.Count(this=exp.Star()))
        .from_(_table("membership"))
        .group_by(_column("seg"), _column("code"))
    )


def _count_namespaces(segment_count: int) -> exp.Select:
    """Per identity namespace, how many profiles qualify for each segment (one column each)."""
    namespaces = exp.select(
        exp.alias_(exp.Unnest(expressions=[_column("namespaces")]), "namespace", quoted=True),
        *(_column(segment_column(i)) for i in range(segment_count)),
    ).from_(_table("evaluated"))
    counts = [
        exp.Filter(
            this=exp.Count(this=exp.Star()),
            expression=exp.Where(this=_column(segment_column(i))),
        )
        for i in range(segment_count)
    ]
    return (
        exp.select(_column("namespace"), *counts)
        .from_(exp.Subquery(this=namespaces, alias=exp.TableAlias(this=exp.to_identifier("n"))))
        .group_by(_column("namespace"))
    )
