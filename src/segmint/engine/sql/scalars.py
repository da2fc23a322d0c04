"""Scalar rules of the compiler: regular expressions, calendar parts, ``if``, ``date()``, and
``occurs`` anchored on a value (pql.md §6-7)."""

from __future__ import annotations

from segmint.engine.sql.compiler import Compiler


class ScalarRules(Compiler):
    """``method_<name>`` / ``function_<name>`` rules for scalar values."""
