"""Profile Query Language: parse pql/text, print it back, and type-check it against a schema.

``parse`` builds a syntactic ``ast.Expr``, ``format`` renders one as canonical pql/text, and
``check`` resolves and types it against a ``types.Schema``. ``to_json``/``from_json`` convert to
and from pql/json; ``classify`` tells which evaluation methods (batch, streaming, edge) fit.
PQL is the bottom layer of Segmint.
"""

from segmint.pql import ast, types
from segmint.pql.checker import check
from segmint.pql.errors import (
    PQLError,
    PQLNameError,
    PQLSyntaxError,
    PQLTypeError,
    PQLUnsupportedError,
)
from segmint.pql.evaluation_class import EvaluationClasses, classify, evaluation_info
from segmint.pql.json_form import from_json, to_json
from segmint.pql.parser import parse
from segmint.pql.printer import format

__all__ = [
    "EvaluationClasses",
    "PQLError",
    "PQLNameError",
    "PQLSyntaxError",
    "PQLTypeError",
    "PQLUnsupportedError",
    "ast",
    "check",
    "classify",
    "evaluation_info",
    "format",
    "from_json",
    "parse",
    "to_json",
    "types",
]
