"""The reference interpreter's member counts for the benchmark definitions, one profile at a
time: the oracle that checks the hand-written SQL on small data."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from benchmarks.definitions import BY_KEY, dependencies

from segmint.engine import evaluate
from segmint.pql import check, parse
from segmint.pql.ast import Expr
from segmint.pql.types import Schema
from segmint.xdm import DEFAULT_SCHEMA, PROFILE_ID_COLUMN


def checked(key: str, ids: dict[str, str], schema: Schema = DEFAULT_SCHEMA) -> Expr:
    """Definition ``key`` parsed and checked, its ``inSegment`` references naming ``ids``."""
    text = BY_KEY[key].pql_with_ids(ids)
    return check(parse(text), schema, source=text)


def interpreted_counts(
    profile_files: Sequence[Path], event_files: Sequence[Path], keys: Sequence[str], now: datetime
) -> dict[str, int]:
    """Members of each definition in ``keys`` by the interpreter; a segment of segments reads
    the memberships of this same evaluation."""
    order = dependencies(keys)
    ids = {key: f"bench-{key}" for key in order}
    expressions = {key: checked(key, ids) for key in order}
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in event_files:
        for event in pq.read_table(path).to_pylist():
            events[event[PROFILE_ID_COLUMN]].append(event)
    counts = dict.fromkeys(order, 0)
    for path in profile_files:
        for profile in pq.read_table(path).to_pylist():
            own = events.get(profile[PROFILE_ID_COLUMN], [])
            memberships: dict[str, str] = {}
            for key in order:
                if evaluate(expressions[key], profile, own, now, memberships=memberships):
                    memberships[ids[key]] = "realized"
                    counts[key] += 1
    return {key: counts[key] for key in keys}
