"""Run segment jobs on Spark (PySpark): the same plan over the same Parquet lake as DuckDB.

One SparkSession per process, created on first use (``local[2]`` unless told otherwise) and
shared by every runner: starting one takes seconds. A run reads the profile and event files
(schemas merged by column name, like DuckDB's ``union_by_name``) into temporary views, runs the
planner's one-pass query compiled by :class:`SparkCompiler`, unnests it into qualified
(profile, segment) pairs, diffs them against the previous run (realized / existing / exited,
the rules of :mod:`segmint.engine.runners.membership`) and writes the rows as Parquet with the
DuckDB runner's columns and types. Every Spark job of a run carries one job group, so
:meth:`SparkRunner.interrupt` cancels whatever is running. Output is written to a hidden
staging directory and moved into ``out_dir`` only once complete.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from segmint.engine.runners.membership import (
    EXITED,
    MEMBERSHIP_COLUMNS,
    QUALIFYING_STATUSES,
    MembershipStats,
    QueryCancelled,
    SegmentCounts,
    Transition,
    segment_counts,
)
from segmint.engine.sql.planner import plan_segments, segment_column
from segmint.engine.sql.spark import SparkCompiler
from segmint.engine.timewindows import utc_naive
from segmint.pql.ast import Expr
from segmint.xdm.arrow import PROFILE_ID_COLUMN

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

DIALECT = SparkCompiler.dialect
DEFAULT_MASTER = "local[2]"
DEFAULT_SHUFFLE_PARTITIONS = 16
OUTPUT_PREFIX = "membership"
IDENTITY_MAP = "identityMap"
# Whole-stage codegen makes one huge method of a wide FILTER aggregate; the JVM refuses to JIT
# methods over 8 kB and runs it interpreted, 10x slower (engine-measurements.md, Spark).
JIT_FLAG = "-XX:-DontCompileHugeMethods"
Previous = Sequence[tuple[Sequence[Path], Sequence[str]]]
EVENT_TIEBREAK = ("filename", "file_row_number")
T = TypeVar("T")


@dataclass(frozen=True)
class Sources:
    """The Parquet files a run reads."""

    profiles: Sequence[Path]
    events: Sequence[Path]
    memberships: Previous
    person_keys: Sequence[Path] = ()


_session_lock = threading.Lock()
_session: SparkSession | None = None
_session_started_s: float | None = None


class SparkJobError(RuntimeError):
    """Spark could not evaluate or write a segment job (the message says why)."""


def session_conf(
    master: str = DEFAULT_MASTER,
    shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS,
    driver_memory: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The configuration Segmint starts its SparkSession with (``extra`` added last)."""
    conf = {
        "spark.master": master,
        "spark.app.name": "segmint",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.driver.extraJavaOptions": JIT_FLAG,
        "spark.executor.extraJavaOptions": JIT_FLAG,
    }
    if driver_memory:
        conf["spark.driver.memory"] = driver_memory
    conf.update(extra or {})
    return conf


def spark_session(conf: Mapping[str, str] | None = None) -> SparkSession:
    """This process's SparkSession, started with ``conf`` (:func:`session_conf` by default) the
    first time; later calls return the same session whatever they pass."""
    global _session, _session_started_s
    with _session_lock:
        if _session is None:
            from pyspark.sql import SparkSession

            started = time.perf_counter()
            builder = SparkSession.builder
            for key, value in (conf if conf is not None else session_conf()).items():
                builder = builder.config(key, value)
            session = builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
            _session, _session_started_s = session, time.perf_counter() - started
        return _session


def session_start_seconds() -> float | None:
    """How long this process's SparkSession took to start (None before it has)."""
    return _session_started_s


