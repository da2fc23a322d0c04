"""Loading the compliance suite (``compliance/*.json``) and turning its datasets into Parquet.

A file holds ``now``, a ``dataset`` (``profiles`` with ``__profile_id``, ``events`` with the
``__profile_id`` they belong to, optional ``memberships`` per profile for ``inSegment``), an
optional tenant ``schema`` and ``cases``. Schema types are written ``"string"``, ``"integer"``,
``"double"``, ``"boolean"``, ``"date"``, ``"date-time"``, ``{"$array": T}``, ``{"$map": T}``
or an object ``{"field": T, …}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from segmint.engine.interpreter.data import timestamp
from segmint.pql.types import (
    ArrayType,
    MapType,
    ObjectType,
    PQLType,
    ScalarKind,
    ScalarType,
    Schema,
)
from segmint.xdm import DEFAULT_SCHEMA, PROFILE_ID_COLUMN, build_schema
from segmint.xdm.arrow import event_schema, profile_schema

ROOT = Path(__file__).resolve().parents[2] / "compliance"
ERROR_KINDS = frozenset({"syntax", "type", "name", "unsupported"})
Row = dict[str, Any]


@dataclass(frozen=True)
class Case:
    file: str
    id: str
    expression: str
    expected_members: frozenset[str] | None
    expected_error: str | None

    @property
    def key(self) -> str:
        return f"{self.file}::{self.id}"


@dataclass(frozen=True)
class Suite:
    name: str
    now: datetime
    schema: Schema
    profiles: list[Row]
    events: list[Row]
    memberships: Mapping[str, Mapping[str, str]] | None
    cases: list[Case] = field(default_factory=list)

    def events_of(self, profile_id: str) -> list[Row]:
        return [e for e in self.events if e[PROFILE_ID_COLUMN] == profile_id]


def load_suites() -> list[Suite]:
    return [load_suite(path) for path in sorted(ROOT.glob("*.json"))]


def load_suite(path: Path) -> Suite:
    raw = json.loads(path.read_text())
    name = path.stem
    data = raw["dataset"]
    now = timestamp(raw["now"])
    assert now is not None
    cases = [_case(name, case) for case in raw["cases"]]
    return Suite(
        name=name,
        now=now,
        schema=_schema(raw.get("schema")),
        profiles=data["profiles"],
        events=data.get("events", []),
        memberships=data.get("memberships"),
        cases=cases,
    )


def _case(file: str, raw: Mapping[str, Any]) -> Case:
    members = raw.get("expected_members")
    error = raw.get("expected_error")
    assert (members is None) != (error is None), f"{file}::{raw['id']}: members xor error"
    assert error is None or error in ERROR_KINDS, f"{file}::{raw['id']}: unknown kind {error}"
    return Case(
        file=file,
        id=raw["id"],
        expression=raw["expression"],
        expected_members=None if members is None else frozenset(members),
        expected_error=error,
    )


# --- schemas ------------------------------------------------------------------------------------

_SCALARS = {kind.value: ScalarType(kind) for kind in ScalarKind}


def _schema(raw: Mapping[str, Any] | None) -> Schema:
    if not raw:
        return DEFAULT_SCHEMA
    profile = {name: _type(name, t) for name, t in raw.get("profile", {}).items()}
    event = {name: _type(name, t) for name, t in raw.get("event", {}).items()}
    return build_schema(profile, event)


def _type(name: str, raw: Any) -> PQLType:
    if isinstance(raw, str):
        return _SCALARS[raw]
    if "$array" in raw:
        return ArrayType(_type(name, raw["$array"]))
    if "$map" in raw:
        return MapType(_type(name, raw["$map"]))
    return ObjectType(name, {key: _type(key, value) for key, value in raw.items()})


# --- Parquet ------------------------------------------------------------------------------------


def write_parquet(suite: Suite, directory: Path) -> tuple[list[Path], list[Path]]:
    """The suite's profiles and events as lake Parquet files (profile files, event files)."""
    directory.mkdir(parents=True, exist_ok=True)
    profile_file = directory / "profiles.parquet"
    profiles = [_row(p, suite.schema.profile) for p in suite.profiles]
    pq.write_table(pa.Table.from_pylist(profiles, profile_schema(suite.schema)), profile_file)
    if not suite.events:
        return [profile_file], []
    event_file = directory / "events.parquet"
    events = [_row(e, suite.schema.event) for e in suite.events]
    pq.write_table(pa.Table.from_pylist(events, event_schema(suite.schema)), event_file)
    return [profile_file], [event_file]


def write_memberships(suite: Suite, directory: Path) -> list[tuple[list[Path], list[str]]]:
    """The suite's ``memberships`` (statuses of earlier runs) as one batch of membership rows in
    Parquet, with the segment ids to take from it."""
    if suite.memberships is None:
        return []
    rows = [
        {PROFILE_ID_COLUMN: profile_id, "segmentId": segment_id, "status": status}
        for profile_id, statuses in suite.memberships.items()
        for segment_id, status in statuses.items()
    ]
    schema = pa.schema(
        [(PROFILE_ID_COLUMN, pa.string()), ("segmentId", pa.string()), ("status", pa.string())]
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "memberships.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema), path)
    return [([path], sorted({str(row["segmentId"]) for row in rows}))]


def _row(raw: Mapping[str, Any], owner: ObjectType) -> Row:
    row: Row = {PROFILE_ID_COLUMN: raw[PROFILE_ID_COLUMN]}
    for name, value in raw.items():
        if name != PROFILE_ID_COLUMN:
            row[name] = _arrow_value(value, owner.fields[name])
    return row


def _arrow_value(value: Any, type_: PQLType) -> Any:
    if value is None:
        return None
    if isinstance(type_, ScalarType):
        return _arrow_scalar(value, type_.kind)
    if isinstance(type_, ArrayType):
        return [_arrow_value(item, type_.item) for item in value]
    if isinstance(type_, MapType):
        return [(key, _arrow_value(item, type_.value)) for key, item in value.items()]
    return {name: _arrow_value(item, type_.fields[name]) for name, item in value.items()}


def _arrow_scalar(value: Any, kind: ScalarKind) -> Any:
    if kind is ScalarKind.DATETIME:
        return timestamp(value)
    if kind is ScalarKind.DATE:
        return date.fromisoformat(value) if isinstance(value, str) else value
    return value
