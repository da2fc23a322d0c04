"""A definition's expression as stored (``pql/text`` or ``pql/json``) → a checked tree the
engine can run. Shared by definition writes (API) and job execution."""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from segmint import pql
from segmint.engine import check_supported
from segmint.pql.ast import Chain, Expr, XEvent
from segmint.pql.types import Schema

PQL_TEXT = "pql/text"
PQL_JSON = "pql/json"
FORMATS = (PQL_TEXT, PQL_JSON)
SKIP = frozenset({"span", "type"})  # node annotations, not children


def parse_expression(expression_format: str, value: str) -> Expr:
    """The syntax tree of ``value``; PQLSyntaxError if it is not valid in its format."""
    if expression_format == PQL_JSON:
        return pql.from_json(value)
    if expression_format == PQL_TEXT:
        return pql.parse(value)
    raise ValueError(f"unknown expression format {expression_format!r}")


def reads_events(expr: Expr) -> bool:
    """Whether any part of the tree reads experience events (``xEvent`` or ``chain``)."""
    pending: list[object] = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, XEvent | Chain):
            return True
        if isinstance(node, tuple):
            pending.extend(node)
        elif is_dataclass(node):
            pending.extend(getattr(node, f.name) for f in fields(node) if f.name not in SKIP)
    return False


def compile_expression(
    expression_format: str, value: str, schema: Schema, engine: str = "duckdb"
) -> Expr:
    """Parse, check against ``schema``, and make sure ``engine`` can evaluate it."""
    source = value if expression_format == PQL_TEXT else ""
    checked = pql.check(parse_expression(expression_format, value), schema, source=source)
    check_supported(checked, engine)
    return checked
