"""The printer: canonical pql/text, and ``parse(format(e)) == e`` for the corpus and for
generated trees of every shape the parser can build."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pql_corpus import cases

from segmint.pql import ast, format, parse
from segmint.pql.parser import QUANTIFIERS, RESERVED
from segmint.pql.printer import BINARY_LEVELS


class TestCorpusRoundTrip:
    @pytest.mark.parametrize("text", cases("valid"))
    def test_parse_format_parse(self, text: str) -> None:
        tree = parse(text)
        assert parse(format(tree)) == tree

    @pytest.mark.parametrize("text", cases("valid"))
    def test_canonical_text_is_a_fixed_point(self, text: str) -> None:
        canonical = format(parse(text))
        assert format(parse(canonical)) == canonical


class TestCanonicalText:
    @pytest.mark.parametrize(
        ("text", "canonical"),
        [
            ('a.b="x" AND c!=1', 'a.b = "x" and c != 1'),
            ("'US'", '"US"'),
            ("!(a)", "not a"),
            ("not(a or b)", "not (a or b)"),
            ("(a or b) and c", "(a or b) and c"),
            ("a or (b and c)", "a or b and c"),
            ("(a + b) * c", "(a + b) * c"),
            ("a - (b - c)", "a - (b - c)"),
            ("(a - b) - c", "a - b - c"),
            ("-(a + b)", "-(a + b)"),
            ("(-5).abs()", "(-5).abs()"),
            ("x - -5", "x - -5"),
            (".45", "0.45"),
            ("2.02E12", "2020000000000.0"),
            ("a notin (1,2)", "a notIn [1, 2]"),
            ('a in (["x"])', 'a in ["x"]'),
            ("t occurs<=3 day before NOW", "t occurs <= 3 days before now"),
            ("t occurs = 1 months after today", "t occurs = 1 month after today"),
            ("t occurs > 2 century from today", "t occurs > 2 centuries from today"),
            ("t occurs on last MONTH", "t occurs last month"),
            ("t occurs date(2017,10,1)", "t occurs on date(2017, 10, 1)"),
            ("t occurs between this week and next year", None),
            ("SELECT X FROM xEvent : X.a", "select X from xEvent where X.a"),
            ("(select X from xEvent).count()", "(select X from xEvent).count()"),
            ("a and (exists X from xEvent)", "a and (exists X from xEvent)"),
            ("sum X from v", "sum X from v"),
            ("let S = (a in b) in S", "let S = (a in b) in S"),
            ("(K,G)=>K", "(K, G) => K"),
            ("f((a) => a)", "f((a) => a)"),
            ("(a) => (b) => a", "(a) => (b) => a"),
            ('{ "a" : 1 }', '{"a": 1}'),
            ("^^person", "^^.person"),
            ("$1.a", "$1.a"),
            ("@{x;v=1}.w", "@{x;v=1}.w"),
            (
                "Chain(xEvent,timestamp,[A:What(x) when(today) count(2) where(y)])",
                "chain(xEvent, timestamp, [A: WHAT(x) WHEN(today) WHERE(y) COUNT(2)])",
            ),
        ],
    )
    def test_spelling(self, text: str, canonical: str | None) -> None:
        assert format(parse(text)) == (canonical or text)

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            ('say "hi"', r'"say \"hi\""'),
            ("back\\slash", r'"back\\slash"'),
            ("tab\tnew\nline\r", r'"tab\tnew\nline\r"'),
            ("bell\x07", r'"bell\u0007"'),
            ("café “x”", '"café “x”"'),
        ],
    )
    def test_string_escapes(self, value: str, text: str) -> None:
        literal = ast.Literal(value, ast.LiteralKind.STRING)
        assert format(literal) == text
        assert parse(text) == literal

    def test_checked_literals_print_as_re_checkable_text(self) -> None:
        day = ast.Literal(date(2020, 3, 14), ast.LiteralKind.DATE)
        instant = ast.Literal(datetime(2020, 3, 14, 10, 0), ast.LiteralKind.DATETIME)
        assert format(day) == "date(2020, 3, 14)"
        assert format(instant) == '"2020-03-14T10:00:00Z"'

    def test_resolved_names_print_as_paths(self) -> None:
        lookup = ast.FieldLookup(ast.ImplicitScope(0), "homeAddress")
        assert format(lookup) == "this.homeAddress"
        assert format(ast.FieldLookup(ast.ImplicitScope(2), "person")) == "^^.person"
        assert format(ast.FieldLookup(ast.VarRef("X"), "a")) == "X.a"

    def test_values_without_a_text_form(self) -> None:
        with pytest.raises(ValueError, match="no pql/text form"):
            format(ast.Literal(float("nan"), ast.LiteralKind.DOUBLE))
        with pytest.raises(ValueError, match="no pql/text form"):
            format(ast.ImplicitScope(1))


# --- generated trees: every shape the parser builds ------------------------------------------

IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]{0,6}"
words = st.from_regex(IDENTIFIER, fullmatch=True)
names = words.filter(lambda word: word.lower() not in RESERVED)
units = st.sampled_from(list(ast.TimeUnit))
comparators = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])
binary_ops = st.sampled_from(sorted(BINARY_LEVELS))

leaves: st.SearchStrategy[ast.Expr] = st.one_of(
    st.text(max_size=6).map(lambda v: ast.Literal(v, ast.LiteralKind.STRING)),
    st.integers(-(10**12), 10**12).map(lambda v: ast.Literal(v, ast.LiteralKind.INTEGER)),
    st.floats(allow_nan=False, allow_infinity=False).map(
        lambda v: ast.Literal(v, ast.LiteralKind.DOUBLE)
    ),
    st.booleans().map(lambda v: ast.Literal(v, ast.LiteralKind.BOOLEAN)),
    names.map(ast.Name),
    st.integers(1, 9).map(ast.ParamRef),
    st.just(ast.XEvent()),
    st.just(ast.ImplicitScope(0)),
    st.builds(ast.UpRef, st.integers(1, 3), words),
    st.text(alphabet=st.characters(blacklist_characters="}"), max_size=8).map(ast.ContextRef),
)

time_refs = st.one_of(
    st.sampled_from(["now", "today", "yesterday", "tomorrow"]).map(ast.TimeRef),
    st.builds(ast.TimeRef, st.sampled_from(["this", "last", "next"]), units),
)


def _is_numeric_literal(node: ast.Expr) -> bool:
    kinds = (ast.LiteralKind.INTEGER, ast.LiteralKind.DOUBLE)
    return isinstance(node, ast.Literal) and node.kind in kinds


def occurs_nodes(target: st.SearchStrategy[ast.Expr], children: st.SearchStrategy[ast.Expr]) -> Any:
    anchors = st.one_of(time_refs, children)
    return st.one_of(
        st.builds(
            ast.Occurs,
            target,
            st.just("relative"),
            anchors,
            comparator=comparators,
            amount=st.integers(0, 1000),
            unit=units,
            direction=st.sampled_from(["before", "after", "from"]),
        ),
        st.builds(
            ast.Occurs,
            target,
            st.just("direction"),
            anchors,
            direction=st.sampled_from(["before", "after", "from"]),
        ),
        st.builds(ast.Occurs, target, st.just("on"), anchors),
        st.builds(ast.Occurs, target, st.just("between"), anchors, anchor2=anchors),
    )


def small_tuples(children: st.SearchStrategy[ast.Expr], min_size: int = 0) -> Any:
    return st.lists(children, min_size=min_size, max_size=3).map(tuple)


def bindings(children: st.SearchStrategy[ast.Expr]) -> Any:
    binding = st.builds(ast.Binding, names, children, st.none() | children)
    return st.lists(binding, min_size=1, max_size=3).map(tuple)


def chains(children: st.SearchStrategy[ast.Expr]) -> Any:
    def build(timestamp: str) -> Any:
        step = st.builds(
            ast.ChainStep,
            names,
            children,
            when=st.none() | occurs_nodes(st.just(ast.Name(timestamp)), children),
            where=st.none() | children,
            count=st.none() | st.integers(0, 100),
        )
        steps = st.lists(step, min_size=1, max_size=2).map(tuple)
        return st.builds(ast.Chain, children, st.just(timestamp), steps)

    return words.flatmap(build)


def aggregates(children: st.SearchStrategy[ast.Expr]) -> Any:
    functions = st.sampled_from(["sum", "average", "min", "max"])
    short = st.builds(
        ast.Aggregate,
        functions,
        st.none(),
        st.builds(ast.Binding, names, children, st.none() | children).map(lambda b: (b,)),
    )
    return st.one_of(st.builds(ast.Aggregate, functions, children, bindings(children)), short)


def composites(children: st.SearchStrategy[ast.Expr]) -> Any:
    return st.one_of(
        small_tuples(children).map(ast.ListLiteral),
        st.lists(st.tuples(st.text(max_size=4), children), max_size=2)
        .map(tuple)
        .map(ast.ObjectLiteral),
        st.builds(ast.FieldLookup, children, words),
        st.builds(ast.MethodCall, children, words, small_tuples(children)),
        st.builds(ast.FunctionCall, names | st.just("if"), small_tuples(children)),
        st.builds(ast.Filter, children, children),
        st.builds(ast.Unary, st.just("not"), children),
        st.builds(ast.Unary, st.just("-"), children.filter(lambda c: not _is_numeric_literal(c))),
        st.builds(ast.Binary, binary_ops, children, children),
        occurs_nodes(children, children),
        st.builds(ast.Select, bindings(children)),
        st.builds(ast.Quantified, st.sampled_from(QUANTIFIERS), bindings(children)),
        aggregates(children),
        st.builds(ast.Let, names, children, children),
        st.builds(ast.Lambda, small_tuples(names, min_size=1), children),
        chains(children),
    )


trees = st.recursive(leaves, composites, max_leaves=12)


@settings(max_examples=600, deadline=None)
@given(trees)
def test_generated_trees_round_trip(tree: ast.Expr) -> None:
    text = format(tree)
    assert parse(text) == tree, text


def test_long_or_chains_print_without_recursion() -> None:
    text = " or ".join(
        f'homeAddress.postalCode = "{i}" and person.birthYear > {i}' for i in range(3000)
    )
    assert format(parse(text)) == text
