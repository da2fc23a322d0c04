"""The parser against pql.md: the Adobe-doc corpus, every §13 construct, §5.1 precedence,
spans, and syntax errors located at the offending token."""

from __future__ import annotations

import pytest
from pql_corpus import cases

from segmint.pql import PQLSyntaxError, parse
from segmint.pql.ast import (
    Aggregate,
    Binary,
    Binding,
    Chain,
    ChainStep,
    ContextRef,
    Expr,
    FieldLookup,
    Filter,
    FunctionCall,
    ImplicitScope,
    Lambda,
    Let,
    ListLiteral,
    Literal,
    LiteralKind,
    MethodCall,
    Name,
    ObjectLiteral,
    Occurs,
    ParamRef,
    Quantified,
    Select,
    Span,
    TimeRef,
    TimeUnit,
    Unary,
    UpRef,
    XEvent,
)


def n(name: str) -> Name:
    return Name(name)


def path(text: str) -> Expr:
    """``a.b.c`` as nested ``FieldLookup``s on ``Name("a")``."""
    head, *fields = text.split(".")
    node: Expr = Name(head)
    for field_name in fields:
        node = FieldLookup(node, field_name)
    return node


def s(value: str) -> Literal:
    return Literal(value, LiteralKind.STRING)


def i(value: int) -> Literal:
    return Literal(value, LiteralKind.INTEGER)


def d(value: float) -> Literal:
    return Literal(value, LiteralKind.DOUBLE)


TRUE = Literal(True, LiteralKind.BOOLEAN)
FALSE = Literal(False, LiteralKind.BOOLEAN)


class TestCorpus:
    @pytest.mark.parametrize("text", cases("valid"))
    def test_valid_examples_parse(self, text: str) -> None:
        parse(text)

    @pytest.mark.parametrize("text", cases("invalid"))
    def test_invalid_examples_are_syntax_errors(self, text: str) -> None:
        with pytest.raises(PQLSyntaxError) as error:
            parse(text)
        assert error.value.source == text

    @pytest.mark.parametrize("text", cases("pql/json"))
    def test_pql_json_is_not_pql_text(self, text: str) -> None:
        # pql/json is a separate wire format (§11). Its text happens to be well-formed pql/text
        # (an object literal), so the parser reads it as one, never as the query it encodes.
        assert isinstance(parse(text), ObjectLiteral)


class TestLiterals:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ('"pizza"', s("pizza")),
            ("'US'", s("US")),
            ("true", TRUE),
            ("FALSE", FALSE),
            ("0", i(0)),
            ("-201", i(-201)),
            ("-51.24", d(-51.24)),
            (".45", d(0.45)),
            ("2.02E-12", d(2.02e-12)),
            ("- -3", i(3)),
            ("-(3)", i(-3)),
        ],
    )
    def test_scalars(self, text: str, expected: Literal) -> None:
        assert parse(text) == expected

    def test_unary_minus_on_a_non_literal_stays_unary(self) -> None:
        assert parse("-x") == Unary("-", n("x"))

    def test_lists(self) -> None:
        assert parse("[1, 4, 7]") == ListLiteral((i(1), i(4), i(7)))
        assert parse("[]") == ListLiteral(())

    def test_object(self) -> None:
        expected = ObjectLiteral((("count", MethodCall(n("G"), "count")), ("k", i(1))))
        assert parse('{"count": G.count(), "k": 1}') == expected
        assert parse("{}") == ObjectLiteral(())

    def test_date_is_a_call_until_checked(self) -> None:
        assert parse("date(2020, 3, 14)") == FunctionCall("date", (i(2020), i(3), i(14)))


