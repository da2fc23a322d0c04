"""Reference semantics of PQL over one profile and its events (the oracle the SQL backends
are tested against). ``runtime`` holds the null rules; ``evaluator`` the visitor.

This package's ``__init__`` imports nothing, so the shared ``runtime`` module can be imported
by :mod:`segmint.engine.timewindows` without a cycle; use ``segmint.engine.evaluate``.
"""
