"""Conversions between table rows and domain records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from segmint.jobs.model import JobSource, JobStatus, SegmentJob, SegmentSnapshot, Tenant


def job_from_row(row: Row[Any], tenant: Tenant) -> SegmentJob:
    m = row._mapping
    return SegmentJob(
        id=m["id"],
        tenant=tenant,
        status=JobStatus(m["status"]),
        source=JobSource(m["source"]),
        batch_id=m["batch_id"],
        compute_job_id=m["seq"],
        compute_gateway_job_id=m["compute_gateway_job_id"],
        request_id=m["request_id"],
        schema_name=m["schema_name"],
        all_segments=m["all_segments"],
        segments=tuple(SegmentSnapshot.from_wire(s) for s in m["segments"]),
        metrics=dict(m["metrics"]),
        created_ms=m["created_ms"],
        updated_ms=m["updated_ms"],
        errors=m["errors"],
        properties=m["properties"],
        evaluation_time_ms=m["evaluation_time_ms"],
        worker_id=m["worker_id"],
        lease_expires_ms=m["lease_expires_ms"],
        attempts=m["attempts"],
        progress=m["progress"],
    )
