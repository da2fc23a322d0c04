"""Identity namespaces (``/data/core/idnamespace/identities``, Identity Service): the standard
ones, the built-in custom ``CRMID``, and the org's own, which it creates here. Errors use the
Identity Service's namespace-validation shape. Namespaces belong to the org: every sandbox
of the org sees the same ones."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from segmint.api.deps import CurrentTenant, ServiceState, State
from segmint.profiles.namespaces import IdentityType, Namespace
from segmint.store.namespaces import DuplicateNamespace, find

router = APIRouter(prefix="/data/core/idnamespace", tags=["identity namespaces"])

PROBLEM_TYPE = "http://ns.adobe.com/adobecloud/problem/namespacevalidation"
CODE = re.compile(r"[A-Za-z0-9]+")  # the spec: "May contain only letters and numbers"
ACTIVE = "ACTIVE"


class NamespaceBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    name: str = Field(min_length=1, max_length=256)
    code: str = Field(min_length=1, max_length=64)
    id_type: str = Field(alias="idType", min_length=1)
    description: str | None = Field(default=None, max_length=4096)


class NamespaceProblem(Exception):
    def __init__(self, status: int, title: str, description: str, code: str) -> None:
        super().__init__(description)
        self.status = status
        self.title = title
        self.description = description
        self.code = code


@router.get("/identities", operation_id="getIdNamespaces")
def list_namespaces(tenant: CurrentTenant, state: State) -> list[dict[str, Any]]:
    times = state.store.namespaces.times(tenant.org_id)
    catalog = state.store.namespaces.catalog(tenant.org_id)
    return [namespace_object(ns, times.get(ns.code)) for ns in catalog]


@router.post("/identities", operation_id="createNamespace")
async def create_namespace(request: Request, tenant: CurrentTenant, state: State) -> JSONResponse:
    try:
        body = _body(await request.body())
        created = await run_in_threadpool(_create, body, tenant.org_id, state)
    except NamespaceProblem as problem:
        return _problem_response(problem)
    times = state.store.namespaces.times(tenant.org_id)
    return JSONResponse(namespace_object(created, times.get(created.code)))


@router.get("/identities/{reference}", operation_id="retrieveIdentityNamespace")
def get_namespace(reference: str, tenant: CurrentTenant, state: State) -> JSONResponse:
    """By numeric ``id`` (the spec's path parameter) or by ``code``."""
    catalog = state.store.namespaces.catalog(tenant.org_id)
    by_id = next((ns for ns in catalog if str(ns.id) == reference), None)
    namespace = by_id or catalog.get(reference)
    if namespace is None:
        return _problem_response(
            NamespaceProblem(
                404,
                "Namespace validation",
                f"Namespace id not found for given IMS Org {tenant.org_id}",
                "NAMESPACE_NOT_FOUND",
            )
        )
    times = state.store.namespaces.times(tenant.org_id)
    return JSONResponse(namespace_object(namespace, times.get(namespace.code)))


def namespace_object(namespace: Namespace, times: tuple[int, int] | None) -> dict[str, Any]:
    """Standard and built-in namespaces have no creation time: 0."""
    created, updated = times or (0, 0)
    return {
        "id": namespace.id,
        "code": namespace.code,
        "name": namespace.name,
        "description": namespace.description or namespace.name,
        "idType": namespace.id_type.value,
        "status": ACTIVE,
        "custom": namespace.custom,
        "createTime": created,
        "updateTime": updated,
    }


def _body(raw: bytes) -> NamespaceBody:
    try:
        return NamespaceBody.model_validate(json.loads(raw))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(f"the request body is not valid JSON: {exc}") from exc
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        raise _invalid("; ".join(problems)) from exc


def _create(body: NamespaceBody, org_id: str, state: ServiceState) -> Namespace:
    if not CODE.fullmatch(body.code):
        raise _invalid(f"code {body.code!r} may contain only letters and numbers")
    id_type = _id_type(body.id_type)
    existing = find(state.store.namespaces.catalog(org_id), body.code)
    try:
        if existing is not None:
            raise DuplicateNamespace(existing.code)
        return state.store.namespaces.create(
            org_id, body.code, body.name, id_type, body.description
        )
    except DuplicateNamespace as exc:
        raise NamespaceProblem(
            409,
            "NAMESPACE_CODE_CONFLICT",
            "Namespace code already exists. Please use a different code",
            "INTEGRATION_CODE_EXISTS",
        ) from exc


def _id_type(raw: str) -> IdentityType:
    """Case-insensitively (the spec spells the values ``Cookie``, ``CROSS_DEVICE``, …)."""
    try:
        return IdentityType(raw.upper())
    except ValueError as exc:
        valid = ", ".join(t.value for t in IdentityType)
        raise _invalid(
            f"Please provide a valid value of idType. Valid values are: [{valid}]"
        ) from exc


def _invalid(description: str) -> NamespaceProblem:
    return NamespaceProblem(400, "Namespace validation", description, "INVALID_REQUEST_PARAMS")


def _problem_response(problem: NamespaceProblem) -> JSONResponse:
    body = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "type": PROBLEM_TYPE,
        "status": problem.status,
        "title": problem.title,
        "description": problem.description,
        "report": {"code": problem.code},
    }
    return JSONResponse(body, status_code=problem.status)
