"""Execute compiled segment plans on an engine: embedded DuckDB (the default) or Spark
(:mod:`segmint.engine.runners.spark`, imported on demand: PySpark is an optional extra)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from segmint.engine.runners.duckdb import DuckDBRunner
from segmint.engine.runners.membership import MembershipStats, QueryCancelled, SegmentCounts
from segmint.pql.ast import Expr


class Runner(Protocol):
    """What a job needs of an engine: one membership run, and cancelling it."""

    def run_membership(
        self,
        *,
        profile_files: Sequence[Path],
        event_files: Sequence[Path],
        segments: Sequence[tuple[str, Expr]],
        now: datetime,
        previous: Sequence[tuple[Sequence[Path], Sequence[str]]],
        out_dir: Path,
        namespaces: bool = True,
        memberships: Sequence[tuple[Sequence[Path], Sequence[str]]] = (),
        person_keys: Sequence[Path] = (),
    ) -> MembershipStats: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


__all__ = ["DuckDBRunner", "MembershipStats", "QueryCancelled", "Runner", "SegmentCounts"]
