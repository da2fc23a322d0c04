"""The Arrow (and so Parquet) layout of XDM data in the lake.

XDM nesting is kept as STRUCT/LIST/MAP columns so PQL paths map to column paths directly.
Every table also carries ``__profile_id``: the primary identity (``Namespace:id``) of the
profile a row belongs to.
"""

from __future__ import annotations

import pyarrow as pa

from segmint.pql.types import (
    ArrayType,
    MapType,
    ObjectType,
    PQLType,
    ScalarKind,
    ScalarType,
    Schema,
)

PROFILE_ID_COLUMN = "__profile_id"

_SCALARS: dict[ScalarKind, pa.DataType] = {
    ScalarKind.BOOLEAN: pa.bool_(),
    ScalarKind.INTEGER: pa.int64(),
    ScalarKind.DOUBLE: pa.float64(),
    ScalarKind.STRING: pa.string(),
    ScalarKind.DATE: pa.date32(),
    ScalarKind.DATETIME: pa.timestamp("us"),  # always UTC
}


def arrow_type(t: PQLType) -> pa.DataType:
    """The Arrow type that stores values of an XDM/PQL type."""
    if isinstance(t, ScalarType):
        return _SCALARS[t.kind]
    if isinstance(t, ArrayType):
        return pa.list_(arrow_type(t.item))
    if isinstance(t, MapType):
        return pa.map_(pa.string(), arrow_type(t.value))
    return pa.struct([pa.field(name, arrow_type(ft)) for name, ft in t.fields.items()])


def table_schema(obj: ObjectType) -> pa.Schema:
    """Arrow schema of a lake table: the profile-id column then every top-level XDM field."""
    fields = [pa.field(PROFILE_ID_COLUMN, pa.string(), nullable=False)]
    fields += [pa.field(name, arrow_type(t)) for name, t in obj.fields.items()]
    return pa.schema(fields)


def profile_schema(schema: Schema) -> pa.Schema:
    return table_schema(schema.profile)


def event_schema(schema: Schema) -> pa.Schema:
    return table_schema(schema.event)
