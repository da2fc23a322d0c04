"""Tenant field groups (``_<tenantId>`` fields) written as compact JSON::

    {"_acme": {"loyaltyScore": "integer", "tags": ["string"],
               "preferences": {"channel": "string"}, "scores": {"$map": "double"}}}

A string names a scalar type, a one-item list is an array of that type, ``{"$map": T}`` is a
map from strings to ``T``, any other object is an object of named fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segmint.pql.types import (
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    INTEGER,
    STRING,
    ArrayType,
    MapType,
    ObjectType,
    PQLType,
)
from segmint.xdm.schema import TenantFieldError

SCALAR_NAMES: dict[str, PQLType] = {
    "string": STRING,
    "integer": INTEGER,
    "long": INTEGER,
    "double": DOUBLE,
    "number": DOUBLE,
    "boolean": BOOLEAN,
    "date": DATE,
    "date-time": DATETIME,
}
MAP_KEY = "$map"
MAX_DEPTH = 16


def parse_field_groups(document: Any) -> dict[str, PQLType]:
    """The top-level ``_<tenant>`` fields described by ``document``; TenantFieldError
    naming the path of the first fault."""
    if not isinstance(document, Mapping) or not document:
        raise TenantFieldError("a field group document is a non-empty JSON object")
    groups: dict[str, PQLType] = {}
    for name, description in document.items():
        if not isinstance(name, str) or not name.startswith("_") or len(name) < 2:
            raise TenantFieldError(f"tenant field group {name!r} must be named _<tenantId>")
        groups[name] = _type(description, name, 0)
    return groups


def _type(description: Any, path: str, depth: int) -> PQLType:
    if depth > MAX_DEPTH:
        raise TenantFieldError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(description, str):
        return _scalar(description, path)
    if isinstance(description, list):
        if len(description) != 1:
            raise TenantFieldError(f"{path}: an array is written as a list of one item type")
        return ArrayType(_type(description[0], f"{path}[]", depth + 1))
    if isinstance(description, Mapping):
        return _object_or_map(description, path, depth)
    raise TenantFieldError(f"{path}: expected a type name, a list or an object")


def _scalar(name: str, path: str) -> PQLType:
    scalar = SCALAR_NAMES.get(name)
    if scalar is None:
        known = ", ".join(sorted(SCALAR_NAMES))
        raise TenantFieldError(f"{path}: unknown type {name!r} (known: {known})")
    return scalar


def _object_or_map(description: Mapping[str, Any], path: str, depth: int) -> PQLType:
    if MAP_KEY in description:
        if len(description) != 1:
            raise TenantFieldError(f"{path}: {MAP_KEY!r} must be the only key of a map type")
        return MapType(_type(description[MAP_KEY], f"{path}.{MAP_KEY}", depth + 1))
    if not description:
        raise TenantFieldError(f"{path}: an object type needs at least one field")
    fields = {}
    for name, item in description.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise TenantFieldError(f"{path}: field name {name!r} is not an identifier")
        fields[name] = _type(item, f"{path}.{name}", depth + 1)
    return ObjectType(path.rsplit(".", 1)[-1], fields)
