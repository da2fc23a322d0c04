"""``/segment/definitions``: create, get, list, update, delete and bulk-get definitions.
Expressions are parsed and checked on the way in; bad PQL is a 400 naming line and column."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from segmint import pql
from segmint.api import bodies, listing, wire
from segmint.api.deps import CurrentTenant, ServiceState, State
from segmint.api.errors import ApiError
from segmint.jobs.expressions import FORMATS, compile_expression, parse_expression, reads_events
from segmint.jobs.model import Tenant
from segmint.pql.ast import Expr
from segmint.pql.types import Schema
from segmint.pql.walk import segment_references
from segmint.store import Definition, DuplicateDefinitionName
from segmint.xdm import PROFILE_CLASS

router = APIRouter(tags=["segment definitions"])

DEFAULT_LIMIT = 100
DEFAULT_EVALUATION_INFO = {
    "batch": {"enabled": True},
    "continuous": {"enabled": False},
    "synchronous": {"enabled": False},
}
FILTERABLE = (
    "evaluationInfo.batch.enabled",
    "evaluationInfo.continuous.enabled",
    "evaluationInfo.synchronous.enabled",
)


@router.post("/segment/definitions", operation_id="createSegmentDefinition")
async def create(request: Request, tenant: CurrentTenant, state: State) -> JSONResponse:
    body = bodies.validate(bodies.DEFINITION, await bodies.json_body(request))
    definition = _definition_from(body, tenant, state, existing=None)
    try:
        stored = state.store.definitions.create(tenant, definition)
    except DuplicateDefinitionName as exc:
        raise _duplicate(body.name) from exc
    return _with_location(wire.segment_definition(stored, tenant))


@router.get("/segment/definitions", operation_id="getSegmentDefinitions")
def list_definitions(request: Request, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    params = request.query_params
    limit = listing.integer(params, "limit", DEFAULT_LIMIT, 1, listing.MAX_LIMIT)
    page = listing.integer(params, "page", 0, 0, 10**9)
    page = listing.integer(params, "start", page, 0, 10**9) if "page" not in params else page
    orders = listing.sort_orders(
        listing.last(params, "sort"),
        ("creationTime", "updateTime", "name", "id"),
        listing.SortOrder("creationTime", True),
    )
    definitions = state.store.definitions.ordered(
        tenant, [(o.field, o.descending) for o in orders], _filters(request)
    )
    chosen = definitions[page * limit : (page + 1) * limit]
    return {
        "segments": [wire.segment_definition(d, tenant) for d in chosen],
        "page": {
            "totalCount": len(definitions),
            "totalPages": math.ceil(len(definitions) / limit),
            "sortField": orders[0].field,
            "sort": "desc" if orders[0].descending else "asc",
            "pageSize": len(chosen),
            "limit": limit,
        },
        "link": _next_link(page, limit, len(definitions)),
    }


@router.post("/segment/definitions/bulk-get", operation_id="bulkGetSegmentDefinitionsById")
async def bulk_get(request: Request, tenant: CurrentTenant, state: State) -> JSONResponse:
    parsed = bodies.validate(bodies.BULK_GET, await bodies.json_body(request))
    ids = list(dict.fromkeys(ref.id for ref in parsed.ids))
    found = state.store.definitions.many(tenant, ids)
    results = {
        i: wire.segment_definition(found[i], tenant)
        if i in found
        else wire.not_found_entry("segment definition", i)
        for i in ids
    }
    return JSONResponse({"results": results}, status_code=207)


@router.get("/segment/definitions/{definition_id}", operation_id="getSegmentDefinitionById")
def get_definition(definition_id: str, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    return wire.segment_definition(_existing(definition_id, tenant, state), tenant)


@router.patch("/segment/definitions/{definition_id}", operation_id="updateSegmentDefinitionById")
async def update(
    definition_id: str, request: Request, tenant: CurrentTenant, state: State
) -> JSONResponse:
    existing = _existing(definition_id, tenant, state)
    body = bodies.validate(bodies.DEFINITION, await bodies.json_body(request))
    definition = _definition_from(body, tenant, state, existing=existing)
    try:
        stored = state.store.definitions.update(tenant, definition)
    except DuplicateDefinitionName as exc:
        raise _duplicate(body.name) from exc
    return _with_location(wire.segment_definition(stored, tenant))


@router.delete("/segment/definitions/{definition_id}", operation_id="deleteSegmentDefinitionById")
def delete(definition_id: str, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    if not state.store.definitions.delete(tenant, definition_id):
        raise _not_found(definition_id)
    return {"status": True, "message": f"segment definition {definition_id} deleted"}


def _existing(definition_id: str, tenant: Tenant, state: ServiceState) -> Definition:
    definition: Definition | None = state.store.definitions.get(tenant, definition_id)
    if definition is None:
        raise _not_found(definition_id)
    return definition


def _definition_from(
    body: bodies.DefinitionBody, tenant: Tenant, state: ServiceState, existing: Definition | None
) -> Definition:
    schema = state.store.schemas.schema(tenant)
    checked = _check_expression(body.expression, schema, state.settings.engine)
    if body.schema_ref.name != PROFILE_CLASS:
        raise ApiError(
            400,
            "UPS-SEG-400-6",
            f"schema.name must be {PROFILE_CLASS!r}, got {body.schema_ref.name!r}",
        )
    if existing is not None:
        _refuse_cycle(existing.id, checked, tenant, state)
    policy_id = _merge_policy_id(body.merge_policy_id, existing, tenant, state)
    requested = (
        body.evaluation_info.model_dump(exclude_none=True)
        if body.evaluation_info is not None
        else (existing.evaluation_info if existing else {})
    )
    return Definition(
        id=existing.id if existing else "",
        name=body.name,
        description=body.description,
        expression_type=body.expression.type,
        expression_format=body.expression.format,
        expression_value=body.expression.value,
        merge_policy_id=policy_id,
        schema_name=body.schema_ref.name,
        ttl_in_days=body.ttl_in_days,
        evaluation_info=_evaluation_info(requested, checked, tenant, state),
        profile_instance_id=body.profile_instance_id or wire.PROFILE_INSTANCE_ID,
        payload_schema=body.payload_schema,
        created_ms=existing.created_ms if existing else 0,
        updated_ms=0,
    )


def _evaluation_info(
    requested: dict[str, Any], checked: Expr, tenant: Tenant, state: ServiceState
) -> dict[str, Any]:
    """What was asked for, as far as the expression allows it: batch unless turned off;
    streaming (``continuous``) and edge (``synchronous``) only when asked for and eligible
    (pql.md §10), as AEP falls back to batch for a definition that does not qualify."""
    classes = pql.classify(checked, profile_only=lambda sid: _profile_only(sid, tenant, state))
    eligible = pql.evaluation_info(classes)
    info = {}
    for method, toggle in DEFAULT_EVALUATION_INFO.items():
        wanted = requested.get(method, {}).get("enabled", toggle["enabled"])
        info[method] = {"enabled": bool(wanted and eligible[method]["enabled"])}
    return info


def _profile_only(segment_id: str, tenant: Tenant, state: ServiceState) -> bool:
    """Whether a referenced definition reads no event data (for segment-of-segments rules)."""
    definition = state.store.definitions.get(tenant, segment_id)
    if definition is None:
        return False
    try:
        tree = parse_expression(definition.expression_format, definition.expression_value)
    except pql.PQLError:
        return False
    return not reads_events(tree)


def _refuse_cycle(definition_id: str, checked: Expr, tenant: Tenant, state: ServiceState) -> None:
    """400 when the definition would read itself through ``inSegment`` (directly or through
    other definitions): segments of segments are evaluated in dependency order."""
    paths = [[definition_id, ref] for ref in sorted(segment_references(checked))]
    seen: set[str] = set()
    while paths:
        path = paths.pop()
        current = path[-1]
        if current == definition_id:
            raise ApiError(
                400,
                "UPS-SEG-400-8",
                "invalid PQL expression: inSegment() makes a cycle: " + " -> ".join(path),
            )
        if current in seen:
            continue
        seen.add(current)
        paths += [[*path, ref] for ref in sorted(_references_of(current, tenant, state))]


def _references_of(segment_id: str, tenant: Tenant, state: ServiceState) -> set[str]:
    definition = state.store.definitions.get(tenant, segment_id)
    if definition is None:
        return set()
    try:
        tree = parse_expression(definition.expression_format, definition.expression_value)
    except pql.PQLError:
        return set()
    return segment_references(tree)


def _check_expression(expression: bodies.Expression, schema: Schema, engine: str) -> Expr:
    """The checked expression; 400 naming line and column when it is not valid PQL or the
    service's engine cannot evaluate it."""
    if expression.type != "PQL":
        raise ApiError(
            400, "UPS-SEG-400-7", f"expression.type must be 'PQL', got {expression.type!r}"
        )
    if expression.format not in FORMATS:
        raise ApiError(
            400,
            "UPS-SEG-400-7",
            f"expression.format must be one of {', '.join(FORMATS)}, got {expression.format!r}",
        )
    try:
        return compile_expression(expression.format, expression.value, schema, engine)
    except pql.PQLError as error:
        raise ApiError(
            400,
            "UPS-SEG-400-8",
            f"invalid PQL expression: {error}",
            pqlError={**error.to_dict(), "highlight": error.highlight()},
        ) from error
    except RecursionError as error:  # a last guard: every stage should refuse this first
        raise ApiError(
            400, "UPS-SEG-400-8", "invalid PQL expression: it is nested too deeply to evaluate"
        ) from error


