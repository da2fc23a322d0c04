"""Property, on a smaller budget than DuckDB's: random jobs (event aggregates, quantifiers,
lists, chains, segments of segments) give the same members on Spark as in the interpreter.

Segments Spark rejects up front (its known gaps, e.g. comparing whole events that hold a map)
are left out of the run; every other segment must agree.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from engine_runs import qualified_by_segment
from engine_testkit import NOW, read_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pql_strategies import (
    EVENT_AGGREGATES,
    EVENT_LISTS,
    EVENT_QUANTIFIERS,
    Rows,
    chains,
    interpreted_segments,
    jobs,
    lakes,
    segment_parts,
    write_rows,
)

from segmint.engine import check_supported
from segmint.pql import format as format_pql
from segmint.pql.ast import Expr
from segmint.pql.errors import PQLUnsupportedError
from segmint.pql.walk import segment_references
from tests.spark_support import spark_runner

SPARK_SETTINGS = settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def runnable_on_spark(segments: list[tuple[str, Expr]]) -> list[tuple[str, Expr]]:
    """The segments Spark accepts, and only those whose inSegment targets it accepts too."""
    kept: dict[str, Expr] = {}
    for segment_id, expression in segments:
        try:
            check_supported(expression, engine="spark")
        except PQLUnsupportedError:
            continue
        if segment_references(expression) <= kept.keys():
            kept[segment_id] = expression
    return list(kept.items())


def check_on_spark(texts: list[str], data: Rows) -> None:
    segments = runnable_on_spark(segment_parts(texts))
    with tempfile.TemporaryDirectory() as directory:
        lake = write_rows(Path(directory) / "lake", data)
        out_dir = Path(directory) / "out"
        spark_runner().run_membership(
            profile_files=lake.profile_files,
            event_files=lake.event_files,
            segments=segments,
            now=NOW,
            previous=(),
            out_dir=out_dir,
        )
        found = qualified_by_segment(read_rows(sorted(out_dir.glob("*.parquet"))))
        expected = interpreted_segments(lake, segments)
    for segment_id, expression in segments:
        got = found.get(segment_id, set())
        assert got == expected[segment_id], (
            f"{segment_id}: {format_pql(expression)}\n"
            f"spark only {sorted(got - expected[segment_id])}, "
            f"interpreter only {sorted(expected[segment_id] - got)}"
        )


@SPARK_SETTINGS
@given(
    texts=jobs(st.one_of(EVENT_AGGREGATES, EVENT_QUANTIFIERS, EVENT_LISTS), size=(4, 8)),
    data=lakes(),
)
def test_spark_agrees_on_events(texts: list[str], data: Rows) -> None:
    check_on_spark(texts, data)


@SPARK_SETTINGS
@given(texts=jobs(chains(), size=(2, 4)), data=lakes(max_events=6))
def test_spark_agrees_on_chains(texts: list[str], data: Rows) -> None:
    check_on_spark(texts, data)
