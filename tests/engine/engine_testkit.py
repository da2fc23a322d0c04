"""Helpers shared by the engine tests: checked PQL, a tiny Parquet lake, and the interpreter's
members of a segment over it (one profile at a time)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from segmint.engine.interpreter.evaluator import evaluate
from segmint.pql import check, parse
from segmint.pql.ast import Expr
from segmint.xdm import DEFAULT_SCHEMA, PROFILE_ID_COLUMN, event_schema, profile_schema

# A Wednesday afternoon: ISO week starts Monday 2025-06-16, the month 2025-06-01.
NOW = datetime(2025, 6, 18, 14, 30)

Row = dict[str, Any]


def pql(text: str) -> Expr:
    """``text`` parsed and checked against the default XDM schema."""
    return check(parse(text), DEFAULT_SCHEMA, source=text)


@dataclass(frozen=True)
class Lake:
    """Profiles and events written as Parquet with the lake's Arrow schemas."""

    profile_files: list[Path]
    event_files: list[Path]

    def profiles(self) -> list[Row]:
        return read_rows(self.profile_files)

    def events_by_profile(self) -> dict[str, list[Row]]:
        grouped: dict[str, list[Row]] = defaultdict(list)
        for event in read_rows(self.event_files):
            grouped[event[PROFILE_ID_COLUMN]].append(event)
        return grouped


def read_rows(files: Sequence[Path]) -> list[Row]:
    rows: list[Row] = []
    for path in files:
        rows += pq.read_table(path).to_pylist()
    return rows


def write_lake(directory: Path, profiles: Sequence[Row], events: Sequence[Row]) -> Lake:
    directory.mkdir(parents=True, exist_ok=True)
    profile_file = directory / "profiles.parquet"
    pq.write_table(
        pa.Table.from_pylist(list(profiles), profile_schema(DEFAULT_SCHEMA)), profile_file
    )
    if not events:
        return Lake([profile_file], [])
    event_file = directory / "events.parquet"
    pq.write_table(pa.Table.from_pylist(list(events), event_schema(DEFAULT_SCHEMA)), event_file)
    return Lake([profile_file], [event_file])


def interpreted_members(lake: Lake, expr: Expr, now: datetime = NOW) -> set[str]:
    """The profiles the reference interpreter puts in the segment."""
    events = lake.events_by_profile()
    return {
        profile[PROFILE_ID_COLUMN]
        for profile in lake.profiles()
        if evaluate(expr, profile, events.get(profile[PROFILE_ID_COLUMN], []), now)
    }
