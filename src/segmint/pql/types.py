"""PQL value types and the schema a query is checked against.

An XDM schema is described to PQL as two ``ObjectType`` trees: the merged profile and the
experience event. ``segmint.xdm`` builds them; the checker only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class ScalarKind(StrEnum):
    BOOLEAN = "boolean"
    INTEGER = "integer"
    DOUBLE = "double"
    STRING = "string"
    DATE = "date"
    DATETIME = "date-time"
    TIME_REF = "time-ref"
    ANY = "any"
    NULL = "null"


@dataclass(frozen=True)
class ScalarType:
    kind: ScalarKind

    def __str__(self) -> str:
        return self.kind.value


@dataclass(frozen=True)
class ArrayType:
    item: PQLType
    # True when the array comes from a path stepping through an array (map + flatten):
    # predicates over it are existential (pql.md §4.2).
    projected: bool = False

    def __str__(self) -> str:
        return f"array<{self.item}>"


@dataclass(frozen=True)
class MapType:
    value: PQLType

    def __str__(self) -> str:
        return f"map<string, {self.value}>"


@dataclass(frozen=True)
class ObjectType:
    """An XDM object: ordered named fields. ``name`` is for messages only."""

    name: str
    fields: Mapping[str, PQLType] = field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        return f"object {self.name}"

    def __hash__(self) -> int:
        return hash(self.name)


PQLType = ScalarType | ArrayType | MapType | ObjectType

BOOLEAN = ScalarType(ScalarKind.BOOLEAN)
INTEGER = ScalarType(ScalarKind.INTEGER)
DOUBLE = ScalarType(ScalarKind.DOUBLE)
STRING = ScalarType(ScalarKind.STRING)
DATE = ScalarType(ScalarKind.DATE)
DATETIME = ScalarType(ScalarKind.DATETIME)
TIME_REF = ScalarType(ScalarKind.TIME_REF)
ANY = ScalarType(ScalarKind.ANY)
NULL = ScalarType(ScalarKind.NULL)

NUMERIC_KINDS = frozenset({ScalarKind.INTEGER, ScalarKind.DOUBLE})
TEMPORAL_KINDS = frozenset({ScalarKind.DATE, ScalarKind.DATETIME})


def is_numeric(t: PQLType) -> bool:
    return isinstance(t, ScalarType) and t.kind in NUMERIC_KINDS


def is_temporal(t: PQLType) -> bool:
    return isinstance(t, ScalarType) and t.kind in TEMPORAL_KINDS


@dataclass(frozen=True)
class Schema:
    """What a segment definition is checked against: the merged profile (root scope, ``$1``)
    and the item type of ``xEvent``."""

    profile: ObjectType
    event: ObjectType