class TestReferencesAndPaths:
    def test_dotted_path(self) -> None:
        assert parse("homeAddress.countryISO") == FieldLookup(n("homeAddress"), "countryISO")

    def test_any_word_after_a_dot(self) -> None:
        expected = FieldLookup(FieldLookup(n("X"), "timestamp"), "and")
        assert parse("X.timestamp.and") == expected
        assert parse("a.count()") == MethodCall(n("a"), "count")

    def test_method_call_with_arguments(self) -> None:
        expected = MethodCall(path("workEmail.address"), "startsWith", (s("joe"), FALSE))
        assert parse('workEmail.address.startsWith("joe", false)') == expected

    def test_function_call(self) -> None:
        assert parse("currentYear()") == FunctionCall("currentYear")
        assert parse('inSegment("a")') == FunctionCall("inSegment", (s("a"),))

    def test_if_is_a_call_even_with_a_space(self) -> None:
        assert parse("IF (a, 1, 2)") == FunctionCall("if", (n("a"), i(1), i(2)))

    def test_special_names(self) -> None:
        assert parse("xEvent") == XEvent()
        assert parse("XEVENT") == XEvent()
        assert parse("this") == ImplicitScope(0)
        assert parse("$1.homeAddress") == FieldLookup(ParamRef(1), "homeAddress")

    def test_filters_nest_and_up_refs_accept_both_spellings(self) -> None:
        inner = Binary(
            "or",
            Binary("=", n("SKU"), s("PS")),
            Binary("=", FieldLookup(UpRef(2, "person"), "gender"), s("female")),
        )
        expected = Filter(XEvent(), Filter(n("productListItems"), inner))
        assert parse('xEvent[productListItems[SKU="PS" or ^^.person.gender="female"]]') == expected
        assert parse("^name") == UpRef(1, "name")

    def test_context_reference(self) -> None:
        expected = FieldLookup(ContextRef("_xdm.context.a;version=1"), "weather")
        assert parse("@{_xdm.context.a;version=1}.weather") == expected

    def test_keywords_cannot_be_bare_names(self) -> None:
        with pytest.raises(PQLSyntaxError, match="unexpected keyword `from`"):
            parse("from = 1")

    def test_time_units_and_step_words_are_still_field_names(self) -> None:
        assert parse("day = 1 and count > 2") == Binary(
            "and", Binary("=", n("day"), i(1)), Binary(">", n("count"), i(2))
        )


class TestPrecedence:
    """pql.md §5.1: or < and < not < comparison < + - < * / % < unary - < postfix."""

    @pytest.mark.parametrize(
        ("text", "same_as"),
        [
            ("a or b and c", "a or (b and c)"),
            ("a and b or c", "(a and b) or c"),
            ("a or b or c", "(a or b) or c"),
            ("a and b and c", "(a and b) and c"),
            ("not a and b", "(not a) and b"),
            ("not a = b", "not (a = b)"),
            ("!a or b", "(not a) or b"),
            ("not not a", "not (not a)"),
            ("a + b > 1", "(a + b) > 1"),
            ("a + b * c", "a + (b * c)"),
            ("a - b - c", "(a - b) - c"),
            ("a / b * c", "(a / b) * c"),
            ("a % 5 = 0", "(a % 5) = 0"),
            ("-a * b", "(-a) * b"),
            ("-a.b", "-(a.b)"),
            ("a = 1 and b in [1] or c like 'x'", "((a = 1) and (b in [1])) or (c like 'x')"),
            ("x occurs today and y", "(x occurs today) and y"),
            ("a.b + c.d() * e[f]", "a.b + (c.d() * e[f])"),
        ],
    )
    def test_grouping(self, text: str, same_as: str) -> None:
        assert parse(text) == parse(same_as)

    def test_not_with_or_without_space_before_parentheses(self) -> None:
        assert parse("not(a)") == parse("not (a)") == Unary("not", n("a"))

    @pytest.mark.parametrize(
        "text",
        ["a = b = c", "a < b < c", "a in [1] = true", "x occurs today = y", "a like b like c"],
    )
    def test_comparisons_do_not_associate(self, text: str) -> None:
        with pytest.raises(PQLSyntaxError, match="do not chain"):
            parse(text)

    def test_parenthesised_comparisons_may_be_compared(self) -> None:
        assert parse("(a = b) = c") == Binary("=", Binary("=", n("a"), n("b")), n("c"))

    def test_keywords_are_case_insensitive(self) -> None:
        assert parse("a AND b Or NOT c") == parse("a and b or not c")


