"""Evaluation of checked PQL: the reference interpreter, the SQL compilers and planner, and the
runners that execute a segment job.

    evaluate(expr, profile, events, now)          the oracle, one profile at a time
    value(expr, profile, events, now)             the oracle's raw value of any expression
    check_supported(expr, engine="duckdb")        reject what an engine cannot run, before a job
    compile_expression(expr, now)                 one expression → sqlglot
    plan_segments(segments, now)                  many segments → one sqlglot query
    DuckDBRunner().run_membership(...)            evaluate + diff + write Parquet → MembershipStats
    SparkRunner().run_membership(...)             the same on Spark (segmint.engine.runners.spark)
"""

from segmint.engine.interpreter.evaluator import evaluate, value
from segmint.engine.runners import (
    DuckDBRunner,
    MembershipStats,
    QueryCancelled,
    Runner,
    SegmentCounts,
)
from segmint.engine.sql import check_supported, compile_expression, plan_segments
from segmint.engine.sql.spark import SparkCompiler

__all__ = [
    "DuckDBRunner",
    "MembershipStats",
    "QueryCancelled",
    "Runner",
    "SegmentCounts",
    "SparkCompiler",
    "check_supported",
    "compile_expression",
    "evaluate",
    "plan_segments",
    "value",
]
