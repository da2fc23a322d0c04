"""Evaluation of checked PQL: the reference interpreter, the SQL compilers and the planner.

    evaluate(expr, profile, events, now)          the oracle, one profile at a time
    check_supported(expr, engine="duckdb")        reject what an engine cannot run, before a job
    compile_expression(expr, now)                 one expression → sqlglot
    plan_segments(segments, now)                  many segments → one sqlglot query
"""

from segmint.engine.interpreter.evaluator import evaluate
from segmint.engine.sql import check_supported, compile_expression, plan_segments

__all__ = ["check_supported", "compile_expression", "evaluate", "plan_segments"]
