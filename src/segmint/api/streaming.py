"""Streaming ingestion (``POST /collection/{connectionId}``): one XDM record per request in
AEP's envelope (``header.datasetId``, ``body.xdmEntity``). A record is acknowledged once it is
stored in the metadata database; it becomes part of an ordinary batch of its dataset when the
buffer is flushed (``SEGMINT_STREAM_FLUSH_RECORDS`` records, ``SEGMINT_STREAM_FLUSH_SECONDS``
seconds, or ``segmint.store.stream_buffer.flush_stream``). ``syncValidation=true`` checks the
record first and answers 400 with its errors instead of storing an invalid one."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from segmint.api.catalog_wire import CLASS_IDS, WireModel
from segmint.api.deps import CurrentTenant, ServiceState, State
from segmint.jobs.model import Tenant
from segmint.profiles.ingest import RecordError, record_class, validate_record
from segmint.settings import Settings
from segmint.store import Store
from segmint.store.ingestion import IngestOptions
from segmint.store.lake_catalog import Dataset

log = logging.getLogger(__name__)

router = APIRouter(tags=["streaming ingestion"])

PROBLEM_TYPE = "http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet"
CLASS_BY_REFERENCE = {**{v: k for k, v in CLASS_IDS.items()}, **{k: k for k in CLASS_IDS}}
SYNC_PARAMETERS = ("syncValidation", "synchronousValidation")


class SchemaRef(WireModel):
    id: str


class Header(WireModel):
    dataset_id: str = Field(alias="datasetId", min_length=1, max_length=64)
    ims_org_id: str | None = Field(default=None, alias="imsOrgId")
    schema_ref: SchemaRef | None = Field(default=None, alias="schemaRef")


class Body(WireModel):
    xdm_entity: dict[str, Any] = Field(alias="xdmEntity")


class Envelope(WireModel):
    header: Header
    body: Body


ENVELOPE: TypeAdapter[Envelope] = TypeAdapter(Envelope)


class InletError(Exception):
    """A message the inlet refuses, answered in the data collection service's shape."""

    def __init__(self, title: str, message: str, cause: Any = None) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.cause = cause


@router.post("/collection/{connection_id}", operation_id="sendStreamingMessage")
async def collect(
    connection_id: str, request: Request, tenant: CurrentTenant, state: State
) -> JSONResponse:
    try:
        envelope = _envelope(await request.body())
        dataset = _dataset(envelope, tenant, state)
        sync = _sync_validation(request)
        if sync:
            _validate(envelope.body.xdm_entity, dataset, tenant, state)
    except InletError as error:
        return _problem(connection_id, tenant, error)
    stream = state.store.stream
    receipt = await run_in_threadpool(stream.append, tenant, dataset, envelope.body.xdm_entity)
    await run_in_threadpool(_flush_if_full, state.store, tenant, dataset)
    return JSONResponse(
        {
            "inletId": connection_id,
            "xactionId": receipt.xaction_id,
            "receivedTimeMs": receipt.received_ms,
            "syncValidation": {"status": "pass"} if sync else {"skipped": True},
        }
    )


def _envelope(raw: bytes) -> Envelope:
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InletError("Invalid JSON", f"the message is not valid JSON: {exc}") from exc
    try:
        return ENVELOPE.validate_python(document)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in exc.errors()
        ]
        raise InletError("Invalid XDM Message Format", "; ".join(problems)) from exc


def _dataset(envelope: Envelope, tenant: Tenant, state: ServiceState) -> Dataset:
    header = envelope.header
    if header.ims_org_id is not None and header.ims_org_id != tenant.org_id:
        raise InletError("Invalid XDM Message Format", "header.imsOrgId is not the caller's org")
    dataset = state.store.catalog.dataset(tenant, header.dataset_id)
    if dataset is None:
        raise InletError(
            "Invalid XDM Message Format", f"header.datasetId {header.dataset_id!r} not found"
        )
    if header.schema_ref is not None:
        named = CLASS_BY_REFERENCE.get(header.schema_ref.id)
        if named != dataset.schema_name:
            raise InletError(
                "Invalid XDM Message Format",
                f"header.schemaRef.id {header.schema_ref.id!r} is not the schema of dataset "
                f"{dataset.id} ({CLASS_IDS[dataset.schema_name]})",
            )
    return dataset


def _sync_validation(request: Request) -> bool:
    values = [request.query_params.get(name) for name in SYNC_PARAMETERS]
    return any(value is not None and value.lower() == "true" for value in values)


def _validate(
    record: dict[str, Any], dataset: Dataset, tenant: Tenant, state: ServiceState
) -> None:
    obj = record_class(dataset.kind, state.store.schemas.schema(tenant))
    rules = state.store.ingestion.rules(tenant, dataset)
    errors = validate_record(record, obj, rules=rules)
    if errors:
        raise InletError(
            "Invalid XDM Message Format", "Message is invalid", _validation_cause(errors)
        )


def _validation_cause(errors: list[RecordError]) -> dict[str, Any]:
    """The record's errors as the streaming validation service lists them."""
    violations: list[dict[str, Any]] = [
        {
            "schemaLocation": "#",
            "pointerToViolation": "#/" + e.field.replace(".", "/") if e.field else "#",
            "causingExceptions": [],
            "keyword": e.kind.value,
            "field": e.field,
            "message": e.reason,
        }
        for e in errors
    ]
    return {
        "_streamingValidation": [
            {
                "schemaLocation": "#",
                "pointerToViolation": "#",
                "causingExceptions": violations,
                "message": f"{len(violations)} schema violations found",
            }
        ]
    }


def _problem(connection_id: str, tenant: Tenant, error: InletError) -> JSONResponse:
    report: dict[str, Any] = {
        "message": (f"inletId: [{connection_id}] imsOrgId: [{tenant.org_id}] {error.message}")
    }
    if error.cause is not None:
        report["cause"] = error.cause
    body = {"type": PROBLEM_TYPE, "status": 400, "title": error.title, "report": report}
    return JSONResponse(body, status_code=400)


def _flush_if_full(store: Store, tenant: Tenant, dataset: Dataset) -> None:
    """The record is already durable: a failing flush is retried later, not reported."""
    try:
        store.stream.flush_if_full(tenant, dataset)
    except Exception:
        log.exception("flushing streamed records of dataset %s failed", dataset.id)


def ingest_options(settings: Settings) -> IngestOptions:
    return IngestOptions(
        stale_seconds=settings.batch_stale_seconds,
        stream_flush_records=settings.stream_flush_records,
        stream_flush_seconds=settings.stream_flush_seconds,
    )


class StreamFlusher:
    """A thread that flushes streamed records once they are old enough (or numerous)."""

    def __init__(self, store: Store, interval_seconds: float) -> None:
        self.store = store
        self.interval = interval_seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="stream-flusher", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=30)

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.store.stream.flush_due()
            except Exception:
                log.exception("flushing streamed records failed")
