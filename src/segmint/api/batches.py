"""Batch Ingestion (``/data/foundation/import``): create a batch for a dataset, upload files
into it (streamed to disk under a size limit), then ``?action=COMPLETE`` (validate and
publish atomically) or ``?action=ABORT``. The outcome is read through Catalog."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field, TypeAdapter
from starlette.concurrency import run_in_threadpool

from segmint.api.catalog_wire import (
    INGEST_BAD_REQUEST,
    WireModel,
    batch_object,
    json_body,
    validate,
)
from segmint.api.deps import CurrentTenant, ServiceState, State
from segmint.api.errors import ApiError
from segmint.jobs.model import Tenant
from segmint.profiles.ingest import (
    JSON_SUFFIXES,
    NDJSON_SUFFIXES,
    PARQUET_SUFFIXES,
    IngestError,
    check_file,
)
from segmint.store.ingestion import PARTIAL_PERCENT_TAG, UnknownBatch
from segmint.store.lake_catalog import (
    BATCH_ABORTED,
    BATCH_FAILED,
    BATCH_LOADING,
    BATCH_SUCCESS,
    Batch,
    Dataset,
)

router = APIRouter(prefix="/data/foundation/import", tags=["batch ingestion"])

BAD_FILE = "INGEST-1002"
NOT_FOUND = "INGEST-1004"
BAD_ACTION = "INGEST-1005"
CONFLICT = "INGEST-1009"
TOO_LARGE = "INGEST-1013"
MAX_FILES_PER_BATCH = 1500  # AEP's batch ingestion limit
# Which uploaded files a batch of each input format takes.
SUFFIXES_BY_FORMAT = {
    "json": JSON_SUFFIXES + NDJSON_SUFFIXES,
    "jsonl": JSON_SUFFIXES + NDJSON_SUFFIXES,
    "ndjson": JSON_SUFFIXES + NDJSON_SUFFIXES,
    "parquet": PARQUET_SUFFIXES,
}
ENDED = {BATCH_SUCCESS, BATCH_FAILED}


class InputFormat(WireModel):
    format: Literal["json", "jsonl", "ndjson", "parquet"]
    is_multi_line_json: bool | None = Field(default=None, alias="isMultiLineJson")


class BatchBody(WireModel):
    dataset_id: str = Field(alias="datasetId", min_length=1, max_length=64)
    input_format: InputFormat = Field(alias="inputFormat")
    enable_error_diagnostics: bool | None = Field(default=None, alias="enableErrorDiagnostics")
    partial_ingestion_percentage: float | None = Field(
        default=None, alias="partialIngestionPercentage", ge=0, le=100
    )
    tags: dict[str, Any] | None = None


BATCH_BODY: TypeAdapter[BatchBody] = TypeAdapter(BatchBody)


@router.post("/batches", operation_id="createBatch", status_code=201)
async def create_batch(request: Request, tenant: CurrentTenant, state: State) -> JSONResponse:
    body = validate(BATCH_BODY, await json_body(request, INGEST_BAD_REQUEST), INGEST_BAD_REQUEST)
    dataset = state.store.catalog.dataset(tenant, body.dataset_id)
    if dataset is None:
        raise ApiError(400, INGEST_BAD_REQUEST, f"dataset {body.dataset_id!r} not found")
    batch = state.store.catalog.create_batch(
        tenant,
        dataset,
        input_format=body.input_format.model_dump(by_alias=True, exclude_none=True),
        tags=_tags(body),
        client=state.settings.client_id,
    )
    return JSONResponse(_created(batch, tenant), status_code=201)


@router.put(
    "/batches/{batch_id}/datasets/{dataset_id}/files/{file_name:path}",
    operation_id="uploadBatchFile",
)
async def upload_file(
    batch_id: str,
    dataset_id: str,
    file_name: str,
    request: Request,
    tenant: CurrentTenant,
    state: State,
) -> Response:
    batch, _ = _batch_and_dataset(batch_id, dataset_id, tenant, state)
    _check_uploadable(batch, file_name, tenant, state)
    target = _upload_target(tenant, batch.id, file_name, state)
    received = await _receive(request, target, state.settings.max_upload_bytes)
    try:
        await run_in_threadpool(_check_received, received, file_name)
        placed = await run_in_threadpool(
            state.store.catalog.accept_upload, batch.id, lambda: os.replace(received, target)
        )
    finally:
        received.unlink(missing_ok=True)
    if not placed:
        current = state.store.catalog.batch(tenant, batch.id) or batch
        raise _conflict(current, "files can no longer be uploaded into it")
    return Response(status_code=200)


@router.post("/batches/{batch_id}", operation_id="signalBatch")
def batch_action(batch_id: str, request: Request, tenant: CurrentTenant, state: State) -> Any:
    action = (request.query_params.get("action") or "").upper()
    if action == "COMPLETE":
        return _complete(batch_id, tenant, state)
    if action == "ABORT":
        return _abort(batch_id, tenant, state)
    raise ApiError(
        400, BAD_ACTION, f"unsupported action {action or '(none)'!r}: use COMPLETE or ABORT"
    )


def _complete(batch_id: str, tenant: Tenant, state: ServiceState) -> dict[str, Any]:
    """AEP documents COMPLETE as safe to retry: on a finished batch it answers as the first
    call did, without ingesting anything again."""
    try:
        completion = state.store.ingestion.complete(tenant, batch_id)
    except UnknownBatch as exc:
        raise _unknown(batch_id) from exc
    batch = completion.batch
    if not completion.completed_now and batch.status not in ENDED:
        raise _conflict(batch, "it cannot be completed")
    return {batch.id: batch_object(batch, tenant)}


def _abort(batch_id: str, tenant: Tenant, state: ServiceState) -> dict[str, Any]:
    """ABORT of an aborted batch answers again; of a completing or completed one, 409."""
    if state.store.catalog.batch(tenant, batch_id) is None:
        raise _unknown(batch_id)
    if state.store.catalog.abort_batch(batch_id):
        shutil.rmtree(state.store.catalog.upload_dir(tenant, batch_id), ignore_errors=True)
    batch = state.store.catalog.batch(tenant, batch_id)
    assert batch is not None
    if batch.status != BATCH_ABORTED:
        raise _conflict(batch, "only a loading batch can be aborted")
    return {batch.id: batch_object(batch, tenant)}


def _batch_and_dataset(
    batch_id: str, dataset_id: str, tenant: Tenant, state: ServiceState
) -> tuple[Batch, Dataset]:
    batch = state.store.catalog.batch(tenant, batch_id)
    if batch is None:
        raise _unknown(batch_id)
    dataset = state.store.catalog.dataset(tenant, dataset_id)
    if dataset is None:
        raise ApiError(404, NOT_FOUND, f"dataset {dataset_id!r} not found")
    if batch.dataset_id != dataset.id:
        raise ApiError(
            400, INGEST_BAD_REQUEST, f"batch {batch.id} belongs to dataset {batch.dataset_id}"
        )
    return batch, dataset


def _check_uploadable(batch: Batch, file_name: str, tenant: Tenant, state: ServiceState) -> None:
    if batch.status != BATCH_LOADING:
        raise _conflict(batch, "files can no longer be uploaded into it")
    input_format = str((batch.input_format or {}).get("format", "json"))
    allowed = SUFFIXES_BY_FORMAT.get(input_format, ())
    suffix = Path(file_name).suffix.lower()
    if suffix not in allowed:
        raise ApiError(
            400,
            BAD_FILE,
            f"file {file_name!r}: a {input_format} batch takes {', '.join(allowed)} files",
        )
    uploaded = state.store.catalog.uploaded_files(tenant, batch.id)
    if len(uploaded) >= MAX_FILES_PER_BATCH and file_name not in dict(uploaded):
        raise ApiError(400, BAD_FILE, f"a batch holds at most {MAX_FILES_PER_BATCH} files")


def _upload_target(tenant: Tenant, batch_id: str, file_name: str, state: ServiceState) -> Path:
    if any(part in ("", ".", "..") for part in file_name.split("/")):
        raise ApiError(400, BAD_FILE, f"unusable file name {file_name!r}")
    try:
        return state.store.catalog.upload_path(tenant, batch_id, file_name)
    except ValueError as exc:
        raise ApiError(400, BAD_FILE, str(exc)) from exc


async def _receive(request: Request, target: Path, limit: int) -> Path:
    """The request body streamed into a hidden file next to ``target`` (never held in
    memory); 413 past ``limit`` bytes, and then nothing is kept."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    target.parent.mkdir(parents=True, exist_ok=True)
    received = target.with_name(f".upload-{uuid.uuid4().hex}{Path(target.name).suffix}")
    size = 0
    try:
        with received.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                handle.write(chunk)
    except BaseException:
        received.unlink(missing_ok=True)
        raise
    return received


