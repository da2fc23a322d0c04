"""Running segments through DuckDBRunner.run_membership in tests, and reading what it wrote."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from engine_testkit import NOW, Lake, Row, read_rows

from segmint.engine import DuckDBRunner, MembershipStats
from segmint.pql.ast import Expr
from segmint.xdm import PROFILE_ID_COLUMN


def run(
    lake: Lake,
    segments: Sequence[tuple[str, Expr]],
    out_dir: Path,
    *,
    now: datetime = NOW,
    previous: Sequence[tuple[Sequence[Path], Sequence[str]]] = (),
    runner: DuckDBRunner | None = None,
) -> tuple[MembershipStats, list[Row]]:
    """``run_membership`` over the lake; the stats and the written membership rows."""
    stats = (runner or DuckDBRunner(threads=2)).run_membership(
        profile_files=lake.profile_files,
        event_files=lake.event_files,
        segments=segments,
        now=now,
        previous=previous,
        out_dir=out_dir,
    )
    return stats, read_rows(sorted(out_dir.glob("*.parquet")))


def qualified_by_segment(rows: Sequence[Row]) -> Mapping[str, set[str]]:
    members: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row["status"] in ("realized", "existing"):
            members[row["segmentId"]].add(row[PROFILE_ID_COLUMN])
    return members
