"""``/access/entities`` (the Profile API's entity access): one merged profile by identity, with
the segment memberships written by the latest jobs, or the experience events of one person.

A merged profile is addressed by an XID, the URL-safe base64 of its person key, so it can be
fetched again without a namespace. Errors use the Profile API's shape."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.datastructures import QueryParams

from segmint.api import listing
from segmint.api.deps import CurrentTenant, ServiceState, State
from segmint.api.errors import ApiError, ProfileErrorRoute
from segmint.jobs.model import Tenant
from segmint.profiles import access
from segmint.profiles.views import MergedView
from segmint.store.profile_views import UnknownMergePolicy
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

router = APIRouter(tags=["entities"], route_class=ProfileErrorRoute)

BAD_REQUEST = "UPS-ACC-400-1"
NOT_FOUND = "UPS-ACC-404-1"
DEFAULT_EVENT_LIMIT = 1000
SEGMENT_NAMESPACE = access.UPS_NAMESPACE


@router.get("/access/entities", operation_id="retrieveEntity")
def retrieve_entity(request: Request, tenant: CurrentTenant, state: State) -> dict[str, Any]:
    params = request.query_params
    schema_name = _required(params, "schema.name")
    view = _view(state, tenant, listing.last(params, "mergePolicyId"))
    if schema_name == PROFILE_CLASS:
        return _profile(state, tenant, view, params)
    if schema_name == EXPERIENCE_EVENT_CLASS:
        return _events(view, params)
    raise ApiError(400, BAD_REQUEST, f"schema.name {schema_name!r} is not supported")


def _view(state: ServiceState, tenant: Tenant, policy_id: str | None) -> MergedView:
    chosen = policy_id or state.store.tenants.default_merge_policy(tenant).id
    try:
        return state.store.views.merged_view(tenant, chosen)
    except UnknownMergePolicy as exc:
        raise ApiError(404, NOT_FOUND, str(exc)) from exc


# --- one profile --------------------------------------------------------------------------------


def _profile(
    state: ServiceState, tenant: Tenant, view: MergedView, params: QueryParams
) -> dict[str, Any]:
    person = _person(view, params, "entityId", "entityIdNS")
    found = access.read_profile(view, person)
    if found is None:
        raise _not_found()
    entity = dict(found.entity)
    memberships = _memberships(state, tenant, view, person, entity)
    if memberships:
        entity["segmentMembership"] = memberships
    entity = _only(entity, listing.last(params, "fields"))
    xid = to_xid(person)
    return {
        xid: {
            "entityId": xid,
            "mergePolicy": {"id": view.policy.id},
            "sources": found.sources,
            "entity": entity,
            "lastModifiedAt": _iso(found.last_modified_ms),
        }
    }


def _person(view: MergedView, params: QueryParams, id_name: str, ns_name: str) -> str:
    entity_id = _required(params, id_name)
    namespace = listing.last(params, ns_name)
    if not namespace:
        person = from_xid(entity_id)
        if person is None or access.find_person(view, *person.split(":", 1)) != person:
            raise _not_found()
        return person
    person = access.find_person(view, namespace, entity_id)
    if person is None:
        raise _not_found()
    return person


def _memberships(
    state: ServiceState, tenant: Tenant, view: MergedView, person: str, entity: dict[str, Any]
) -> dict[str, Any]:
    """The stored memberships of other namespaces, and ``ups`` from the latest jobs of the
    segments evaluated under this view's policy."""
    definitions = state.store.definitions.ordered(tenant, [("creationTime", False)])
    ids = [d.id for d in definitions if d.merge_policy_id == view.policy.id]
    stored = dict(entity.get("segmentMembership") or {})
    batches = state.store.catalog.previous_memberships(tenant, ids) if ids else []
    found = access.memberships(batches, person)
    if found:
        stored[SEGMENT_NAMESPACE] = found
    return stored


