"""Reading profile and event data as PQL values (pql.md §3, §12.0).

Data comes as plain dicts (ingested JSON) or as pyarrow's ``to_pylist()`` of the lake layout.
A value is conformed to its field's type when it is read: date-times from ISO-8601 strings or
epoch milliseconds to naive UTC ``datetime``, dates from ISO strings to ``date``, maps stored
as Arrow ``[(key, value), …]`` pairs to dicts. An absent field reads as ``MISSING``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from segmint.engine.interpreter.runtime import MISSING, is_null
from segmint.pql.errors import PQLTypeError
from segmint.pql.types import ArrayType, MapType, PQLType, ScalarKind, ScalarType

_EPOCH = datetime(1970, 1, 1)


def field(container: object, name: str) -> object:
    """``container.name``: the field of an object (or map), ``MISSING`` when absent."""
    if isinstance(container, Mapping):
        return container.get(name, MISSING)
    return MISSING


def conform(value: object, type_: PQLType | None) -> object:
    """``value`` as a PQL value of ``type_`` (unknown types leave it as it is)."""
    if is_null(value) or type_ is None:
        return value
    if isinstance(type_, ScalarType):
        return _scalar(value, type_.kind)
    if isinstance(type_, ArrayType) and isinstance(value, list):
        if isinstance(type_.item, ScalarType | MapType | ArrayType):
            return [conform(item, type_.item) for item in value]
        return value
    if isinstance(type_, MapType):
        return _map(value, type_)
    return value


def _scalar(value: object, kind: ScalarKind) -> object:
    if kind is ScalarKind.DATETIME:
        return timestamp(value)
    if kind is ScalarKind.DATE:
        return _date(value)
    return value


def timestamp(value: object) -> datetime | None:
    """A date-time as naive UTC: from a ``datetime``, a ``date``, ISO-8601 text or epoch ms."""
    if is_null(value):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, int) and not isinstance(value, bool):
        return _EPOCH + timedelta(milliseconds=value)
    if isinstance(value, str):
        return timestamp(_parse_iso(value))
    raise PQLTypeError(f"{value!r} is not a date-time")


def _date(value: object) -> date | None:
    if isinstance(value, datetime):
        moment = timestamp(value)
        return None if moment is None else moment.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value)
    moment = timestamp(value)
    return None if moment is None else moment.date()


def _parse_iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PQLTypeError(f"{text!r} is not an ISO-8601 date-time") from None


def _map(value: object, type_: MapType) -> object:
    if isinstance(value, list):
        value = dict(value)
    if not isinstance(value, Mapping):
        raise PQLTypeError(f"{value!r} is not a map")
    return {key: conform(item, type_.value) for key, item in value.items()}
