"""Build the PQL schema for one sandbox: standard field groups plus tenant fields."""

from __future__ import annotations

from collections.abc import Mapping

from segmint.pql.types import ObjectType, PQLType, Schema
from segmint.xdm.fieldgroups import EVENT_FIELDS, PROFILE_FIELDS

PROFILE_CLASS = "_xdm.context.profile"
EXPERIENCE_EVENT_CLASS = "_xdm.context.experienceevent"


class TenantFieldError(ValueError):
    """A tenant field group does not live under a ``_<tenant>`` name."""


def build_schema(
    tenant_profile_fields: Mapping[str, PQLType] | None = None,
    tenant_event_fields: Mapping[str, PQLType] | None = None,
) -> Schema:
    """The union schema of a sandbox: standard fields, then ``_<tenant>`` field groups."""
    profile = _with_tenant(PROFILE_CLASS, PROFILE_FIELDS, tenant_profile_fields or {})
    event = _with_tenant(EXPERIENCE_EVENT_CLASS, EVENT_FIELDS, tenant_event_fields or {})
    return Schema(profile=profile, event=event)


def _with_tenant(
    name: str, standard: Mapping[str, PQLType], tenant: Mapping[str, PQLType]
) -> ObjectType:
    for key in tenant:
        if not key.startswith("_") or key in standard:
            raise TenantFieldError(f"tenant field group {key!r} must be named _<tenantId>")
    return ObjectType(name, {**standard, **tenant})


DEFAULT_SCHEMA = build_schema()