def _only(entity: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """The ``fields`` (comma-separated dotted paths; ``identities`` for the identity list)."""
    if not fields:
        return entity
    chosen: dict[str, Any] = {}
    for path in (f.strip() for f in fields.split(",") if f.strip()):
        if path == "identities":
            chosen["identities"] = _identity_list(entity)
            continue
        value = _lookup(entity, path.split("."))
        if value is not None:
            _place(chosen, path.split("."), value)
    return chosen


def _identity_list(entity: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"id": item["id"], "namespace": {"code": namespace}}
        for namespace, items in (entity.get("identityMap") or {}).items()
        for item in items
    ]


def _lookup(value: Any, path: list[str]) -> Any:
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _place(target: dict[str, Any], path: list[str], value: Any) -> None:
    for name in path[:-1]:
        target = target.setdefault(name, {})
    target[path[-1]] = value


# --- events -------------------------------------------------------------------------------------


def _events(view: MergedView, params: QueryParams) -> dict[str, Any]:
    related = listing.last(params, "relatedSchema.name")
    if related not in (None, PROFILE_CLASS):
        raise ApiError(400, BAD_REQUEST, f"relatedSchema.name {related!r} is not supported")
    person = _person(view, params, "relatedEntityId", "relatedEntityIdNS")
    order = listing.last(params, "orderby") or "+timestamp"
    if order.lstrip("+-") != "timestamp":
        raise ApiError(400, BAD_REQUEST, f"orderby must be (+/-)timestamp, got {order!r}")
    limit = listing.integer(params, "limit", DEFAULT_EVENT_LIMIT, 1, DEFAULT_EVENT_LIMIT)
    start = listing.integer(params, "start", 0, 0, 10**9)
    page = access.person_events(
        view,
        person,
        start_ms=_millis(params, "startTime"),
        end_ms=_millis(params, "endTime"),
        limit=limit,
        descending=order.startswith("-"),
        offset=start,
    )
    xid = to_xid(person)
    children = [_event_child(xid, event) for event in page.events]
    next_href = ""
    if page.next_start is not None:
        following = [(k, v) for k, v in params.multi_items() if k != "start"]
        next_href = "/entities?" + urlencode([("start", str(page.next_start)), *following])
    return {
        "_page": {
            "orderby": order,
            "start": str(start),
            "count": len(children),
            "next": str(page.next_start) if page.next_start is not None else "",
        },
        "children": children,
        "_links": {"next": {"href": next_href}},
    }


def _event_child(xid: str, event: dict[str, Any]) -> dict[str, Any]:
    entity = {k: v for k, v in event.items() if k != "__profile_id"}
    moment = datetime.fromisoformat(str(entity["timestamp"]).rstrip("Z"))
    return {
        "relatedEntityId": xid,
        "entityId": entity.get("_id"),
        "timestamp": int(moment.replace(tzinfo=UTC).timestamp() * 1000),
        "entity": entity,
    }


# --- parameters and ids -------------------------------------------------------------------------


def _required(params: QueryParams, name: str) -> str:
    value = listing.last(params, name)
    if not value:
        raise ApiError(400, BAD_REQUEST, f"query parameter {name!r} is required")
    return value


def _millis(params: QueryParams, name: str) -> int | None:
    raw = listing.last(params, name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise ApiError(400, BAD_REQUEST, f"{name} must be epoch milliseconds, got {raw!r}") from exc
    if not 0 <= value < 2**53:
        raise ApiError(400, BAD_REQUEST, f"{name} is out of range: {raw!r}")
    return int(value)


def _iso(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def to_xid(person: str) -> str:
    return base64.urlsafe_b64encode(person.encode()).decode().rstrip("=")


def from_xid(xid: str) -> str | None:
    try:
        text = base64.urlsafe_b64decode(xid + "=" * (-len(xid) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text if ":" in text else None


def _not_found() -> ApiError:
    return ApiError(404, NOT_FOUND, "no profile has this identity under the merge policy")