def _merge_policy_id(
    requested: str | None, existing: Definition | None, tenant: Tenant, state: ServiceState
) -> str:
    if requested is None:
        if existing is not None:
            return existing.merge_policy_id
        return str(state.store.tenants.default_merge_policy(tenant).id)
    if state.store.tenants.merge_policy(tenant, requested) is None:
        raise ApiError(
            400, "UPS-SEG-400-9", f"merge policy {requested} does not exist in this sandbox"
        )
    return requested


def _filters(request: Request) -> dict[str, bool]:
    filters: dict[str, bool] = {}
    for name in FILTERABLE:
        raw = listing.last(request.query_params, name)
        if raw is None:
            continue
        if raw.lower() not in ("true", "false"):
            raise listing.bad(f"query parameter {name!r} must be true or false, got {raw!r}")
        filters[name] = raw.lower() == "true"
    return filters


def _next_link(page: int, limit: int, total: int) -> dict[str, str]:
    if (page + 1) * limit >= total:
        return {}
    return {"next": f"@/segment/definitions?page={page + 1}&limit={limit}"}


def _with_location(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"X-Location": f"/segment/definitions/{body['id']}"})


def _duplicate(name: str) -> ApiError:
    return ApiError(
        422,
        "UPS-SEG-422-1",
        f"a segment definition named {name!r} already exists "
        "in this sandbox; use PATCH to change it",
    )


def _not_found(definition_id: str) -> ApiError:
    return ApiError(404, "UPS-SEG-404-2", f"segment definition {definition_id} was not found")
