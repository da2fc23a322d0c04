"""The public surface of ``segmint.pql`` and its place as the bottom layer."""

from __future__ import annotations

import subprocess
import sys

import segmint.pql as pql
from segmint.xdm import DEFAULT_SCHEMA


def test_public_names() -> None:
    assert set(pql.__all__) == {
        "parse",
        "check",
        "format",
        "to_json",
        "from_json",
        "classify",
        "evaluation_info",
        "EvaluationClasses",
        "PQLError",
        "PQLSyntaxError",
        "PQLTypeError",
        "PQLNameError",
        "PQLUnsupportedError",
        "ast",
        "types",
    }
    for name in pql.__all__:
        assert getattr(pql, name) is not None


def test_error_hierarchy() -> None:
    for error in (pql.PQLSyntaxError, pql.PQLTypeError, pql.PQLNameError, pql.PQLUnsupportedError):
        assert issubclass(error, pql.PQLError)


def test_parse_check_format_pipeline() -> None:
    text = 'homeAddress.countryCode = "US" and (select X from xEvent where X.eventType = "a")'
    tree = pql.parse(text)
    typed = pql.check(tree, DEFAULT_SCHEMA, source=text)
    assert typed.type == pql.types.BOOLEAN
    assert pql.format(tree) == text


def test_pql_imports_no_other_segmint_layer() -> None:
    code = (
        "import sys, segmint.pql; "
        "print(sorted(m for m in sys.modules if m.startswith('segmint.') "
        "and not m.startswith('segmint.pql')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
