"""``/config/mergePolicies`` (the Profile API's merge policies, api.md §4): list, create,
get, replace (PUT), patch, delete and bulk-get. Errors are answered in the Profile API's
shape, ``{"message": "UPS-MP-…: …", "statusCode": "404"}`` (api.md §0.4); gateway errors
(raised by ``deps.py`` before the service) keep theirs."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import Field, TypeAdapter, ValidationError
from starlette.datastructures import QueryParams

from segmint.api import bodies, listing
from segmint.api.deps import CurrentTenant, State
from segmint.api.errors import ApiError, ProfileErrorRoute, profile_error
from segmint.jobs.model import Tenant
from segmint.profiles.policies import AttributeMergeType, IdentityGraphType, MergePolicy
from segmint.store.merge_policies import (
    MAX_NAME_LENGTH,
    SORTABLE_FIELDS,
    InvalidMergePolicy,
    MergePolicyConflict,
    MergePolicyError,
    MergePolicyInUse,
    PolicyChanges,
    PolicyCursor,
    PolicyDraft,
    PolicyFilter,
    PolicyOrder,
    PolicyPage,
    PolicyQuery,
)

PATH = "/config/mergePolicies"
DEFAULT_LIMIT = 20
MAX_OFFSET = 10**9

MALFORMED = "UPS-MP-400-1"
INVALID = "UPS-MP-400-2"
BAD_PARAMETER = "UPS-MP-400-3"
BAD_PATCH = "UPS-MP-400-4"
NOT_FOUND = "UPS-MP-404-1"
IN_USE = "UPS-MP-409-1"
CONFLICT = "UPS-MP-422-1"

RULE_ERRORS: dict[type[MergePolicyError], tuple[int, str]] = {
    InvalidMergePolicy: (400, INVALID),
    MergePolicyInUse: (409, IN_USE),
    MergePolicyConflict: (422, CONFLICT),
}

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


class MergePolicyRoute(ProfileErrorRoute):
    """Rule errors of the repository are answered in the Profile API's shape too."""

    def translate(self, exc: Exception) -> Response | None:
        if isinstance(exc, MergePolicyError):
            status, code = next(v for k, v in RULE_ERRORS.items() if isinstance(exc, k))
            return profile_error(status, code, str(exc))
        return super().translate(exc)


router = APIRouter(tags=["merge policies"], route_class=MergePolicyRoute)


# --- request bodies ---------------------------------------------------------------------


class IdentityGraphBody(bodies.WireModel):
    # Lax for the enum alone: a JSON string is the enum's value.
    type: IdentityGraphType = Field(strict=False)


class AttributeMergeBody(bodies.WireModel):
    type: AttributeMergeType = Field(strict=False)
    order: list[str] | None = None


