"""Creating and cancelling segment jobs: request validation and the definition snapshot."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from segmint.clock import now_ms
from segmint.jobs.model import (
    ALL_SEGMENTS,
    JobSource,
    JobStatus,
    SegmentJob,
    SegmentSnapshot,
    Tenant,
)
from segmint.jobs.ports import DefinitionLookup, JobRepository, NewJob
from segmint.xdm import PROFILE_CLASS


class JobRequestError(ValueError):
    """The job request cannot be accepted (unknown segments, empty list, wrong schema)."""

    def __init__(self, message: str, *, unknown_ids: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.unknown_ids = list(unknown_ids)


class JobConflictError(ValueError):
    """The request conflicts with the job's state or an earlier request."""


@dataclass(frozen=True)
class JobRequest:
    """``[{segmentId}, …]`` or ``{schema, segments: [{segmentId: "*"}]}``."""

    segment_ids: tuple[str, ...]
    schema_name: str = PROFILE_CLASS

    @property
    def all_segments(self) -> bool:
        return ALL_SEGMENTS in self.segment_ids


def new_request_id() -> str:
    return f"{uuid.uuid4()}-{now_ms()}"


def create_job(
    repo: JobRepository,
    definitions: DefinitionLookup,
    tenant: Tenant,
    request: JobRequest,
    *,
    client_request_id: str | None = None,
    source: JobSource = JobSource.API,
    properties: dict[str, Any] | None = None,
) -> tuple[SegmentJob, bool]:
    """Validate the request, snapshot its definitions and store a NEW job.

    Returns the job and whether it was created (False: the same ``x-request-id`` was seen
    before and that job is returned instead, so client retries never run a job twice).
    """
    if client_request_id is not None:
        existing = _existing_for_request(repo, tenant, request, client_request_id)
        if existing is not None:
            return existing, False
    snapshots = _resolve(definitions, tenant, request)
    job = NewJob(
        tenant=tenant,
        source=source,
        schema_name=request.schema_name,
        all_segments=request.all_segments,
        segments=snapshots,
        request_id=client_request_id or new_request_id(),
        client_request_id=client_request_id,
        properties=properties,
    )
    created, is_new = repo.create(job)
    if not is_new:
        _ensure_same_request(created, request)
    return created, is_new


def _existing_for_request(
    repo: JobRepository, tenant: Tenant, request: JobRequest, client_request_id: str
) -> SegmentJob | None:
    job = repo.find_by_request_id(tenant.sandbox_id, client_request_id)
    if job is not None:
        _ensure_same_request(job, request)
    return job


def _ensure_same_request(job: SegmentJob, request: JobRequest) -> None:
    same = (
        job.all_segments
        if request.all_segments
        else (not job.all_segments and sorted(job.segment_ids) == sorted(set(request.segment_ids)))
    )
    if not same:
        raise JobConflictError(
            f"x-request-id {job.request_id!r} was already used for job {job.id} "
            "with different segments"
        )


def _resolve(
    definitions: DefinitionLookup, tenant: Tenant, request: JobRequest
) -> tuple[SegmentSnapshot, ...]:
    if request.schema_name != PROFILE_CLASS:
        raise JobRequestError(f"schema.name must be {PROFILE_CLASS!r}, got {request.schema_name!r}")
    if not request.segment_ids:
        raise JobRequestError("a segment job needs at least one segmentId")
    if request.all_segments:
        return _all_definitions(definitions, tenant, request)
    wanted = list(dict.fromkeys(request.segment_ids))
    found = definitions.snapshots(tenant, wanted)
    unknown = [sid for sid in wanted if sid not in found]
    if unknown:
        raise JobRequestError(
            "unknown segment definition id(s): " + ", ".join(unknown), unknown_ids=unknown
        )
    return tuple(found[sid] for sid in wanted)


def _all_definitions(
    definitions: DefinitionLookup, tenant: Tenant, request: JobRequest
) -> tuple[SegmentSnapshot, ...]:
    if len(request.segment_ids) != 1:
        raise JobRequestError('"*" must be the only segmentId of a job')
    snapshots = definitions.all_snapshots(tenant)
    if not snapshots:
        raise JobRequestError("the sandbox has no segment definitions to evaluate")
    return tuple(snapshots)


def cancel_job(repo: JobRepository, tenant: Tenant, job_id: str) -> JobStatus:
    """Ask for cancellation; raises LookupError for an unknown job and JobConflictError for
    a job that already finished."""
    job = repo.get(tenant.sandbox_id, job_id)
    if job is None:
        raise LookupError(job_id)
    if job.status.is_final:
        raise JobConflictError(
            f"segment job {job_id} already finished with status {job.status.value}; "
            "only NEW, QUEUED or PROCESSING jobs can be cancelled"
        )
    status = repo.request_cancel(tenant.sandbox_id, job_id, now_ms())
    if status.is_final and status is not JobStatus.CANCELLED:
        raise JobConflictError(
            f"segment job {job_id} finished with status {status.value} before it could be cancelled"
        )
    return status
