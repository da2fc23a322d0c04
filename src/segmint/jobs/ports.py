"""What the jobs layer needs from storage, as protocols. ``segmint.store`` implements them
on SQLAlchemy; tests may use any object of the same shape."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from segmint.jobs.model import JobSource, JobStatus, SegmentJob, SegmentSnapshot, Tenant
from segmint.pql.types import Schema
from segmint.profiles.policies import MergePolicy
from segmint.profiles.views import MergedView


@dataclass(frozen=True)
class NewJob:
    tenant: Tenant
    source: JobSource
    schema_name: str
    all_segments: bool
    segments: tuple[SegmentSnapshot, ...]
    request_id: str
    client_request_id: str | None
    properties: dict[str, Any] | None = None


@dataclass(frozen=True)
class Finish:
    """The outcome a worker records for a job it holds."""

    status: JobStatus
    metrics: dict[str, Any]
    errors: list[dict[str, Any]] | None = None
    evaluated_segment_ids: Sequence[str] = ()
    evaluation_time_ms: int | None = None
    stage_ms: dict[str, float] | None = None  # where the time went, kept with the job


class JobRepository(Protocol):
    def create(self, job: NewJob) -> tuple[SegmentJob, bool]:
        """Store a NEW job; with a known ``client_request_id`` return the existing job and
        False instead."""

    def get(self, sandbox_id: str, job_id: str) -> SegmentJob | None: ...

    def find_by_request_id(self, sandbox_id: str, client_request_id: str) -> SegmentJob | None: ...

    def get_any(self, job_id: str) -> SegmentJob | None: ...

    def claim(
        self, worker_id: str, now_ms: int, lease_ms: int, max_attempts: int
    ) -> SegmentJob | None:
        """Take the oldest runnable job (compare-and-set to PROCESSING with a lease)."""

    def heartbeat(
        self, job_id: str, worker_id: str, now_ms: int, lease_ms: int
    ) -> JobStatus | None:
        """Extend the lease; the job's status, or None when this worker lost the job."""

    def record_progress(
        self, job_id: str, worker_id: str, progress: dict[str, Any], metrics: dict[str, Any]
    ) -> bool: ...

    def finish(
        self, job_id: str, worker_id: str, outcome: Finish, before_commit: Callable[[], None]
    ) -> bool:
        """Compare-and-set the final status; ``before_commit`` runs inside the transaction
        (it publishes the output) so the status and the output appear together."""

    def request_cancel(self, sandbox_id: str, job_id: str, now_ms: int) -> JobStatus:
        """NEW/QUEUED → CANCELLED, PROCESSING → CANCELLING; the resulting status."""


class DefinitionLookup(Protocol):
    def snapshots(self, tenant: Tenant, segment_ids: Sequence[str]) -> dict[str, SegmentSnapshot]:
        """The definitions of the sandbox among ``segment_ids``, by id."""

    def all_snapshots(self, tenant: Tenant) -> list[SegmentSnapshot]: ...


class LakeCatalog(Protocol):
    """Memberships and the sandbox schema; profiles and events come from the merged views
    (:class:`ProfileViewSource`)."""

    def previous_memberships(
        self, tenant: Tenant, segment_ids: Sequence[str]
    ) -> list[tuple[list[Path], list[str]]]:
        """For each earlier successful batch still current for some of ``segment_ids``:
        its files and the segment ids to read from it."""

    def membership_dir(self, tenant: Tenant, batch_id: str) -> Path: ...

    def schema(self, tenant: Tenant) -> Schema:
        """The sandbox's XDM schema (standard plus registered tenant field groups)."""


class ProfileViewSource(Protocol):
    def merged_view(self, tenant: Tenant, merge_policy_id: str) -> MergedView:
        """The merged profiles of a merge policy, current with every committed batch."""

    def merge_policies_of(
        self, tenant: Tenant, segment_ids: Sequence[str]
    ) -> dict[str, MergePolicy]:
        """The merge policy of each definition of the sandbox among ``segment_ids``."""