class MergePolicyBody(bodies.WireModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    schema_ref: bodies.SchemaRef = Field(alias="schema")
    identity_graph: IdentityGraphBody = Field(alias="identityGraph")
    attribute_merge: AttributeMergeBody = Field(alias="attributeMerge")
    default: bool | None = None
    is_active_on_edge: bool | None = Field(default=None, alias="isActiveOnEdge")

    def draft(self) -> PolicyDraft:
        return PolicyDraft(
            name=self.name,
            schema_name=self.schema_ref.name,
            identity_graph=self.identity_graph.type,
            attribute_merge=self.attribute_merge.type,
            order=tuple(self.attribute_merge.order or ()),
            is_default=self.default,
            is_active_on_edge=self.is_active_on_edge,
        )


class PatchOperation(bodies.WireModel):
    op: str
    path: str
    value: Any


POLICY_BODY: TypeAdapter[MergePolicyBody] = TypeAdapter(MergePolicyBody)
PATCH_OPERATION: TypeAdapter[PatchOperation] = TypeAdapter(PatchOperation)
BULK_GET: TypeAdapter[bodies.BulkGetBody] = TypeAdapter(bodies.BulkGetBody)


# --- endpoints --------------------------------------------------------------------------


@router.get(PATH, operation_id="getMany")
def list_policies(request: Request, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    params = request.query_params
    order = _order(params)
    query = PolicyQuery(
        filters=_filters(params), order=order, limit=_limit(params), **_start(params, order)
    )
    page = state.store.merge_policies.page(tenant, query)
    return {
        "_page": {"totalCount": page.total_count, "pageSize": len(page.policies)},
        "children": [merge_policy(p, tenant) for p in page.policies],
        "_links": {"next": {"href": _next_href(page, query, params)}},
    }


@router.post(PATH, operation_id="createMergePolicy")
async def create(request: Request, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    body = _validate(POLICY_BODY, await _json_body(request))
    return merge_policy(state.store.merge_policies.create(tenant, body.draft()), tenant)


@router.post(f"{PATH}/bulk-get", operation_id="bulkGetMergePolicies")
async def bulk_get(request: Request, tenant: CurrentTenant, state: State) -> JSONResponse:
    parsed = _validate(BULK_GET, await _json_body(request))
    ids = list(dict.fromkeys(ref.id for ref in parsed.ids))
    found = state.store.merge_policies.many(tenant, ids)
    results = {
        i: merge_policy(found[i], tenant) if i in found else _not_found_entry(i) for i in ids
    }
    return JSONResponse({"results": results}, status_code=207)


@router.get(f"{PATH}/{{policy_id}}", operation_id="retrieveMergePolicy")
def get_policy(policy_id: str, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    return merge_policy(
        _existing(state.store.merge_policies.get(tenant, policy_id), policy_id), tenant
    )


@router.put(f"{PATH}/{{policy_id}}", operation_id="updateMergePolicy")
async def replace(
    policy_id: str, request: Request, tenant: CurrentTenant, state: State
) -> dict[str, Any]:
    _existing(state.store.merge_policies.get(tenant, policy_id), policy_id)
    body = _validate(POLICY_BODY, await _json_body(request))
    stored = state.store.merge_policies.replace(tenant, policy_id, body.draft())
    return merge_policy(_existing(stored, policy_id), tenant)


@router.patch(f"{PATH}/{{policy_id}}", operation_id="patchMergePolicy")
async def patch(
    policy_id: str, request: Request, tenant: CurrentTenant, state: State
) -> dict[str, Any]:
    _existing(state.store.merge_policies.get(tenant, policy_id), policy_id)
    changes = _changes(await _json_body(request))
    stored = state.store.merge_policies.patch(tenant, policy_id, changes)
    return merge_policy(_existing(stored, policy_id), tenant)


@router.delete(f"{PATH}/{{policy_id}}", operation_id="deleteMergePolicy")
def delete(policy_id: str, tenant: CurrentTenant, state: State) -> Response:
    if not state.store.merge_policies.delete(tenant, policy_id):
        raise _not_found(policy_id)
    return Response(status_code=200)


# --- wire format ------------------------------------------------------------------------


def merge_policy(policy: MergePolicy, tenant: Tenant) -> dict[str, Any]:
    """api.md §4.1; ``attributeMerge.order`` only when there is one."""
    attribute_merge: dict[str, Any] = {"type": policy.attribute_merge.value}
    if policy.order:
        attribute_merge["order"] = list(policy.order)
    return {
        "id": policy.id,
        "name": policy.name,
        "imsOrgId": tenant.org_id,
        "sandbox": tenant.to_wire(),
        "schema": {"name": policy.schema_name},
        "version": policy.version,
        "identityGraph": {"type": policy.identity_graph.value},
        "attributeMerge": attribute_merge,
        "isActiveOnEdge": policy.is_active_on_edge,
        "default": policy.is_default,
        "updateEpoch": policy.updated_ms // 1000,
    }


def _not_found_entry(policy_id: str) -> dict[str, Any]:
    """How bulk-get reports an id it does not know (instead of dropping it)."""
    return {
        "id": policy_id,
        "status": 404,
        "title": "Not Found",
        "detail": f"merge policy {policy_id} was not found in this sandbox",
    }


# --- request parsing ----------------------------------------------------------------------


async def _json_body(request: Request) -> Any:
    """The parsed JSON body; 400 for a wrong content type or malformed JSON."""
    try:
        return await bodies.json_body(request)
    except ApiError as exc:
        raise ApiError(exc.status, MALFORMED, exc.detail) from exc


def _validate(adapter: TypeAdapter[T], data: Any) -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise ApiError(400, INVALID, f"invalid request body: {_describe(exc)}") from exc


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )


def _changes(data: Any) -> PolicyChanges:
    """The PATCH body, one operation or an array of them, as one set of changes (a later
    operation on the same path wins)."""
    operations = [data] if isinstance(data, dict) else data
    if not isinstance(operations, list) or not operations:
        raise ApiError(
            400, BAD_PATCH, "the body must be a patch operation or a non-empty array of them"
        )
    changed: dict[str, Any] = {}
    for index, raw in enumerate(operations):
        field, value = _operation(index, raw)
        changed[field] = value
    return PolicyChanges(**changed)


def _operation(index: int, raw: Any) -> tuple[str, Any]:
    """The PolicyChanges field and value of operation ``index``."""
    try:
        operation = PATCH_OPERATION.validate_python(raw)
    except ValidationError as exc:
        raise _bad_operation(index, _describe(exc)) from exc
    if operation.op not in ("add", "replace"):
        raise _bad_operation(index, f"op must be 'add' or 'replace', got {operation.op!r}")
    if operation.path not in PATCH_PATHS:
        raise _bad_operation(
            index,
            f"path {operation.path!r} cannot be changed; paths: {', '.join(PATCH_PATHS)}",
        )
    field, convert = PATCH_PATHS[operation.path]
    try:
        return field, convert(operation.value)
    except ValueError as exc:
        raise _bad_operation(index, f"{operation.path}: {exc}") from exc


def _bad_operation(index: int, message: str) -> ApiError:
    return ApiError(400, BAD_PATCH, f"invalid patch operation {index}: {message}")


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"value must be a non-empty string, got {value!r}")
    return value


def _flag(value: Any) -> bool:
    """A boolean; AEP's own examples send it as a string (``"true"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"value must be true or false, got {value!r}")


def _enum_of(kind: type[E]) -> Callable[[Any], E]:
    def convert(value: Any) -> E:
        if not isinstance(value, str) or value not in {m.value for m in kind}:
            allowed = " or ".join(repr(m.value) for m in kind)
            raise ValueError(f"value must be {allowed}, got {value!r}")
        return kind(value)

    return convert


def _dataset_ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"value must be an array of dataset ids, got {value!r}")
    return tuple(value)


PATCH_PATHS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "/name": ("name", _text),
    "/identityGraph.type": ("identity_graph", _enum_of(IdentityGraphType)),
    "/attributeMerge.type": ("attribute_merge", _enum_of(AttributeMergeType)),
    "/attributeMerge.order": ("order", _dataset_ids),
    "/schema.name": ("schema_name", _text),
    "/default": ("is_default", _flag),
    "/isActiveOnEdge": ("is_active_on_edge", _flag),
}


# --- list parameters ----------------------------------------------------------------------

FILTER_PARAMETERS = (
    "default",
    "schema.name",
    "identityGraph.type",
    "attributeMerge.type",
    "isActiveOnEdge",
    "version",
)


def _order(params: QueryParams) -> PolicyOrder:
    """``orderBy`` (the spec spells it ``orderby``): ``name``, ``+name``, ``-name``, or the
    same with ``updateEpoch``. An unencoded ``+`` arrives as a space, and means ascending."""
    raw = listing.last(params, "orderBy") or listing.last(params, "orderby") or "name"
    text = raw.strip()
    field = text.lstrip("+-")
    if field not in SORTABLE_FIELDS or len(text) - len(field) > 1:
        raise _bad_parameter(
            f"orderBy must be one of {', '.join(SORTABLE_FIELDS)}, optionally prefixed with "
            f"'+' or '-', got {raw!r}"
        )
    return PolicyOrder(field, text.startswith("-"))


def _order_text(order: PolicyOrder) -> str:
    return f"-{order.field}" if order.descending else order.field


def _limit(params: QueryParams) -> int:
    return _integer(params, "limit", 1, listing.MAX_LIMIT) or DEFAULT_LIMIT


def _integer(params: QueryParams, name: str, minimum: int, maximum: int) -> int | None:
    raw = listing.last(params, name)
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not minimum <= int(raw) <= maximum:
        raise _bad_parameter(
            f"query parameter {name!r} must be an integer from {minimum} to {maximum}, got {raw!r}"
        )
    return int(raw)


def _flag_parameter(params: QueryParams, name: str) -> bool | None:
    raw = listing.last(params, name)
    if not raw:
        return None
    try:
        return _flag(raw)
    except ValueError as exc:
        raise _bad_parameter(f"query parameter {name!r}: {exc}") from exc


def _enum_parameter(params: QueryParams, name: str, kind: type[E]) -> E | None:
    raw = listing.last(params, name)
    if not raw:
        return None
    try:
        return _enum_of(kind)(raw)
    except ValueError as exc:
        raise _bad_parameter(f"query parameter {name!r}: {exc}") from exc


def _filters(params: QueryParams) -> PolicyFilter:
    return PolicyFilter(
        is_default=_flag_parameter(params, "default"),
        schema_name=listing.last(params, "schema.name") or None,
        identity_graph=_enum_parameter(params, "identityGraph.type", IdentityGraphType),
        attribute_merge=_enum_parameter(params, "attributeMerge.type", AttributeMergeType),
        is_active_on_edge=_flag_parameter(params, "isActiveOnEdge"),
        version=_integer(params, "version", 1, 2**31 - 1),
    )


def _start(params: QueryParams, order: PolicyOrder) -> dict[str, Any]:
    """Where the page starts: after the policy a continuation token names, or, for a plain
    number (AEP's default is ``start=0``), after skipping that many policies."""
    raw = listing.last(params, "start")
    if not raw:
        return {}
    if raw.isascii() and raw.isdigit():
        offset = _integer(params, "start", 0, MAX_OFFSET)
        return {"offset": offset}
    return {"after": _cursor(raw, order)}


def _token(order: PolicyOrder, cursor: PolicyCursor) -> str:
    """An opaque continuation token: the list's order and the last policy's sort key and id."""
    raw = json.dumps([_order_text(order), cursor.key, cursor.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor(token: str, order: PolicyOrder) -> PolicyCursor:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError as exc:  # bad base64, UTF-8 or JSON
        raise _bad_parameter(f"start {token!r} is not a continuation token") from exc
    key_type = str if order.field == "name" else int
    if not (
        isinstance(decoded, list)
        and len(decoded) == 3
        and isinstance(decoded[1], key_type)
        and not isinstance(decoded[1], bool)
        and isinstance(decoded[2], str)
    ):
        raise _bad_parameter(f"start {token!r} is not a continuation token")
    if decoded[0] != _order_text(order):
        raise _bad_parameter(
            f"start {token!r} continues a list ordered by {decoded[0]!r}; "
            f"send orderBy={decoded[0]} with it"
        )
    return PolicyCursor(decoded[1], decoded[2])


def _next_href(page: PolicyPage, query: PolicyQuery, params: QueryParams) -> str:
    """``@/mergePolicies?start=…&orderBy=…&limit=…`` (plus the filters, so that following it
    continues the same list), or ``""`` on the last page."""
    if page.next is None:
        return ""
    link = {
        "start": _token(query.order, page.next),
        "orderBy": _order_text(query.order),
        "limit": str(query.limit),
    }
    for name in FILTER_PARAMETERS:
        value = listing.last(params, name)
        if value:
            link[name] = value
    return "@/mergePolicies?" + urlencode(link)


def _bad_parameter(message: str) -> ApiError:
    return ApiError(400, BAD_PARAMETER, message)


# --- lookups ------------------------------------------------------------------------------


def _existing(policy: MergePolicy | None, policy_id: str) -> MergePolicy:
    if policy is None:
        raise _not_found(policy_id)
    return policy


def _not_found(policy_id: str) -> ApiError:
    return ApiError(404, NOT_FOUND, f"merge policy {policy_id} was not found")
