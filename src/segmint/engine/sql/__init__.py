"""PQL → SQL: the base compiler, its dialects, and the planner that evaluates many segments in
one pass."""

from segmint.engine.sql.compiler import Compiler, CorrelatedEventCounts, EventCounts
from segmint.engine.sql.duckdb import DuckDBCompiler
from segmint.engine.sql.planner import (
    COMPILERS,
    GroupedEventCounts,
    check_supported,
    compile_expression,
    plan_segments,
    segment_column,
)

__all__ = [
    "COMPILERS",
    "Compiler",
    "CorrelatedEventCounts",
    "DuckDBCompiler",
    "EventCounts",
    "GroupedEventCounts",
    "check_supported",
    "compile_expression",
    "plan_segments",
    "segment_column",
]
