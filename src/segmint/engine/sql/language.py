"""The whole language: the core compiler with every rules mixin; dialects subclass it."""

from __future__ import annotations

from segmint.engine.sql.chains import ChainRules
from segmint.engine.sql.scalars import ScalarRules


class LanguageCompiler(ScalarRules, ChainRules):
    """Every construct the SQL engines compile; a dialect overrides only its hooks."""