class TestMembership:
    def test_in_list(self) -> None:
        assert parse("a in [1, 2]") == Binary("in", n("a"), ListLiteral((i(1), i(2))))

    def test_not_in_normalises_case(self) -> None:
        assert parse("a NOTIN [1]") == Binary("notIn", n("a"), ListLiteral((i(1),)))

    def test_parenthesised_lists_after_in(self) -> None:
        expected = Binary("in", n("g"), ListLiteral((s("female"), s("non-specific"))))
        assert parse('g in ("female", "non-specific")') == expected
        assert parse('g in (["female", "non-specific"])') == expected

    def test_a_single_parenthesised_value_is_grouping(self) -> None:
        assert parse("a in (b)") == Binary("in", n("a"), n("b"))
        assert parse("a in (b).c + 1") == Binary(
            "in", n("a"), Binary("+", FieldLookup(n("b"), "c"), i(1))
        )

    def test_parenthesised_lists_only_after_in(self) -> None:
        with pytest.raises(PQLSyntaxError, match="expected `\\)` but found `,`"):
            parse("a = (1, 2)")

    def test_a_parenthesised_select_with_two_bindings_is_not_a_list(self) -> None:
        node = parse("a in (select X from b, Y from c)")
        assert isinstance(node, Binary)
        assert isinstance(node.right, Select)
        assert len(node.right.bindings) == 2


class TestOccurs:
    def test_relative(self) -> None:
        expected = Occurs(
            path("X.timestamp"),
            "relative",
            TimeRef("now"),
            comparator="<=",
            amount=3,
            unit=TimeUnit.DAY,
            direction="before",
        )
        assert parse("X.timestamp occurs <= 3 days before now") == expected

    @pytest.mark.parametrize(
        ("word", "unit"),
        [
            ("millisecond", TimeUnit.MILLISECOND),
            ("SECONDS", TimeUnit.SECOND),
            ("minute", TimeUnit.MINUTE),
            ("hours", TimeUnit.HOUR),
            ("week", TimeUnit.WEEK),
            ("months", TimeUnit.MONTH),
            ("year", TimeUnit.YEAR),
            ("decades", TimeUnit.DECADE),
            ("century", TimeUnit.CENTURY),
            ("centuries", TimeUnit.CENTURY),
            ("millennium", TimeUnit.MILLENNIUM),
            ("millennia", TimeUnit.MILLENNIUM),
            ("millenium", TimeUnit.MILLENNIUM),
        ],
    )
    def test_units_singular_and_plural(self, word: str, unit: TimeUnit) -> None:
        node = parse(f"t occurs > 2 {word} after today")
        assert isinstance(node, Occurs)
        assert node.unit is unit

    def test_direction_forms(self) -> None:
        for direction in ("before", "after", "from"):
            node = parse(f"t occurs {direction} yesterday")
            assert node == Occurs(n("t"), "direction", TimeRef("yesterday"), direction=direction)

    def test_on_is_optional(self) -> None:
        expected = Occurs(n("t"), "on", FunctionCall("date", (i(2017), i(10), i(1))))
        assert parse("t occurs on date(2017, 10, 1)") == expected
        assert parse("t occurs date(2017, 10, 1)") == expected

    def test_period_references(self) -> None:
        assert parse("t occurs last month") == Occurs(n("t"), "on", TimeRef("last", TimeUnit.MONTH))
        assert parse("t occurs THIS Year") == Occurs(n("t"), "on", TimeRef("this", TimeUnit.YEAR))
        assert parse("t occurs next weeks") == Occurs(n("t"), "on", TimeRef("next", TimeUnit.WEEK))

    def test_between_keeps_its_and(self) -> None:
        expected = Binary(
            "and",
            Occurs(n("t"), "between", TimeRef("last", TimeUnit.MONTH), anchor2=TimeRef("tomorrow")),
            n("x"),
        )
        assert parse("t occurs between last month and tomorrow and x") == expected

    def test_timestamp_anchor(self) -> None:
        expected = Occurs(path("X.timestamp"), "on", path("Y.timestamp"))
        assert parse("X.timestamp occurs on Y.timestamp") == expected

    def test_this_followed_by_a_field_is_a_path(self) -> None:
        assert parse("t occurs on this.ts") == Occurs(
            n("t"), "on", FieldLookup(ImplicitScope(0), "ts")
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("t occurs < 3 fortnights before now", "expected a time unit"),
            ("t occurs < 3 days now", "expected `before`, `after` or `from`"),
            ("t occurs < x days before now", "expected a whole number"),
            ("t occurs < -3 days before now", "expected a whole number"),
            ("t occurs last", "expected a time unit"),
            ("t occurs between today", "expected `and`"),
        ],
    )
    def test_malformed(self, text: str, message: str) -> None:
        with pytest.raises(PQLSyntaxError, match=message):
            parse(text)


