"""Evaluation of checked PQL: the reference interpreter (more to come: SQL compilers, runners).

    evaluate(expr, profile, events, now)          the oracle, one profile at a time
"""

from segmint.engine.interpreter.evaluator import evaluate

__all__ = ["evaluate"]
