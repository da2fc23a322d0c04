"""Segment jobs as the domain sees them: the status machine and the job record.

Status names are exactly AEP's. Legal moves::

    NEW ──► QUEUED ──► PROCESSING ──► SUCCEEDED | FAILED
     │        │           │
     └────────┴──► CANCELLED ◄── CANCELLING
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    NEW = "NEW"
    QUEUED = "QUEUED"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
WAITING_STATUSES = frozenset({JobStatus.NEW, JobStatus.QUEUED})
ACTIVE_STATUSES = frozenset({JobStatus.PROCESSING, JobStatus.CANCELLING})

ALL_SEGMENTS = "*"
# AEP lists the segments of a job individually only up to this many.
MAX_LISTED_SEGMENTS = 1500


class JobSource(StrEnum):
    API = "api"
    SCHEDULER = "scheduler"


@dataclass(frozen=True)
class SegmentSnapshot:
    """A definition as it was when the job was created (the job evaluates this, not later
    edits)."""

    segment_id: str
    expression_type: str
    expression_format: str
    expression_value: str
    merge_policy_id: str
    merge_policy_version: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "segmentId": self.segment_id,
            "segment": {
                "id": self.segment_id,
                "expression": {
                    "type": self.expression_type,
                    "format": self.expression_format,
                    "value": self.expression_value,
                },
                "mergePolicyId": self.merge_policy_id,
                "mergePolicy": {"id": self.merge_policy_id, "version": self.merge_policy_version},
            },
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SegmentSnapshot:
        segment = data["segment"]
        return cls(
            segment_id=segment["id"],
            expression_type=segment["expression"]["type"],
            expression_format=segment["expression"]["format"],
            expression_value=segment["expression"]["value"],
            merge_policy_id=segment["mergePolicyId"],
            merge_policy_version=segment["mergePolicy"]["version"],
        )


@dataclass(frozen=True)
class Tenant:
    """Who owns a resource: an IMS org and one of its sandboxes."""

    org_id: str
    sandbox_id: str
    sandbox_name: str
    sandbox_type: str
    sandbox_default: bool

    def to_wire(self) -> dict[str, Any]:
        return {
            "sandboxId": self.sandbox_id,
            "sandboxName": self.sandbox_name,
            "type": self.sandbox_type,
            "default": self.sandbox_default,
        }


@dataclass(frozen=True)
class SegmentJob:
    id: str
    tenant: Tenant
    status: JobStatus
    source: JobSource
    batch_id: str
    compute_job_id: int
    compute_gateway_job_id: str
    request_id: str
    schema_name: str
    all_segments: bool
    segments: tuple[SegmentSnapshot, ...]
    metrics: dict[str, Any]
    created_ms: int
    updated_ms: int
    errors: list[dict[str, Any]] | None = None
    properties: dict[str, Any] | None = None
    evaluation_time_ms: int | None = None
    worker_id: str | None = None
    lease_expires_ms: int | None = None
    attempts: int = 0
    progress: dict[str, Any] | None = field(default=None)

    @property
    def segment_ids(self) -> list[str]:
        return [s.segment_id for s in self.segments]


def initial_metrics() -> dict[str, Any]:
    return {"totalTime": {}, "profileSegmentationTime": {}}
