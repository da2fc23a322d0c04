"""``/segment/jobs``: create, list, get, bulk-get and cancel segment jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from segmint.api import bodies, listing, wire
from segmint.api.deps import CurrentTenant, State
from segmint.api.errors import ApiError
from segmint.jobs.model import JobStatus, SegmentJob
from segmint.jobs.service import (
    JobConflictError,
    JobRequest,
    JobRequestError,
    cancel_job,
    create_job,
)

router = APIRouter(tags=["segment jobs"])

SORTABLE = (
    "creationTime",
    "updateTime",
    "updateEpoch",
    "status",
    "source",
    "id",
    "computeJobId",
    "batchId",
    "requestId",
)
DEFAULT_LIMIT = 100
MAX_REQUEST_ID = 256


@router.post("/segment/jobs", operation_id="createSegmentJob")
async def create(request: Request, tenant: CurrentTenant, state: State) -> JSONResponse:
    parsed = bodies.validate(bodies.JOB_BODY, await bodies.json_body(request))
    if isinstance(parsed, list):
        job_request = JobRequest(tuple(ref.segment_id for ref in parsed))
    else:
        job_request = JobRequest(
            tuple(ref.segment_id for ref in parsed.segments), schema_name=parsed.schema_ref.name
        )
    store = state.store
    try:
        job, _ = create_job(
            store.jobs,
            store.definitions,
            tenant,
            job_request,
            client_request_id=_client_request_id(request),
        )
    except JobRequestError as exc:
        raise ApiError(400, "UPS-SEG-400-5", str(exc), unknownSegmentIds=exc.unknown_ids) from exc
    except JobConflictError as exc:
        raise ApiError(409, "UPS-SEG-409-1", str(exc)) from exc
    return JSONResponse(wire.segment_job(job))


@router.get("/segment/jobs", operation_id="getSegmentJobs")
def list_jobs(request: Request, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    params = request.query_params
    start = listing.integer(params, "start", 0, 0, 10**9)
    limit = listing.integer(params, "limit", DEFAULT_LIMIT, 1, listing.MAX_LIMIT)
    status = _status(listing.last(params, "status"))
    orders = listing.sort_orders(
        listing.last(params, "sort"), SORTABLE, listing.SortOrder("creationTime", True)
    )
    filters = listing.property_filters(params.getlist("property"))
    if listing.last(params, "snapshot.name"):
        filters.append(
            listing.PropertyFilter(
                ("snapshot", "name"), listing.last(params, "snapshot.name") or ""
            )
        )
    jobs = state.store.jobs.list_for_sandbox(tenant.sandbox_id, status)
    documents = [(wire.segment_job(job, full_segments=True), job) for job in jobs]
    matching = [(doc, job) for doc, job in documents if all(f.matches(doc) for f in filters)]
    for order in reversed(orders):  # stable sorts, last key first
        matching.sort(key=_sort_key(order.field), reverse=order.descending)
    page = matching[start * limit : (start + 1) * limit]
    children = [wire.segment_job(job) for _, job in page]
    body: dict[str, Any] = {
        "_page": {"totalCount": len(matching), "pageSize": len(children)},
        "children": children,
        "_links": {"next": {}},
    }
    if (start + 1) * limit < len(matching):
        href = _next_href(request, start + 1)
        body["_links"] = {"next": {"href": href}, "href": href}
    return body


@router.post("/segment/jobs/bulk-get", operation_id="bulkGetSegmentJobs")
async def bulk_get(request: Request, tenant: CurrentTenant, state: State) -> JSONResponse:
    parsed = bodies.validate(bodies.BULK_GET, await bodies.json_body(request))
    ids = list(dict.fromkeys(ref.id for ref in parsed.ids))
    found = state.store.jobs.many(tenant.sandbox_id, ids)
    results = {
        job_id: wire.segment_job(found[job_id])
        if job_id in found
        else wire.not_found_entry("segment job", job_id)
        for job_id in ids
    }
    return JSONResponse({"results": results}, status_code=207)


@router.get("/segment/jobs/{job_id}", operation_id="getSegmentJob")
def get_job(job_id: str, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    job = state.store.jobs.get(tenant.sandbox_id, job_id)
    if job is None:
        raise ApiError(404, "UPS-SEG-404-1", f"segment job {job_id} was not found")
    return wire.segment_job(job)


@router.delete("/segment/jobs/{job_id}", operation_id="deleteSegmentJob", status_code=204)
def cancel(job_id: str, tenant: CurrentTenant, state: State) -> Response:
    try:
        cancel_job(state.store.jobs, tenant, job_id)
    except LookupError as exc:
        raise ApiError(404, "UPS-SEG-404-1", f"segment job {job_id} was not found") from exc
    except JobConflictError as exc:
        raise ApiError(409, "UPS-SEG-409-2", str(exc)) from exc
    return Response(status_code=204)


def _client_request_id(request: Request) -> str | None:
    value = request.headers.get("x-request-id") or None
    if value is not None and len(value) > MAX_REQUEST_ID:
        raise listing.bad(f"x-request-id must be at most {MAX_REQUEST_ID} characters")
    return value


def _status(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        return JobStatus(raw.upper()).value
    except ValueError as exc:
        allowed = ", ".join(s.value for s in JobStatus)
        raise listing.bad(f"status must be one of {allowed}, got {raw!r}") from exc


def _sort_key(field: str) -> Callable[[tuple[dict[str, Any], SegmentJob]], tuple[bool, Any]]:
    def key(pair: tuple[dict[str, Any], SegmentJob]) -> tuple[bool, Any]:
        value = pair[0].get(field)
        return (value is None, value if value is not None else 0)

    return key


def _next_href(request: Request, next_start: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "start"]
    params.append(("start", str(next_start)))
    return f"@/segment/jobs?{urlencode(params)}"
