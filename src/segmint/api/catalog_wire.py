"""Datasets and batches as Catalog Service shows them (objects keyed by id, epoch-ms times,
``@/`` links), Catalog's list parameters (``limit``, ``start``, ``orderBy``, ``properties``),
and request-body parsing with the error codes of the ingestion routers."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from starlette.datastructures import QueryParams

from segmint.api import listing
from segmint.api.errors import ApiError
from segmint.jobs.model import Tenant
from segmint.profiles.ingest import IdentityDescriptor
from segmint.store.lake_catalog import Batch, Dataset
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

T = TypeVar("T")

# Error codes (problem ``type`` ends ``<code>-<status>``); docs/ingestion.md lists them.
CATALOG_BAD_REQUEST = "CAT-1001"
CATALOG_BAD_PARAMETER = "CAT-1002"
CATALOG_NOT_FOUND = "CAT-1004"
INGEST_BAD_REQUEST = "INGEST-1001"

CLASS_IDS = {
    PROFILE_CLASS: "https://ns.adobe.com/xdm/context/profile",
    EXPERIENCE_EVENT_CLASS: "https://ns.adobe.com/xdm/context/experienceevent",
}
SCHEMA_CONTENT_TYPE = "application/vnd.adobe.xed+json;version=1"
OBJECT_VERSION = "1.0.0"
DEFAULT_LIMIT = 20  # Catalog's page size without ``limit``
MAX_LIMIT = 100


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=True)


# --- request bodies --------------------------------------------------------------------------


async def json_body(request: Request, code: str) -> Any:
    """The parsed JSON body; 400 (``code``) for another content type or malformed JSON."""
    if "json" not in request.headers.get("content-type", "").lower():
        raise ApiError(400, code, "A valid content-type must be specified (application/json)")
    raw = await request.body()
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f" at line {exc.lineno}, column {exc.colno}"
        raise ApiError(400, code, f"the request body is not valid JSON{where}") from exc
    except UnicodeDecodeError as exc:
        raise ApiError(400, code, "the request body is not UTF-8 text") from exc


def validate(adapter: TypeAdapter[T], data: Any, code: str) -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        errors = [
            {"location": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['location'] or 'body'}: {e['message']}" for e in errors)
        raise ApiError(400, code, f"invalid request body: {detail}", errors=errors) from exc


# --- objects ---------------------------------------------------------------------------------


def dataset_object(dataset: Dataset, tenant: Tenant) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": dataset.name,
        "imsOrg": tenant.org_id,
        "schemaRef": {"id": CLASS_IDS[dataset.schema_name], "contentType": SCHEMA_CONTENT_TYPE},
        "tags": dict(dataset.tags),
        "version": OBJECT_VERSION,
        "created": dataset.created_ms,
        "updated": dataset.updated_ms or dataset.created_ms,
        "files": f"@/dataSetFiles?dataSetId={dataset.id}",
    }
    if dataset.description is not None:
        body["description"] = dataset.description
    if dataset.descriptors:
        body["identityDescriptors"] = [descriptor_object(d) for d in dataset.descriptors]
    return body


def descriptor_object(descriptor: IdentityDescriptor) -> dict[str, Any]:
    """An identity field as the Schema Registry's identity descriptor spells it."""
    return {
        "@type": "xdm:descriptorIdentity",
        "xdm:sourceProperty": "/" + descriptor.path.replace(".", "/"),
        "xdm:namespace": descriptor.namespace,
        "xdm:isPrimary": descriptor.primary,
    }


def batch_object(batch: Batch, tenant: Tenant) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": batch.id,
        "externalId": batch.id,
        "imsOrg": tenant.org_id,
        "status": batch.status,
        "relatedObjects": [{"type": "dataSet", "id": batch.dataset_id}],
        "tags": dict(batch.tags or {}),
        "version": OBJECT_VERSION,
        "created": batch.created_ms,
        "updated": batch.updated_ms or batch.created_ms,
        "metrics": dict(batch.metrics or _legacy_metrics(batch)),
    }
    if batch.input_format is not None:
        body["inputFormat"] = dict(batch.input_format)
    if batch.created_client is not None:
        body |= {key: batch.created_client for key in ("createdClient", "createdUser")}
    if batch.started_ms is not None:
        body["started"] = batch.started_ms
    if batch.completed_ms is not None:
        body["completed"] = batch.completed_ms
    if batch.errors:
        body["errors"] = batch.errors
    return body


def _legacy_metrics(batch: Batch) -> dict[str, Any]:
    """Metrics of batches recorded before metrics were kept (sample data)."""
    return {
        "inputRecordCount": batch.records_read,
        "outputRecordCount": batch.records_written,
        "failedRecordCount": max(batch.records_read - batch.records_written, 0),
    }


# --- list parameters -------------------------------------------------------------------------


def bad_parameter(message: str) -> ApiError:
    return ApiError(400, CATALOG_BAD_PARAMETER, message)


def last(params: QueryParams, name: str) -> str | None:
    return listing.last(params, name)


def integer(params: QueryParams, name: str, default: int, minimum: int, maximum: int) -> int:
    return listing.integer(params, name, default, minimum, maximum, error=bad_parameter)


def catalog_page(
    objects: Sequence[tuple[str, Mapping[str, Any]]],
    params: QueryParams,
    sort_keys: Mapping[str, Callable[[Mapping[str, Any]], Any]],
) -> dict[str, Any]:
    """Catalog's list answer: ``{id: object}`` ordered by ``orderBy``, cut by
    ``start``/``limit``, each object cut to ``properties``."""
    limit = integer(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    start = integer(params, "start", 0, 0, 10**9)
    ordered = _ordered(list(objects), last(params, "orderBy"), sort_keys)
    wanted = properties(params)
    return {key: cut(value, wanted) for key, value in ordered[start : start + limit]}


def properties(params: QueryParams) -> list[str] | None:
    raw = last(params, "properties")
    if raw is None or raw == "":
        return None
    return [name.strip() for name in raw.split(",") if name.strip()]


def cut(value: Mapping[str, Any], wanted: list[str] | None) -> dict[str, Any]:
    """``value`` with only the top-level ``wanted`` properties (all when None)."""
    return dict(value) if wanted is None else {k: value[k] for k in wanted if k in value}


def _ordered(
    objects: list[tuple[str, Mapping[str, Any]]],
    raw: str | None,
    sort_keys: Mapping[str, Callable[[Mapping[str, Any]], Any]],
) -> list[tuple[str, Mapping[str, Any]]]:
    """``orderBy=name,desc:created``: a direction prefix per property, ascending default."""
    for part in reversed((raw or "").split(",")):  # stable sorts, least significant first
        if not part.strip():
            continue
        direction, _, name = part.strip().rpartition(":")
        if direction not in ("", "asc", "desc"):
            raise bad_parameter(f"orderBy direction must be 'asc' or 'desc', got {direction!r}")
        if name not in sort_keys:
            names = ", ".join(sorted(sort_keys))
            raise bad_parameter(f"cannot order by {name!r}; use one of {names}")
        key = sort_keys[name]
        objects.sort(key=lambda item: key(item[1]), reverse=direction == "desc")
    return objects
