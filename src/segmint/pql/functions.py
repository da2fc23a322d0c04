"""The catalogue of PQL methods and functions (pql.md §7.0): arity and receiver of each.

The checker validates names, arities and receivers from this table before a rule types the
call; the rules themselves live in ``check_calls``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from segmint.pql.types import (
    ANY,
    STRING,
    ArrayType,
    MapType,
    PQLType,
    ScalarKind,
    ScalarType,
    is_temporal,
)


class Receiver(StrEnum):
    """What a method may be called on."""

    ANY = "any"
    STRING = "string"
    TEXT = "text"  # a string, or strings reached through an array (existential)
    ARRAY = "array"
    MAP = "map"
    COLLECTION = "collection"
    TEMPORAL = "temporal"


RECEIVER_TEXT: dict[Receiver, str] = {
    Receiver.ANY: "any value",
    Receiver.STRING: "a string",
    Receiver.TEXT: "a string",
    Receiver.ARRAY: "an array",
    Receiver.MAP: "a map",
    Receiver.COLLECTION: "an array or a map",
    Receiver.TEMPORAL: "a date or date-time",
}


@dataclass(frozen=True)
class Signature:
    """``low``-``high`` arguments (the receiver excluded)."""

    low: int
    high: int
    receiver: Receiver = Receiver.ANY


STRING_PREDICATES = (
    "startsWith",
    "doesNotStartWith",
    "endsWith",
    "doesNotEndWith",
    "contains",
    "doesNotContain",
    "equals",
    "notEqualTo",
)
SET_PREDICATES = ("intersects", "subsetOf", "supersetOf")
AGGREGATES = ("sum", "average", "min", "max")
CALENDAR_METHODS = ("getMonth", "getYear", "getDayOfMonth")
CALENDAR_FUNCTIONS = ("currentMonth", "currentYear", "currentDayOfMonth")

METHODS: dict[str, Signature] = {
    **dict.fromkeys(STRING_PREDICATES, Signature(1, 2, Receiver.TEXT)),
    "matches": Signature(1, 1, Receiver.TEXT),
    "regexGroup": Signature(1, 2, Receiver.STRING),
    **dict.fromkeys(SET_PREDICATES, Signature(1, 1, Receiver.ARRAY)),
    "intersection": Signature(1, 1, Receiver.ARRAY),
    "includes": Signature(1, 1, Receiver.ARRAY),
    "distinct": Signature(0, 0, Receiver.ARRAY),
    "groupBy": Signature(1, 1, Receiver.ARRAY),
    "filter": Signature(1, 1, Receiver.ARRAY),
    "map": Signature(1, 1, Receiver.COLLECTION),
    "topN": Signature(2, 2, Receiver.ARRAY),
    "bottomN": Signature(2, 2, Receiver.ARRAY),
    "head": Signature(0, 0, Receiver.ARRAY),
    "exists": Signature(1, 1, Receiver.ARRAY),
    "count": Signature(0, 0, Receiver.ARRAY),
    **dict.fromkeys(AGGREGATES, Signature(0, 1, Receiver.ARRAY)),
    "get": Signature(1, 1, Receiver.MAP),
    "keys": Signature(0, 0, Receiver.MAP),
    "values": Signature(0, 0, Receiver.MAP),
    "isNull": Signature(0, 0),
    "isNotNull": Signature(0, 0),
    **dict.fromkeys(CALENDAR_METHODS, Signature(0, 0, Receiver.TEMPORAL)),
}

FUNCTIONS: dict[str, Signature] = {
    "if": Signature(3, 3),
    "inSegment": Signature(1, 1),
    "mapEntry": Signature(2, 2),
    "date": Signature(3, 3),
    **dict.fromkeys(CALENDAR_FUNCTIONS, Signature(0, 0)),
}


def accepts(receiver: Receiver, type_: PQLType) -> bool:
    """Whether a value of ``type_`` may receive a method that needs ``receiver``."""
    if receiver is Receiver.ANY:
        return True
    if receiver is Receiver.TEXT and isinstance(type_, ArrayType) and type_.projected:
        return type_.item in (STRING, ANY)
    if receiver in (Receiver.STRING, Receiver.TEXT):
        return type_ == ANY or (isinstance(type_, ScalarType) and type_.kind is ScalarKind.STRING)
    if receiver is Receiver.TEMPORAL:
        return type_ == ANY or is_temporal(type_)
    if receiver is Receiver.ARRAY:
        return isinstance(type_, ArrayType)
    if receiver is Receiver.MAP:
        return isinstance(type_, MapType)
    return isinstance(type_, ArrayType | MapType)
