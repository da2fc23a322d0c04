"""Fuzzing the PQL front end with Hypothesis.

* Any string either parses or raises ``PQLError``, and whatever parses prints back to the same
  tree and survives pql/json (strings built from PQL tokens, and corpus entries mutated).
* Generated trees round-trip through pql/text and pql/json (also through ``json.dumps``).
* Any JSON document either decodes or raises ``PQLSyntaxError``.
* Regression tests for what fuzzing found.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pql_corpus import load
from test_pql_printer import composites, leaves, trees

from segmint.pql import PQLError, PQLSyntaxError, ast, format, from_json, parse, to_json
from segmint.pql.json_form import to_json_text

KEYWORDS = [
    "and", "or", "not", "in", "notIn", "like", "matches", "occurs", "between", "on", "before",
    "after", "from", "this", "last", "next", "now", "today", "yesterday", "tomorrow", "select",
    "where", "exists", "forall", "some", "let", "over", "sum", "average", "min", "max", "if",
    "true", "false", "xEvent", "chain", "WHAT", "WHEN", "WHERE", "COUNT", "days", "hour",
    "millennia", "century", "inSegment", "date", "count", "timestamp",
]  # fmt: skip
PUNCTUATION = [
    ".", ",", ":", "(", ")", "[", "]", "{", "}", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*",
    "/", "%", "!", "^", "^^", "=>", "$1", "$", "@{x}", "@{", "@",
]  # fmt: skip
ATOMS = [
    '"', "'", "\\", '\\"', "\\u00e9", "\\u12", '"a"', "'b'", '"\\\\w"', "“", "0", "7", "42",
    "3.14", ".5", "1e3", "2E-2", "1e999", "9" * 30, "_x", "a", "X1", "é", "∑", "\x00", "\t",
    "\n", " ",
]  # fmt: skip


def case_variants(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.lower(), word.capitalize()])


token = st.one_of(
    st.sampled_from(KEYWORDS).flatmap(case_variants),
    st.sampled_from(PUNCTUATION),
    st.sampled_from(ATOMS),
    st.text(max_size=2),
)
token_strings = st.lists(st.tuples(token, st.sampled_from(["", " ", " ", "\n"])), max_size=30).map(
    lambda pairs: "".join(text + gap for text, gap in pairs)
)

CORPUS = [row["pql"] for row in load("valid") + load("invalid")]


@st.composite
def mutated_corpus(draw: st.DrawFn) -> str:
    """A corpus entry with a few insertions, deletions, swaps or duplications."""
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        end = draw(st.integers(at, min(len(text), at + 12)))
        operation = draw(st.sampled_from(["insert", "delete", "swap", "duplicate"]))
        if operation == "insert":
            text = text[:at] + draw(token) + text[at:]
        elif operation == "delete":
            text = text[:at] + text[end:]
        elif operation == "duplicate":
            text = text[:end] + text[at:end] + text[end:]
        else:
            other = draw(st.integers(0, len(text)))
            first, second = sorted((at, other))
            text = text[:first] + text[second:end] + text[first:second] + text[max(end, second) :]
    return text


def check_any_string(text: str) -> None:
    try:
        tree = parse(text)
    except PQLError:
        return
    printed = format(tree)
    assert parse(printed) == tree, printed
    assert from_json(to_json_text(tree)) == tree


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token_strings)
def test_token_strings_parse_or_raise_pql_errors(text: str) -> None:
    check_any_string(text)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_corpus())
def test_mutated_corpus_entries_parse_or_raise_pql_errors(text: str) -> None:
    check_any_string(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_pql_errors(text: str) -> None:
    check_any_string(text)


# --- generated trees ---------------------------------------------------------------------------

# A few names used both as variables and as fields, so that scoping decisions get exercised.
POOL = st.sampled_from(["X", "Y", "timestamp"])


def scoped_composites(children: st.SearchStrategy[ast.Expr]) -> Any:
    binding = st.builds(ast.Binding, POOL, children, st.none() | children)
    bindings = st.lists(binding, min_size=1, max_size=2).map(tuple)
    return st.one_of(
        composites(children),
        st.builds(ast.Select, bindings),
        st.builds(ast.Quantified, st.sampled_from(["exists", "some", "forall"]), bindings),
        st.builds(ast.Aggregate, st.sampled_from(["sum", "min"]), children, bindings),
        st.builds(ast.Let, POOL, children, children),
        st.builds(ast.Lambda, st.lists(POOL, min_size=1, max_size=2).map(tuple), children),
        st.builds(ast.FieldLookup, st.just(ast.ParamRef(1)), POOL),
    )


scoped_trees = st.recursive(leaves | POOL.map(ast.Name), scoped_composites, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_generated_trees_round_trip_through_text_and_json(tree: ast.Expr) -> None:
    assert parse(format(tree)) == tree
    doc = to_json(tree)
    assert from_json(doc) == tree
    assert from_json(json.loads(json.dumps(doc))) == tree
    assert from_json(to_json_text(tree)) == tree


@settings(max_examples=300, deadline=None)
@given(scoped_trees)
def test_variables_and_fields_of_the_same_name_round_trip(tree: ast.Expr) -> None:
    assert parse(format(tree)) == tree
    assert from_json(to_json_text(tree)) == tree


# --- arbitrary JSON ----------------------------------------------------------------------------

NODE_TYPES = [
    "fnApply", "fieldLookup", "parameterReference", "literal", "varRef", "varDecl",
    "quantification", "fnCreate", "lambda", "set", "other",
]  # fmt: skip
KEYS = [
    "nodeType", "fnName", "params", "fieldName", "object", "position", "literalType", "value",
    "varName", "from", "where", "quantifier", "variables", "body", "function", "syntax",
    "explicit", "varNames", "range",
]  # fmt: skip
FN_NAMES = [
    "=", "and", "or", "not", "-", "in", "list", "object", "filter", "occurs", "select", "sumOver",
    "chain", "chainStep", "what", "when", "count", "modelInstances", "contextData", "up", "now",
    "last", "f", "date", "inSegment", "if", "and or",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.sampled_from(NODE_TYPES + FN_NAMES + ["String", "integer", "profile", "XDMObject", "a"]),
    st.text(max_size=3),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=20,
)


def check_any_document(doc: Any) -> None:
    try:
        tree = from_json(doc)
    except PQLSyntaxError:
        return
    assert parse(format(tree)) is not None
    assert from_json(to_json(tree)) == tree


@settings(max_examples=600, deadline=None)
@given(json_values)
def test_arbitrary_json_decodes_or_raises_syntax_errors(doc: Any) -> None:
    check_any_document(doc)
    check_any_document(json.dumps(doc))


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """The pql/json of a corpus entry with one node's field removed or replaced."""
    doc = to_json(parse(draw(st.sampled_from([row["pql"] for row in load("valid")]))))
    nodes = [node for node in _dicts(doc) if node]
    for _ in range(draw(st.integers(1, 3))):
        node = draw(st.sampled_from(nodes))
        key = draw(st.sampled_from(sorted(node)))
        if draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(json_values)
        nodes = [node for node in _dicts(doc) if node]
        if not nodes:
            break
    return doc