class TestBindingConstructs:
    def test_select(self) -> None:
        expected = Select(
            (Binding("X", XEvent(), Binary("=", path("X.type"), s("FLIGHT"))),),
        )
        assert parse('select X from xEvent where X.type = "FLIGHT"') == expected

    def test_select_bindings_continue_only_before_ident_from(self) -> None:
        node = parse(
            "select PV from xEvent where PV.v > 0, Item from PV.productListItems "
            'where Item.SKU = "PS"'
        )
        assert isinstance(node, Select)
        assert [b.var for b in node.bindings] == ["PV", "Item"]
        assert node.bindings[1].source == path("PV.productListItems")

    def test_a_binding_without_where(self) -> None:
        node = parse("select _Any1 from xEvent, I from _Any1.items where I.x")
        assert isinstance(node, Select)
        assert node.bindings[0] == Binding("_Any1", XEvent())

    def test_where_runs_as_far_right_as_possible(self) -> None:
        node = parse("select X from xEvent where a or b")
        assert isinstance(node, Select)
        assert node.bindings[0].condition == Binary("or", n("a"), n("b"))

    def test_a_comma_not_followed_by_a_binding_ends_the_select(self) -> None:
        node = parse("f(select X from xEvent where X.a, 2)")
        assert isinstance(node, FunctionCall)
        assert node.args[1] == i(2)

    @pytest.mark.parametrize("quantifier", ["exists", "forall", "some"])
    def test_quantifiers_with_where_or_colon(self, quantifier: str) -> None:
        expected = Quantified(quantifier, (Binding("E", XEvent(), path("E.a")),))
        assert parse(f"{quantifier} E from xEvent where E.a") == expected
        assert parse(f"{quantifier.upper()} E FROM xEvent : E.a") == expected

    def test_aggregate_over(self) -> None:
        expected = Aggregate(
            "sum",
            Binary("+", path("X.a"), path("Y.a")),
            (Binding("X", XEvent()), Binding("Y", XEvent(), path("Y.b"))),
        )
        assert parse("sum X.a + Y.a over X from xEvent, Y from xEvent where Y.b") == expected

    def test_aggregate_short_form(self) -> None:
        expected = Aggregate("sum", None, (Binding("X", n("ints"), Binary(">", n("X"), i(0))),))
        assert parse("sum X from ints where X > 0") == expected

    def test_let_value_is_additive_so_in_ends_it(self) -> None:
        expected = Let("S", Binary("+", n("a"), i(1)), Binary(">", n("S"), i(100)))
        assert parse("let S = a + 1 in S > 100") == expected

    def test_lambda(self) -> None:
        body = FunctionCall("mapEntry", (n("K"), MethodCall(n("G"), "count")))
        expected = Lambda(("K", "G"), body)
        assert parse("(K, G) => mapEntry(K, G.count())") == expected
        assert parse("(Profile) => Profile.a") == Lambda(("Profile",), path("Profile.a"))

    def test_a_parenthesised_name_is_not_a_lambda(self) -> None:
        assert parse("(a) = b") == Binary("=", n("a"), n("b"))

    def test_level_zero_constructs_must_be_parenthesised_inside_operators(self) -> None:
        with pytest.raises(PQLSyntaxError, match="unexpected keyword `select`"):
            parse("a and select X from xEvent")
        assert isinstance(parse("a and (select X from xEvent)"), Binary)


