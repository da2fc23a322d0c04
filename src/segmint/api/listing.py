"""List query parameters as AEP spells them: ``start``/``limit`` paging, ``sort=attr:asc``,
``property=path==value`` and ``property=array~key==value`` filters. Bad values are 400s."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from segmint.api.errors import ApiError

MAX_LIMIT = 1000
BAD_PARAMETER = "UPS-SEG-400-2"


def bad(message: str) -> ApiError:
    return ApiError(400, BAD_PARAMETER, message)


def last(params: QueryParams, name: str) -> str | None:
    """The last value of a repeated parameter (clients such as aepp repeat ``limit``)."""
    values = params.getlist(name)
    return values[-1] if values else None


def integer(
    params: QueryParams,
    name: str,
    default: int,
    minimum: int,
    maximum: int,
    error: Callable[[str], ApiError] = bad,
) -> int:
    """An integer parameter; a bad value is ``error(message)`` (a 400 of this API's family)."""
    raw = last(params, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise error(f"query parameter {name!r} must be an integer, got {raw!r}") from exc
    if not minimum <= value <= maximum:
        raise error(
            f"query parameter {name!r} must be between {minimum} and {maximum}, got {value}"
        )
    return value


@dataclass(frozen=True)
class SortOrder:
    field: str
    descending: bool


def sort_orders(raw: str | None, allowed: Iterable[str], default: SortOrder) -> list[SortOrder]:
    """``attr:asc`` or ``attr:desc``, comma-separated."""
    if raw is None or raw == "":
        return [default]
    allowed = set(allowed)
    orders = []
    for part in raw.split(","):
        name, sep, direction = part.strip().partition(":")
        direction = direction.lower() if sep else "asc"
        if name not in allowed:
            raise bad(f"cannot sort by {name!r}; sortable attributes: {', '.join(sorted(allowed))}")
        if direction not in ("asc", "desc"):
            raise bad(f"sort direction must be 'asc' or 'desc', got {direction!r}")
        orders.append(SortOrder(name, direction == "desc"))
    return orders


@dataclass(frozen=True)
class PropertyFilter:
    """``path==value`` (``array`` None) or ``array~path==value``."""

    path: tuple[str, ...]
    value: str
    array: str | None = None

    def matches(self, document: Mapping[str, Any]) -> bool:
        if self.array is None:
            return _same(_lookup(document, self.path), self.value)
        items = document.get(self.array)
        if not isinstance(items, list):
            return False
        return any(
            isinstance(item, Mapping) and _same(_lookup(item, self.path), self.value)
            for item in items
        )


def property_filters(values: Sequence[str]) -> list[PropertyFilter]:
    return [_property_filter(raw) for raw in values]


def _property_filter(raw: str) -> PropertyFilter:
    left, sep, value = raw.partition("==")
    if not sep or not left:
        raise bad(f"property filter must be 'path==value' or 'array~key==value', got {raw!r}")
    array, tilde, key = left.partition("~")
    path = key if tilde else left
    parts = tuple(path.split("."))
    if any(not p for p in parts) or (tilde and not array):
        raise bad(f"malformed property filter {raw!r}")
    return PropertyFilter(parts, value, array if tilde else None)


def _lookup(document: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = document
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _same(actual: Any, wanted: str) -> bool:
    if isinstance(actual, bool):
        return str(actual).lower() == wanted.lower()
    if actual is None or isinstance(actual, (dict, list)):
        return False
    return str(actual) == wanted