def _check_received(received: Path, file_name: str) -> None:
    """400 for a file that cannot be read at all (its rows are checked at COMPLETE)."""
    if received.stat().st_size == 0:
        raise ApiError(400, BAD_FILE, f"file {file_name!r} is empty")
    try:
        check_file(received)
    except IngestError as exc:
        message = str(exc).split(": ", 1)[-1]
        where = f" (line {exc.line})" if exc.line is not None else ""
        raise ApiError(400, BAD_FILE, f"file {file_name!r}{where}: {message}") from exc


def _tags(body: BatchBody) -> dict[str, Any]:
    tags = dict(body.tags or {})
    if body.enable_error_diagnostics is not None:
        tags["acp_enableErrorDiagnostics"] = body.enable_error_diagnostics
    if body.partial_ingestion_percentage is not None:
        tags[PARTIAL_PERCENT_TAG] = body.partial_ingestion_percentage
    return tags


def _created(batch: Batch, tenant: Tenant) -> dict[str, Any]:
    """The create-batch answer of the Batch Ingestion API."""
    return {
        "id": batch.id,
        "imsOrg": tenant.org_id,
        "updated": batch.updated_ms or batch.created_ms,
        "status": batch.status,
        "created": batch.created_ms,
        "relatedObjects": [{"type": "dataSet", "id": batch.dataset_id}],
        "version": "1.0.0",
        "tags": dict(batch.tags or {}),
        "inputFormat": dict(batch.input_format or {}),
        "createdUser": batch.created_client,
        "updatedUser": batch.created_client,
    }


def _unknown(batch_id: str) -> ApiError:
    return ApiError(404, NOT_FOUND, f"batch {batch_id!r} not found")


def _conflict(batch: Batch, consequence: str) -> ApiError:
    return ApiError(409, CONFLICT, f"batch {batch.id} is {batch.status}: {consequence}")


def _too_large(limit: int) -> ApiError:
    return ApiError(413, TOO_LARGE, f"a file uploaded into a batch may have at most {limit} bytes")