class TestChain:
    def test_full_step(self) -> None:
        text = (
            'CHAIN(xEvent, timestamp, [A: WHAT(eventType = "x") WHEN(< 24 hours before now) '
            "WHERE(b) COUNT(5), B: WHAT(c)])"
        )
        when = Occurs(
            n("timestamp"),
            "relative",
            TimeRef("now"),
            comparator="<",
            amount=24,
            unit=TimeUnit.HOUR,
            direction="before",
        )
        expected = Chain(
            XEvent(),
            "timestamp",
            (
                ChainStep("A", Binary("=", n("eventType"), s("x")), when, n("b"), 5),
                ChainStep("B", n("c")),
            ),
        )
        assert parse(text) == expected

    def test_when_today(self) -> None:
        node = parse("chain(xEvent, timestamp, [C0: WHAT(a) WHEN(today)])")
        assert isinstance(node, Chain)
        assert node.steps[0].when == Occurs(n("timestamp"), "on", TimeRef("today"))

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("chain(xEvent, timestamp, [A: WHEN(today)])", "expected `WHAT`"),
            ("chain(xEvent, timestamp, [A: WHAT(a) COUNT(1) COUNT(2)])", "duplicate `COUNT`"),
            ("chain(xEvent, timestamp, [])", "expected a step label"),
            ("chain(xEvent, timestamp, [A WHAT(a)])", "expected `:`"),
            ("chain(xEvent, timestamp, [A: WHAT(a) COUNT(x)])", "expected a whole number"),
            ("CHAIN(<some_ridiculously_complex_condition_with_event_lookback>)", "unexpected `<`"),
        ],
    )
    def test_malformed(self, text: str, message: str) -> None:
        with pytest.raises(PQLSyntaxError, match=message):
            parse(text)


class TestSpans:
    def test_node_spans(self) -> None:
        node = parse('a.b = "x"\n  and c')
        assert isinstance(node, Binary)
        assert node.span == Span(0, 17, 1, 1)
        assert node.right.span == Span(16, 17, 2, 7)
        assert isinstance(node.left, Binary)
        assert node.left.span == Span(0, 9, 1, 1)
        assert node.left.right.span == Span(6, 9, 1, 7)

    def test_parentheses_are_inside_the_parent_span(self) -> None:
        node = parse("(a or b) and c")
        assert node.span == Span(0, 14, 1, 1)
        assert isinstance(node, Binary)
        assert node.left.span == Span(1, 7, 1, 2)

    def test_negative_literal_span_includes_the_minus(self) -> None:
        assert parse("x - -5").span == Span(0, 6, 1, 1)
        node = parse("x - -5")
        assert isinstance(node, Binary)
        assert node.right.span == Span(4, 6, 1, 5)

    def test_every_node_has_a_span(self) -> None:
        text = "select X from xEvent where X.a.startsWith('x') and X.t occurs last week"
        pending: list[object] = [parse(text)]
        while pending:
            node = pending.pop()
            if isinstance(node, tuple):
                pending.extend(node)
            elif hasattr(node, "span"):
                assert node.span is not None, node
                pending.extend(vars(node).values())


