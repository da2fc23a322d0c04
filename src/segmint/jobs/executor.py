"""Running one claimed segment job: compile its definitions, evaluate them in one pass,
diff against the previous memberships, and build the metrics of the job object."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from segmint import pql
from segmint.clock import ms_to_datetime, now_ms
from segmint.engine import DuckDBRunner, MembershipStats, Runner
from segmint.jobs.expressions import compile_expression
from segmint.jobs.model import SegmentJob
from segmint.jobs.ports import LakeCatalog, ProfileViewSource
from segmint.pql.ast import Expr
from segmint.pql.types import Schema
from segmint.pql.walk import segment_references
from segmint.profiles.policies import MergePolicy
from segmint.profiles.views import MergedView
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


@dataclass(frozen=True)
class PolicyGroup:
    """The segments of a job that share a merge policy: one membership run."""

    merge_policy_id: str
    segments: tuple[tuple[str, Expr], ...]

    @property
    def segment_ids(self) -> set[str]:
        return {segment_id for segment_id, _ in self.segments}


def policy_groups(job: SegmentJob, segments: Sequence[tuple[str, Expr]]) -> list[PolicyGroup]:
    """The job's segments grouped by merge policy, a group after the groups it reads with
    ``inSegment``."""
    policy_of = {s.segment_id: s.merge_policy_id for s in job.segments}
    grouped: dict[str, list[tuple[str, Expr]]] = {}
    for segment_id, expr in segments:
        grouped.setdefault(policy_of[segment_id], []).append((segment_id, expr))
    pending = {pid: PolicyGroup(pid, tuple(items)) for pid, items in grouped.items()}
    ordered: list[PolicyGroup] = []
    while pending:
        ready = [g for g in pending.values() if not _reads_pending(g, pending, policy_of)]
        if not ready:
            raise MergePolicyConflict(
                "segments of different merge policies read each other with inSegment"
            )
        for group in ready:
            ordered.append(pending.pop(group.merge_policy_id))
    return ordered


def _reads_pending(
    group: PolicyGroup, pending: dict[str, PolicyGroup], policy_of: dict[str, str]
) -> bool:
    read = outside_references(group.segments)
    return any(policy_of.get(sid, group.merge_policy_id) in pending for sid in read) and any(
        policy_of.get(sid) not in (None, group.merge_policy_id) for sid in read
    )


class MergePolicyConflict(Exception):
    """Segments of the job cannot be evaluated under their merge policies together."""


@dataclass
class _Run:
    """What the policy groups of one job have produced so far."""

    stats: dict[str, MembershipStats] = field(default_factory=dict)
    views: dict[str, MergedView] = field(default_factory=dict)
    outputs: dict[str, list[Path]] = field(default_factory=dict)


def evaluate_job(
    job: SegmentJob,
    lake: LakeCatalog,
    views: ProfileViewSource,
    runner: Runner,
    metrics: dict[str, Any],
    on_stage: Callable[[str], None],
    engine: str = "duckdb",
) -> Evaluation:
    """Evaluate all segments of ``job`` (one pass per merge policy, over that policy's merged
    profiles) and write the membership batch to a staging directory (not yet visible)."""
    on_stage("compiling")
    schema = lake.schema(job.tenant)
    segments = compile_definitions(job, schema, engine)
    groups = policy_groups(job, segments)
    evaluation_ms = job.evaluation_time_ms or now_ms()
    final = lake.membership_dir(job.tenant, job.batch_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_output(final)
    staging = staging_dir_for(final, job.attempts)
    staging.mkdir()
    run = _Run()
    try:
        for group in groups:
            on_stage("merging profiles")
            run.views[group.merge_policy_id] = views.merged_view(job.tenant, group.merge_policy_id)
            on_stage("evaluating")
            metrics.setdefault("profileSegmentationTime", {}).setdefault("startTimeInMs", now_ms())
            _evaluate_group(job, lake, views, runner, group, run, schema, evaluation_ms, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    metrics.setdefault("profileSegmentationTime", {}).setdefault("startTimeInMs", now_ms())
    _close_span(metrics["profileSegmentationTime"])
    metrics.update(segment_metrics(job, run.stats, run.views))
    return Evaluation(
        metrics=metrics,
        staging=staging,
        final=final,
        evaluation_time_ms=evaluation_ms,
        stage_ms={
            "evaluate": round(sum(s.evaluate_ms for s in run.stats.values()), 1),
            "write": round(sum(s.write_ms for s in run.stats.values()), 1),
        },
    )


def _evaluate_group(
    job: SegmentJob,
    lake: LakeCatalog,
    views: ProfileViewSource,
    runner: Runner,
    group: PolicyGroup,
    run: _Run,
    schema: Schema,
    evaluation_ms: int,
    staging: Path,
) -> None:
    view = run.views[group.merge_policy_id]
    read = outside_references(group.segments)
    in_job = [(run.outputs[pid], sorted(set(read) & _ids(job, pid))) for pid in run.outputs]
    in_job = [(files, ids) for files, ids in in_job if ids]
    stored = [sid for sid in read if not any(sid in ids for _, ids in in_job)]
    read_policies = {sid: run.views[pid].policy for pid in run.outputs for sid in _ids(job, pid)}
    read_policies.update(views.merge_policies_of(job.tenant, stored))
    _check_keys_match(
        view.policy, {sid: read_policies[sid] for sid in read if sid in read_policies}
    )
    out_dir = staging / f".group-{len(run.outputs)}"
    with schema_anchors(schema) as (profile_anchor, event_anchor):
        run.stats[group.merge_policy_id] = runner.run_membership(
            profile_files=[*view.profile_files, profile_anchor],
            event_files=[*view.event_files, event_anchor],
            segments=group.segments,
            now=ms_to_datetime(evaluation_ms),
            previous=lake.previous_memberships(job.tenant, sorted(group.segment_ids)),
            out_dir=out_dir,
            memberships=[*lake.previous_memberships(job.tenant, stored), *in_job],
            person_keys=view.person_keys,
        )
    run.outputs[group.merge_policy_id] = _move_outputs(out_dir, staging, len(run.outputs))


def _ids(job: SegmentJob, merge_policy_id: str) -> set[str]:
    return {s.segment_id for s in job.segments if s.merge_policy_id == merge_policy_id}


def _check_keys_match(policy: MergePolicy, read: Mapping[str, MergePolicy]) -> None:
    """Profiles are keyed by primary identity without stitching and by person with it: a
    segment can only read (``inSegment``) memberships keyed the same way."""
    for segment_id, other in sorted(read.items()):
        if other.stitches != policy.stitches:
            raise MergePolicyConflict(
                f"inSegment of segment {segment_id}: its merge policy {other.id} "
                f"(identityGraph {other.identity_graph}) keys profiles differently from "
                f"merge policy {policy.id} (identityGraph {policy.identity_graph}); "
                "reading a segment across stitched and unstitched profiles is not supported"
            )


def _move_outputs(out_dir: Path, staging: Path, index: int) -> list[Path]:
    moved = []
    for part in sorted(out_dir.glob("*.parquet")):
        target = staging / f"{part.stem}-{index:03d}.parquet"
        part.rename(target)
        moved.append(target)
    shutil.rmtree(out_dir, ignore_errors=True)
    return moved


def segment_metrics(
    job: SegmentJob, stats: Mapping[str, MembershipStats], views: Mapping[str, MergedView]
) -> dict[str, Any]:
    """The per-segment counters of the AEP job object, and the profiles of each policy."""
    counts = {sid: c for group in stats.values() for sid, c in group.segments.items()}
    by_policy = {pid: s.total_profiles for pid, s in stats.items()}
    return {
        "totalProfiles": max(by_policy.values(), default=0),
        "segmentedProfileCounter": {sid: s.qualified for sid, s in counts.items()},
        "segmentedProfileByNamespaceCounter": {
            sid: dict(s.namespaces) for sid, s in counts.items()
        },
        "segmentedProfileByStatusCounter": {
            sid: {"realized": s.realized, "existing": s.existing, "exited": s.exited}
            for sid, s in counts.items()
        },
        "totalProfilesByMergePolicy": dict(sorted(by_policy.items())),
    }


def close_total_time(metrics: dict[str, Any]) -> None:
    _close_span(metrics["totalTime"])


def _close_span(span: dict[str, int]) -> None:
    end = now_ms()
    span["endTimeInMs"] = end
    span["totalTimeInMs"] = end - span.get("startTimeInMs", end)
