"""DuckDB's overrides of the base compiler (DuckDB 2.0)."""

from __future__ import annotations

from typing import ClassVar

from sqlglot import exp

from segmint.engine.sql.compiler import paren
from segmint.engine.sql.language import LanguageCompiler
from segmint.pql.ast import Expr


class DuckDBCompiler(LanguageCompiler):
    dialect: ClassVar[str] = "duckdb"
    engine: ClassVar[str] = "DuckDB"

    def like(self, text: exp.Expr, pattern: Expr) -> exp.Expr:
        # DuckDB's LIKE has no default escape character, exactly like PQL's patterns.
        return exp.Like(this=paren(text), expression=paren(self.visit(pattern)))
