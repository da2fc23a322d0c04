"""Running one claimed segment job: compile its definitions, evaluate them in one pass,
diff against the previous memberships, and build the metrics of the job object."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from segmint import pql
from segmint.clock import ms_to_datetime, now_ms
from segmint.engine import DuckDBRunner, MembershipStats, Runner
from segmint.jobs.expressions import compile_expression
from segmint.jobs.model import SegmentJob
from segmint.jobs.ports import LakeCatalog
from segmint.pql.ast import Expr
from segmint.pql.types import Schema
from segmint.pql.walk import segment_references
from segmint.xdm import DEFAULT_SCHEMA, event_schema, profile_schema


class DefinitionCompileError(Exception):
    """A definition of the job no longer compiles (the job fails with this message)."""

    def __init__(self, segment_id: str, error: pql.PQLError) -> None:
        super().__init__(f"segment {segment_id}: {error}")
        self.segment_id = segment_id
        self.error = error


@dataclass(frozen=True)
class EngineSettings:
    threads: int | None = None
    memory_limit: str | None = None
    temp_directory: Path | None = None
    engine: str = "duckdb"
    spark_master: str = "local[2]"
    spark_shuffle_partitions: int = 16
    spark_driver_memory: str | None = None

    def runner(self) -> Runner:
        if self.engine == "spark":
            from segmint.engine.runners.spark import SparkRunner

            return SparkRunner(
                master=self.spark_master,
                shuffle_partitions=self.spark_shuffle_partitions,
                driver_memory=self.spark_driver_memory,
            )
        return DuckDBRunner(
            threads=self.threads,
            memory_limit=self.memory_limit,
            temp_directory=self.temp_directory,
        )


@dataclass
class Evaluation:
    """The result of evaluating a job, ready to be published."""

    metrics: dict[str, Any]
    staging: Path
    final: Path
    evaluation_time_ms: int
    stage_ms: dict[str, float]
    published: bool = False

    def publish(self) -> None:
        """Make the membership batch visible: one atomic rename (called inside the
        transaction that records SUCCEEDED, so both happen or neither)."""
        if self.final.exists():
            raise FileExistsError(f"membership batch {self.final} already exists")
        self.staging.rename(self.final)
        self.published = True

    def discard(self) -> None:
        """Drop this evaluation's output; a batch it published is removed too (the commit
        that should have made it visible failed). Never touches a batch it did not write."""
        shutil.rmtree(self.staging, ignore_errors=True)
        if self.published:
            shutil.rmtree(self.final, ignore_errors=True)


def compile_definitions(
    job: SegmentJob, schema: Schema = DEFAULT_SCHEMA, engine: str = "duckdb"
) -> list[tuple[str, Expr]]:
    """Parse and check every definition snapshot of the job; the engine must support each."""
    compiled: list[tuple[str, Expr]] = []
    for snapshot in job.segments:
        try:
            expr = compile_expression(
                snapshot.expression_format, snapshot.expression_value, schema, engine
            )
        except pql.PQLError as error:
            raise DefinitionCompileError(snapshot.segment_id, error) from error
        compiled.append((snapshot.segment_id, expr))
    return compiled


def outside_references(segments: Sequence[tuple[str, Expr]]) -> list[str]:
    """Segments read with ``inSegment`` that this job does not evaluate: their latest stored
    memberships are what the job reads."""
    in_job = {segment_id for segment_id, _ in segments}
    named = set().union(*(segment_references(expr) for _, expr in segments))
    return sorted(named - in_job)


def staging_dir_for(final: Path, attempt: int) -> Path:
    return final.parent / f".staging-{final.name}-{attempt}-{uuid.uuid4().hex[:8]}"


def remove_stale_output(final: Path) -> None:
    """A worker that died mid-job leaves its staging directory, or, if it died between the
    rename and the commit, a batch no job owns; the next attempt drops both."""
    if not final.parent.exists():
        return
    for stale in final.parent.glob(f".staging-{final.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)


@contextmanager
def schema_anchors(schema: Schema) -> Iterator[tuple[Path, Path]]:
    """Zero-row Parquet files with the sandbox's whole layout. Read with the data by column
    name, they make a field that is registered but held by no batch yet read as null (and
    so qualify nobody) instead of failing the job."""
    with tempfile.TemporaryDirectory(prefix="segmint-schema-") as scratch:
        profile, event = Path(scratch) / "profile.parquet", Path(scratch) / "event.parquet"
        pq.write_table(profile_schema(schema).empty_table(), profile)
        pq.write_table(event_schema(schema).empty_table(), event)
        yield profile, event


def evaluate_job(
    job: SegmentJob,
    lake: LakeCatalog,
    runner: Runner,
    metrics: dict[str, Any],
    on_stage: Callable[[str], None],
    engine: str = "duckdb",
) -> Evaluation:
    """Evaluate all segments of ``job`` in one pass and write the membership batch to a
    staging directory (not yet visible)."""
    on_stage("compiling")
    schema = lake.schema(job.tenant)
    segments = compile_definitions(job, schema, engine)
    evaluation_ms = job.evaluation_time_ms or now_ms()
    tenant = job.tenant
    final = lake.membership_dir(tenant, job.batch_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_output(final)
    staging = staging_dir_for(final, job.attempts)
    staging.mkdir()
    on_stage("evaluating")
    metrics["profileSegmentationTime"] = {"startTimeInMs": now_ms()}
    try:
        with schema_anchors(schema) as (profile_anchor, event_anchor):
            stats = runner.run_membership(
                profile_files=[*lake.profile_files(tenant), profile_anchor],
                event_files=[*lake.event_files(tenant), event_anchor],
                segments=segments,
                now=ms_to_datetime(evaluation_ms),
                previous=lake.previous_memberships(tenant, [sid for sid, _ in segments]),
                out_dir=staging,
                memberships=lake.previous_memberships(tenant, outside_references(segments)),
            )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _close_span(metrics["profileSegmentationTime"])
    metrics.update(segment_metrics(job, stats))
    return Evaluation(
        metrics=metrics,
        staging=staging,
        final=final,
        evaluation_time_ms=evaluation_ms,
        stage_ms={"evaluate": round(stats.evaluate_ms, 1), "write": round(stats.write_ms, 1)},
    )


def segment_metrics(job: SegmentJob, stats: MembershipStats) -> dict[str, Any]:
    """The per-segment counters of the AEP job object."""
    policy_ids = {s.merge_policy_id for s in job.segments}
    return {
        "totalProfiles": stats.total_profiles,
        "segmentedProfileCounter": {sid: s.qualified for sid, s in stats.segments.items()},
        "segmentedProfileByNamespaceCounter": {
            sid: dict(s.namespaces) for sid, s in stats.segments.items()
        },
        "segmentedProfileByStatusCounter": {
            sid: {"realized": s.realized, "existing": s.existing, "exited": s.exited}
            for sid, s in stats.segments.items()
        },
        "totalProfilesByMergePolicy": {pid: stats.total_profiles for pid in sorted(policy_ids)},
    }


def close_total_time(metrics: dict[str, Any]) -> None:
    _close_span(metrics["totalTime"])


def _close_span(span: dict[str, int]) -> None:
    end = now_ms()
    span["endTimeInMs"] = end
    span["totalTimeInMs"] = end - span.get("startTimeInMs", end)