class TestErrors:
    def test_unexpected_token_on_a_later_line(self) -> None:
        text = 'homeAddress.countryISO = "US"\nand\n  person.age >> 3'
        with pytest.raises(PQLSyntaxError, match="unexpected `>`") as error:
            parse(text)
        assert (error.value.line, error.value.column) == (3, 15)
        assert error.value.highlight() == "  person.age >> 3\n              ^"

    def test_typographic_quote_in_a_multi_line_query(self) -> None:
        text = 'homeAddress.countryISO = "US" \nand\nhomeAddress.stateProvinceISO = “CA" '
        with pytest.raises(PQLSyntaxError, match="typographic quote") as error:
            parse(text)
        assert (error.value.line, error.value.column) == (3, 32)

    def test_unterminated_string_from_the_docs(self) -> None:
        text = 'inSegment("7deb6df049948) and inSegment("9e1646bb")'
        with pytest.raises(PQLSyntaxError, match="unterminated string") as error:
            parse(text)
        assert error.value.column == 50

    def test_unexpected_end_of_input(self) -> None:
        with pytest.raises(PQLSyntaxError, match="unexpected end of input") as error:
            parse("a and\n")
        assert (error.value.line, error.value.column) == (2, 1)

    def test_trailing_tokens(self) -> None:
        with pytest.raises(PQLSyntaxError, match="unexpected `b`") as error:
            parse("a b")
        assert error.value.column == 3

    def test_placeholder_paths_from_the_docs(self) -> None:
        with pytest.raises(PQLSyntaxError, match=r"unexpected `\{`") as error:
            parse("_{TENANT_ID}.downloadsLast7Days > 0")
        assert error.value.column == 2

    def test_set_builder_syntax_is_obsolete(self) -> None:
        with pytest.raises(PQLSyntaxError, match="quoted object key"):
            parse("{ Order as xEvent.commerce.order }")

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "unexpected end of input"),
            ("f(a,)", "unexpected `\\)`"),
            ("[1, 2", "expected `,` or `]`"),
            ("let = 1 in 2", "expected a variable name"),
            ("let x = 1 2", "expected `in`"),
            ("select from xEvent", "expected a variable name"),
            ("select X in xEvent", "expected `from`"),
            ("(a, b) =>", "unexpected end of input"),
            ("(a, 1) => a", "expected `\\)`"),
            ("sum X.a", "expected `over`"),
            ("$0", "numbered from"),
            ("a.", "expected a field or method name"),
            ("a.1", "unexpected `.1`"),
            ("if", "expected `\\(` after `if`"),
            ("^", "expected a field name"),
            ("{'a' 1}", "expected `:`"),
            ("x[1", "expected `]`"),
        ],
    )
    def test_messages(self, text: str, message: str) -> None:
        with pytest.raises(PQLSyntaxError, match=message):
            parse(text)


class TestLimits:
    @pytest.mark.parametrize(
        "text",
        [
            "(" * 2000 + "a" + ")" * 2000,
            "not " * 3000 + "a",
            "-" * 3000 + "a",
            "a" + ".b" * 100,
            "a" + " + a" * 60,
            "a in (" * 200 + "b" + ")" * 200,
            "f(" * 100 + ")" * 100,
        ],
    )
    def test_deep_nesting_is_a_located_syntax_error(self, text: str) -> None:
        with pytest.raises(PQLSyntaxError, match="nested more than 50 levels deep") as error:
            parse(text)
        assert error.value.line == 1

    def test_realistic_nesting_is_fine(self) -> None:
        parse("(" * 45 + "a" + ")" * 45)
        parse("a" + " + a" * 45)

    def test_long_or_chains_are_not_limited(self) -> None:
        text = " or ".join(f'homeAddress.postalCode = "{i}"' for i in range(3000))
        node = parse(text)
        assert isinstance(node, Binary)
        assert node.op == "or"

    def test_nested_groupings_after_in_parse_in_linear_time(self) -> None:
        # Backtracking over `in (…)` reuses the parsed grouping instead of parsing it again.
        parse("a in (" * 45 + "b" + ")" * 45)