class SparkRunner:
    """Evaluates segment jobs on Spark; :meth:`interrupt` cancels a running one. The session
    is shared: :meth:`close` stops this runner, never the session."""

    def __init__(
        self,
        *,
        master: str = DEFAULT_MASTER,
        shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS,
        driver_memory: str | None = None,
        session: SparkSession | None = None,
    ) -> None:
        self.conf = session_conf(master, shuffle_partitions, driver_memory)
        self._session = session
        self._lock = threading.Lock()
        self._group: str | None = None
        self._cancelled = False
        self._closed = False

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            self._session = spark_session(self.conf)
        return self._session

    # --- cancellation ---------------------------------------------------------------------------

    def interrupt(self) -> None:
        """Cancel the running :meth:`run_membership` (it raises ``QueryCancelled``); thread-safe,
        a no-op when nothing runs."""
        with self._lock:
            if self._group is None:
                return
            self._cancelled = True
            group = self._group
        self.session.sparkContext.cancelJobGroup(group)

    def close(self) -> None:
        """Stop accepting jobs and cancel a running one."""
        with self._lock:
            self._closed = True
        self.interrupt()

    def __enter__(self) -> SparkRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _job_group(self) -> Iterator[str]:
        group = f"segmint-{uuid.uuid4().hex}"
        with self._lock:
            if self._group is not None or self._closed:
                raise RuntimeError("this SparkRunner is closed or already running a job")
            self._group, self._cancelled = group, False
        context = self.session.sparkContext
        # Pinned threads: the group applies to the jobs this Python thread starts.
        context.setJobGroup(group, "segment job", interruptOnCancel=True)
        try:
            yield group
        finally:
            with self._lock:
                self._group = None
            context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]

    def _action(self, what: str, run: Callable[[], T]) -> T:
        """Run one Spark action; a cancellation or failure becomes a clear exception."""
        self._raise_if_cancelled()
        try:
            result = run()
        except Exception as error:
            with self._lock:
                cancelled = self._cancelled
            if cancelled:
                raise QueryCancelled("the segment evaluation was cancelled") from error
            raise SparkJobError(f"Spark failed to {what}: {_first_line(error)}") from error
        self._raise_if_cancelled()
        return result

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
        profile it belongs to when profiles are stitched."""
        segment_ids = [segment_id for segment_id, _ in segments]
        _check_unique(segment_ids, previous)
        now = utc_naive(now)
        spark = self.session
        views: list[str] = []
        cached: list[DataFrame] = []
        with self._job_group():
            try:
                started = time.perf_counter()
                sources = Sources(profile_files, event_files, memberships, person_keys)
                qualified, total = self._evaluate(spark, sources, segments, now, namespaces, views)
                qualified = qualified.persist()
                cached.append(qualified)
                evaluated = time.perf_counter()
                stats = self._write(
                    spark, qualified, segment_ids, previous, now, out_dir, namespaces, cached
                )
                written = time.perf_counter()
            finally:
                for frame in cached:
                    frame.unpersist()
                for view in views:
                    spark.catalog.dropTempView(view)
        return MembershipStats(
            total_profiles=total,
            segments=stats,
            evaluate_ms=(evaluated - started) * 1000,
            write_ms=(written - evaluated) * 1000,
        )

    def _evaluate(
        self,
        spark: SparkSession,
        sources: Sources,
        segments: Sequence[tuple[str, Expr]],
        now: datetime,
        namespaces: bool,
        views: list[str],
    ) -> tuple[DataFrame, int]:
        """The qualified pairs ``(__profile_id, seg, namespaces)`` and the number of profiles."""
        from pyspark.sql import functions as F

        empty = spark.createDataFrame(
            [], f"`{PROFILE_ID_COLUMN}` STRING, seg INT, namespaces ARRAY<STRING>"
        )
        if not sources.profiles:
            return empty, 0
        prefix = f"segmint_{uuid.uuid4().hex}"

        def view(name: str, frame: DataFrame) -> str:
            frame.createOrReplaceTempView(f"{prefix}_{name}")
            views.append(f"{prefix}_{name}")
            return f"{prefix}_{name}"

        def read(name: str, files: Sequence[Path], lake_order: bool = False) -> str:
            frame = self._action(
                f"read the {name}", lambda: read_parquet(spark, files, lake_order=lake_order)
            )
            return view(name, frame)

        profiles = read("profiles", sources.profiles)
        total = self._action("count the profiles", spark.table(profiles).count)
        if not segments:
            return empty, total
        events = memberships = None
        if sources.events:
            frame = self._action(
                "read the events",
                lambda: keyed_events(spark, sources.events, sources.person_keys),
            )
            events = view("events", frame)
        batches = [(files, ids) for files, ids in sources.memberships if files and ids]
        if batches:
            memberships = view("memberships", self._stored(spark, batches))
        plan = plan_segments(
            segments,
            now,
            profiles=profiles,
            events=events,
            compiler=SparkCompiler,
            profile_columns=(IDENTITY_MAP,) if namespaces else (),
            memberships=memberships,
            event_tiebreak=EVENT_TIEBREAK,
        )
        frame = self._action("compile the segment query", lambda: spark.sql(plan.sql(DIALECT)))
        flags = [F.when(F.col(segment_column(i)), F.lit(i)) for i in range(len(segments))]
        keys: Column = (
            F.map_keys(F.col(IDENTITY_MAP)) if namespaces else F.lit(None).cast("array<string>")
        )
        qualified = frame.select(
            F.col(PROFILE_ID_COLUMN),
            F.explode(F.filter(F.array(*flags), lambda seg: seg.isNotNull())).alias("seg"),
            keys.alias("namespaces"),
        )
        return qualified, total

    def _write(
        self,
        spark: SparkSession,
        qualified: DataFrame,
        segment_ids: Sequence[str],
        previous: Previous,
        now: datetime,
        out_dir: Path,
        namespaces: bool,
        cached: list[DataFrame],
    ) -> dict[str, SegmentCounts]:
        from pyspark.sql import functions as F

        ids = spark.createDataFrame(list(enumerate(segment_ids)), "seg INT, segmentId STRING").hint(
            "broadcast"
        )
        membership = _membership(
            qualified, self._previous(spark, previous, segment_ids, ids), now
        ).persist()
        cached.append(membership)
        status = F.when(F.col("code") == Transition.REALIZED.value, "realized")
        status = status.when(F.col("code") == Transition.EXISTING.value, "existing")
        rows = membership.join(ids, "seg").select(
            F.col(PROFILE_ID_COLUMN),
            F.col("segmentId"),
            status.otherwise(EXITED).alias("status"),
            F.col("lastQualificationTime"),
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = out_dir / f".spark-{uuid.uuid4().hex}"
        try:
            self._action("write the membership", lambda: rows.write.parquet(str(staging)))
            transitions: dict[int, dict[Transition, int]] = defaultdict(dict)
            counted = self._action(
                "count the memberships",
                lambda: membership.groupBy("seg", "code").count().collect(),
            )
            for row in counted:
                transitions[row["seg"]][Transition(row["code"])] = row["count"]
            by_namespace: dict[int, dict[str, int]] = defaultdict(dict)
            if namespaces:
                exploded = qualified.select("seg", F.explode("namespaces").alias("namespace"))
                grouped = self._action(
                    "count the namespaces",
                    lambda: exploded.groupBy("seg", "namespace").count().collect(),
                )
                for row in grouped:
                    by_namespace[row["seg"]][row["namespace"]] = row["count"]
            _publish(staging, out_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return {
            segment_id: segment_counts(transitions[index], by_namespace[index])
            for index, segment_id in enumerate(segment_ids)
        }

    def _stored(self, spark: SparkSession, batches: Previous) -> DataFrame:
        """The rows of earlier batches for the segments taken from each, unioned."""
        from pyspark.sql import functions as F

        frames = []
        for files, ids in batches:
            rows = self._action("read stored memberships", partial(read_parquet, spark, files))
            selected = rows.where(F.col("segmentId").isin(list(ids)))
            frames.append(selected.select(PROFILE_ID_COLUMN, "segmentId", "status"))
        result = frames[0]
        for frame in frames[1:]:
            result = result.unionByName(frame)
        return result

    def _previous(
        self, spark: SparkSession, previous: Previous, segment_ids: Sequence[str], ids: DataFrame
    ) -> DataFrame:
        """The previous run's rows of this job's segments: ``(__profile_id, seg, status,
        lastQualificationTime)``."""
        from pyspark.sql import functions as F

        schema = (
            f"`{PROFILE_ID_COLUMN}` STRING, seg INT, status STRING,"
            " lastQualificationTime TIMESTAMP_NTZ"
        )
        known_ids = set(segment_ids)
        frames: list[DataFrame] = []
        for files, batch_ids in previous:
            wanted = [i for i in batch_ids if i in known_ids]
            if not (files and wanted):
                continue
            previous_rows = self._action(
                "read the previous membership", partial(read_parquet, spark, files)
            )
            rows = previous_rows.where(
                F.col("segmentId").isin(wanted)
                & F.col("status").isin([*QUALIFYING_STATUSES, EXITED])
            )
            frames.append(
                rows.join(ids, "segmentId").select(
                    F.col(PROFILE_ID_COLUMN),
                    F.col("seg"),
                    F.col("status"),
                    F.col("lastQualificationTime").cast("timestamp_ntz"),
                )
            )
        if not frames:
            return spark.createDataFrame([], schema)
        result = frames[0]
        for frame in frames[1:]:
            result = result.unionByName(frame)
        return result


def _membership(qualified: DataFrame, previous: DataFrame, now: datetime) -> DataFrame:
    """Every (profile, segment) row of this run with its :class:`Transition` code."""
    from pyspark.sql import functions as F

    q, r = qualified.alias("q"), previous.alias("r")
    same_row = (F.col(f"q.{PROFILE_ID_COLUMN}") == F.col(f"r.{PROFILE_ID_COLUMN}")) & (
        F.col("q.seg") == F.col("r.seg")
    )
    qualifies = F.col("q.seg").isNotNull()
    was_in = F.col("r.status").isin(list(QUALIFYING_STATUSES))
    was_exited = F.col("r.status") == EXITED
    code = (
        F.when(qualifies & was_in, Transition.EXISTING.value)
        .when(qualifies, Transition.REALIZED.value)
        .when(was_exited, Transition.CARRIED_EXITED.value)
        .otherwise(Transition.EXITED.value)
    )
    stamp = now.isoformat(sep=" ", timespec="microseconds")
    qualified_at = F.when(~qualifies & was_exited, F.col("r.lastQualificationTime")).otherwise(
        F.lit(stamp).cast("timestamp_ntz")
    )
    return q.join(r, same_row, "full_outer").select(
        F.coalesce(F.col(f"q.{PROFILE_ID_COLUMN}"), F.col(f"r.{PROFILE_ID_COLUMN}")).alias(
            PROFILE_ID_COLUMN
        ),
        F.coalesce(F.col("q.seg"), F.col("r.seg")).alias("seg"),
        code.alias("code"),
        qualified_at.alias("lastQualificationTime"),
    )


def read_parquet(
    spark: SparkSession, files: Sequence[Path], *, lake_order: bool = False
) -> DataFrame:
    """The files as one DataFrame, columns merged by name (batches may differ in columns).
    ``lake_order`` adds the ``filename``/``file_row_number`` columns, as DuckDB's reader does
    (events of equal timestamp keep their order in the lake)."""
    from pyspark.sql import functions as F

    paths = [_literal_path(path) for path in files]
    frame = spark.read.option("mergeSchema", "true").parquet(*paths)
    if not lake_order:
        return frame
    return frame.select(
        "*",
        F.col("_metadata.file_path").alias(EVENT_TIEBREAK[0]),
        F.col("_metadata.row_index").alias(EVENT_TIEBREAK[1]),
    )


def keyed_events(
    spark: SparkSession, event_files: Sequence[Path], person_keys: Sequence[Path]
) -> DataFrame:
    """The events in lake order; with ``person_keys``, each carrying as ``__profile_id`` the
    person its primary identity belongs to (an identity without a key stays its own person)."""
    from pyspark.sql import functions as F

    events = read_parquet(spark, event_files, lake_order=True)
    if not person_keys:
        return events
    keys = read_parquet(spark, person_keys).select(
        F.col("identity").alias("__key_identity"), F.col("person").alias("__key_person")
    )
    joined = events.join(
        keys, events[PROFILE_ID_COLUMN] == keys["__key_identity"], "left"
    ).withColumn(PROFILE_ID_COLUMN, F.coalesce(F.col("__key_person"), F.col(PROFILE_ID_COLUMN)))
    return joined.drop("__key_identity", "__key_person")


def _literal_path(path: Path) -> str:
    """An absolute path Hadoop does not expand as a glob."""
    text = str(path.resolve())
    for special in "\\*?[]{}":
        text = text.replace(special, "\\" + special)
    return text


def _publish(staging: Path, out_dir: Path) -> None:
    """Move the written part files into ``out_dir`` under stable names (all or none)."""
    parts = sorted(staging.glob("part-*.parquet"))
    moved: list[Path] = []
    try:
        if not parts:
            target = out_dir / f"{OUTPUT_PREFIX}-00000.parquet"
            pq.write_table(_EMPTY_MEMBERSHIP.empty_table(), target)
            moved.append(target)
        for index, part in enumerate(parts):
            target = out_dir / f"{OUTPUT_PREFIX}-{index:05d}.parquet"
            part.rename(target)
            moved.append(target)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise


_EMPTY_MEMBERSHIP = pa.schema(
    [
        (MEMBERSHIP_COLUMNS[0], pa.string()),
        (MEMBERSHIP_COLUMNS[1], pa.string()),
        (MEMBERSHIP_COLUMNS[2], pa.string()),
        (MEMBERSHIP_COLUMNS[3], pa.timestamp("us")),
    ]
)


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _check_unique(segment_ids: Sequence[str], previous: Previous) -> None:
    if len(set(segment_ids)) != len(segment_ids):
        raise ValueError("segment ids must be unique")
    seen: set[str] = set()
    for _, ids in previous:
        repeated = seen.intersection(ids)
        if repeated:
            raise ValueError(f"previous membership of {sorted(repeated)} given twice")
        seen.update(ids)
