"""XDM schemas: the standard Individual Profile and ExperienceEvent field groups, tenant
fields, and their Arrow layout in the lake."""

from segmint.xdm.arrow import PROFILE_ID_COLUMN, arrow_type, event_schema, profile_schema
from segmint.xdm.schema import (
    DEFAULT_SCHEMA,
    EXPERIENCE_EVENT_CLASS,
    PROFILE_CLASS,
    TenantFieldError,
    build_schema,
)
from segmint.xdm.tenant import parse_field_groups

__all__ = [
    "DEFAULT_SCHEMA",
    "EXPERIENCE_EVENT_CLASS",
    "PROFILE_CLASS",
    "PROFILE_ID_COLUMN",
    "TenantFieldError",
    "arrow_type",
    "build_schema",
    "event_schema",
    "parse_field_groups",
    "profile_schema",
]
