"""Resources as they go over the wire: field names, order and shapes of AEP."""

from __future__ import annotations

from typing import Any

from segmint.jobs.model import ALL_SEGMENTS, MAX_LISTED_SEGMENTS, SegmentJob, Tenant
from segmint.store import Definition

PROFILE_INSTANCE_ID = "ups"


def job_links(job_id: str) -> dict[str, Any]:
    href = f"/segment/jobs/{job_id}"
    return {
        "cancel": {"href": href, "method": "DELETE"},
        "checkStatus": {"href": href, "method": "GET"},
    }


def job_segments(job: SegmentJob, *, full: bool = False) -> list[dict[str, Any]]:
    """Listed one by one, or ``[{"segmentId": "*"}]`` for an all-segments job or past
    1500 segments (as AEP does)."""
    if not full and (job.all_segments or len(job.segments) > MAX_LISTED_SEGMENTS):
        return [{"segmentId": ALL_SEGMENTS}]
    return [s.to_wire() for s in job.segments]


def segment_job(job: SegmentJob, *, full_segments: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": job.id,
        "imsOrgId": job.tenant.org_id,
        "sandbox": job.tenant.to_wire(),
        "profileInstanceId": PROFILE_INSTANCE_ID,
        "source": job.source.value,
        "status": job.status.value,
        "batchId": job.batch_id,
        "computeJobId": job.compute_job_id,
        "computeGatewayJobId": job.compute_gateway_job_id,
        "segments": job_segments(job, full=full_segments),
        "metrics": job.metrics,
        "requestId": job.request_id,
        "schema": {"name": job.schema_name},
    }
    if job.properties:
        body["properties"] = job.properties
    if job.errors:
        body["errors"] = job.errors
    body["_links"] = job_links(job.id)
    body["updateTime"] = job.updated_ms
    body["creationTime"] = job.created_ms
    body["updateEpoch"] = job.updated_ms // 1000
    return body


def segment_definition(definition: Definition, tenant: Tenant) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": definition.id,
        "schema": {"name": definition.schema_name},
        "profileInstanceId": definition.profile_instance_id,
        "imsOrgId": tenant.org_id,
        "sandbox": tenant.to_wire(),
        "name": definition.name,
        "description": definition.description or "",
        "expression": {
            "type": definition.expression_type,
            "format": definition.expression_format,
            "value": definition.expression_value,
        },
        "mergePolicyId": definition.merge_policy_id,
        "evaluationInfo": definition.evaluation_info,
        "dataGovernancePolicy": {"excludeOptOut": True},
    }
    if definition.ttl_in_days is not None:
        body["ttlInDays"] = definition.ttl_in_days
    if definition.payload_schema is not None:
        body["payloadSchema"] = definition.payload_schema
    body["creationTime"] = definition.created_ms
    body["updateEpoch"] = definition.updated_ms // 1000
    body["updateTime"] = definition.updated_ms
    return body


def not_found_entry(resource: str, resource_id: str) -> dict[str, Any]:
    """How bulk-get reports an id it does not know (instead of dropping it)."""
    return {
        "id": resource_id,
        "status": 404,
        "title": "NotFoundError",
        "detail": f"{resource} {resource_id} was not found in this sandbox",
    }
