"""Catalog Service (``/data/foundation/catalog``): create, list and look up datasets, list
and look up batches with their status, metrics and per-record errors. Everything is scoped
to the caller's sandbox: another sandbox's id is a 404 like an unknown one."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field, TypeAdapter

from segmint.api.catalog_wire import (
    CATALOG_BAD_REQUEST,
    CATALOG_NOT_FOUND,
    CLASS_IDS,
    WireModel,
    bad_parameter,
    batch_object,
    catalog_page,
    cut,
    dataset_object,
    json_body,
    last,
    properties,
    validate,
)
from segmint.api.deps import CurrentTenant, ServiceState, State
from segmint.api.errors import ApiError
from segmint.jobs.model import Tenant
from segmint.profiles.ingest import IdentityDescriptor, descriptor_problems, record_class
from segmint.store.lake_catalog import BatchFilter
from segmint.xdm import EXPERIENCE_EVENT_CLASS

router = APIRouter(prefix="/data/foundation/catalog", tags=["catalog"])

# A schema reference may name a class by ``$id`` or by alt id.
CLASS_BY_REFERENCE = {**{v: k for k, v in CLASS_IDS.items()}, **{k: k for k in CLASS_IDS}}
DATASET_SORT_KEYS = {
    "name": lambda o: o["name"],
    "created": lambda o: o["created"],
    "updated": lambda o: o["updated"],
}
BATCH_SORT_KEYS = {
    "created": lambda o: o["created"],
    "updated": lambda o: o["updated"],
    "status": lambda o: o["status"],
}


class SchemaRefBody(WireModel):
    id: str = Field(min_length=1)
    content_type: str | None = Field(default=None, alias="contentType")


class DescriptorBody(WireModel):
    """An identity field in the Schema Registry's identity-descriptor spelling."""

    source_property: str = Field(alias="xdm:sourceProperty", min_length=1, max_length=1024)
    namespace: str = Field(alias="xdm:namespace", min_length=1, max_length=64)
    is_primary: bool = Field(default=False, alias="xdm:isPrimary")


class DatasetBody(WireModel):
    name: str = Field(min_length=1, max_length=512)
    description: str | None = Field(default=None, max_length=4096)
    schema_ref: SchemaRefBody = Field(alias="schemaRef")
    tags: dict[str, list[str]] | None = None
    identity_descriptors: list[DescriptorBody] = Field(
        default_factory=list, alias="identityDescriptors", max_length=20
    )


DATASET_BODY: TypeAdapter[DatasetBody] = TypeAdapter(DatasetBody)


@router.post("/dataSets", operation_id="createDataset", status_code=201)
async def create_dataset(request: Request, tenant: CurrentTenant, state: State) -> JSONResponse:
    body = validate(
        DATASET_BODY, await json_body(request, CATALOG_BAD_REQUEST), CATALOG_BAD_REQUEST
    )
    schema_name = _schema_name(body.schema_ref.id)
    descriptors = tuple(_descriptor(d) for d in body.identity_descriptors)
    _check_descriptors(descriptors, schema_name, tenant, state)
    dataset = state.store.catalog.create_dataset(
        tenant,
        body.name,
        schema_name,
        description=body.description,
        descriptors=descriptors,
        tags=body.tags,
    )
    return JSONResponse([f"@/dataSets/{dataset.id}"], status_code=201)


@router.get("/dataSets", operation_id="listDatasets")
def list_datasets(request: Request, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    names = _values(request, "name")
    objects = [
        (d.id, dataset_object(d, tenant))
        for d in state.store.catalog.datasets(tenant)
        if names is None or d.name in names
    ]
    return catalog_page(objects, request.query_params, DATASET_SORT_KEYS)


@router.get("/dataSets/{dataset_id}", operation_id="getDataset")
def get_dataset(
    dataset_id: str, request: Request, tenant: CurrentTenant, state: State
) -> dict[str, Any]:
    dataset = state.store.catalog.dataset(tenant, dataset_id)
    if dataset is None:
        raise ApiError(404, CATALOG_NOT_FOUND, f"dataset {dataset_id!r} not found")
    return {dataset.id: cut(dataset_object(dataset, tenant), properties(request.query_params))}


@router.get("/batches", operation_id="listBatches")
def list_batches(request: Request, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    which = _batch_filter(request)
    objects = [(b.id, batch_object(b, tenant)) for b in state.store.catalog.batches(tenant, which)]
    return catalog_page(objects, request.query_params, BATCH_SORT_KEYS)


@router.get("/batches/{batch_id}", operation_id="getBatch")
def get_batch(
    batch_id: str, request: Request, tenant: CurrentTenant, state: State
) -> dict[str, Any]:
    batch = state.store.catalog.batch(tenant, batch_id)
    if batch is None:
        raise ApiError(404, CATALOG_NOT_FOUND, f"batch {batch_id!r} not found")
    return {batch.id: cut(batch_object(batch, tenant), properties(request.query_params))}


def _schema_name(reference: str) -> str:
    schema_name = CLASS_BY_REFERENCE.get(reference)
    if schema_name is None:
        known = ", ".join(sorted(CLASS_BY_REFERENCE))
        raise ApiError(
            400,
            CATALOG_BAD_REQUEST,
            f"schemaRef.id {reference!r} is not a schema of this sandbox; use one of {known}",
        )
    return schema_name


def _descriptor(body: DescriptorBody) -> IdentityDescriptor:
    """``/personalEmail/address`` (a JSON pointer, as AEP writes it) or a dotted path."""
    path = body.source_property.strip("/").replace("/", ".")
    return IdentityDescriptor(path, body.namespace, body.is_primary)


def _check_descriptors(
    descriptors: tuple[IdentityDescriptor, ...],
    schema_name: str,
    tenant: Tenant,
    state: ServiceState,
) -> None:
    if not descriptors:
        return
    kind: Literal["profile", "event"] = (
        "event" if schema_name == EXPERIENCE_EVENT_CLASS else "profile"
    )
    obj = record_class(kind, state.store.schemas.schema(tenant))
    problems = descriptor_problems(descriptors, obj, state.store.namespaces.catalog(tenant.org_id))
    if problems:
        raise ApiError(
            400,
            CATALOG_BAD_REQUEST,
            f"invalid identityDescriptors: {'; '.join(problems)}",
            problems=problems,
        )


def _values(request: Request, name: str) -> set[str] | None:
    """A simple Catalog filter: ``name=a,b`` matches either value."""
    raw = last(request.query_params, name)
    return None if raw is None or raw == "" else {v for v in raw.split(",") if v}


def _batch_filter(request: Request) -> BatchFilter:
    params = request.query_params
    datasets = _values(request, "dataSet")
    statuses = _values(request, "status")
    if datasets is not None and len(datasets) != 1:
        raise bad_parameter("query parameter 'dataSet' takes one dataset id")
    return BatchFilter(
        dataset_id=next(iter(datasets)) if datasets else None,
        statuses=tuple(sorted(statuses or ())),
        created_after=_epoch(params.get("createdAfter"), "createdAfter"),
        created_before=_epoch(params.get("createdBefore"), "createdBefore"),
    )


def _epoch(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise bad_parameter(f"query parameter {name!r} must be epoch milliseconds, got {raw!r}")
    return int(raw)
