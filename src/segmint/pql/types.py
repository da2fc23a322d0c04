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
    FUNCTION = "function"


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
    # XDM maps are keyed by strings; ``groupBy`` builds maps keyed by any value.
    key: PQLType = field(default_factory=lambda: ScalarType(ScalarKind.STRING))

    def __str__(self) -> str:
        return f"map<{self.key}, {self.value}>"


@dataclass(frozen=True)
class ObjectType:
    """An XDM object: ordered named fields. ``name`` is for messages only."""

    name: str
    fields: Mapping[str, PQLType] = field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        return f"object {self.name}"

    def __hash__(self) -> int:
        return hash(self.name)


class TupleType(ObjectType):
    """One row of a multi-variable ``select``: an object whose fields are the variables."""

    def __str__(self) -> str:
        parts = ", ".join(f"{name}: {type_}" for name, type_ in self.fields.items())
        return f"tuple<{parts}>"

    def __hash__(self) -> int:
        return hash(tuple(self.fields))


class MapEntryType(ObjectType):
    """``mapEntry(k, v)``: one entry of the map a two-parameter ``map`` lambda builds; an
    object with the fields ``key`` and ``value``."""

    @classmethod
    def of(cls, key: PQLType, value: PQLType) -> MapEntryType:
        return cls("entry", {"key": key, "value": value})

    def __str__(self) -> str:
        return f"entry<{self.fields['key']}, {self.fields['value']}>"

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True)
class FunctionType(ScalarType):
    """A lambda (kind ``FUNCTION``): its parameter types and its body's type."""

    params: tuple[PQLType, ...] = ()
    result: PQLType = field(default_factory=lambda: ScalarType(ScalarKind.ANY))

    @classmethod
    def of(cls, params: tuple[PQLType, ...], result: PQLType) -> FunctionType:
        return cls(ScalarKind.FUNCTION, params, result)

    def __str__(self) -> str:
        return f"function({', '.join(map(str, self.params))}) -> {self.result}"


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