def _dicts(doc: Any) -> Any:
    if isinstance(doc, dict):
        yield doc
        for value in doc.values():
            yield from _dicts(value)
    elif isinstance(doc, list):
        for value in doc:
            yield from _dicts(value)


@settings(max_examples=400, deadline=None)
@given(mutated_documents())
def test_mutated_documents_decode_or_raise_syntax_errors(doc: Any) -> None:
    check_any_document(doc)


# --- what fuzzing found --------------------------------------------------------------------


class TestFindings:
    @pytest.mark.parametrize("text", ["1" * 5000, "$" + "1" * 5000, "a = 1e999", "-1e999"])
    def test_out_of_range_numbers_are_syntax_errors(self, text: str) -> None:
        # Were a ValueError (int conversion limit) and an infinity the printer cannot print.
        with pytest.raises(PQLSyntaxError, match=r"too many digits|out of range"):
            parse(text)

    @pytest.mark.parametrize(
        "text",
        [
            "chain(" * 400 + "x" + ", ts, [A: WHAT(x)])" * 400,
            "chain(xEvent, ts, [A: WHAT(x) WHEN(before " * 400 + "x" + ")])" * 400,
        ],
    )
    def test_nested_chains_are_bounded(self, text: str) -> None:
        # Were a RecursionError: `chain` did not count towards the nesting limit.
        with pytest.raises(PQLSyntaxError, match="nested more than 50 levels deep"):
            parse(text)

    def test_postfix_and_operators_after_deep_operands_are_bounded(self) -> None:
        # `f(f(…).a.a…).a.a…` built trees over 1000 levels deep from 50 "levels" of text, and
        # printing them raised RecursionError: operators now nest below their first operand.
        for suffix in (".a", "[b]", " + 1", " * 2"):
            text = "x"
            for depth in range(40, 0, -1):
                text = f"f({text})" + suffix * (50 - depth)
            with pytest.raises(PQLSyntaxError, match="nested more than 50 levels deep"):
                parse(text)

    def test_moderate_nesting_still_parses(self) -> None:
        text = "x"
        for _ in range(5):
            text = f"f({text})" + ".a" * 5 + " + 1"
        assert parse(format(parse(text))) == parse(text)
