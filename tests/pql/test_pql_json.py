"""pql/json (pql.md §11, api.md §2.8): Adobe's published shapes exactly, each node kind, older
spellings, errors located by a JSON path, and ``from_json(to_json(e)) == e`` over the corpus."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pytest
from pql_corpus import cases, load

from segmint.pql import PQLSyntaxError, ast, format, from_json, parse, to_json
from segmint.pql.json_form import EVENT_MODEL, MAX_JSON_DEPTH, to_json_text

# api.md §2.8, the `value` of the converted expression, verbatim.
ADOBE_CONVERSION = (
    '{"nodeType":"fnApply","fnName":"=","params":[{"nodeType":"fieldLookup","fieldName":"country",'
    '"object":{"nodeType":"fieldLookup","fieldName":"workAddress","object":{"nodeType":'
    '"parameterReference","position":1}}},{"nodeType":"literal","literalType":"String",'
    '"value":"US"}]}'
)


def lit(kind: str, value: Any) -> dict[str, Any]:
    return {"nodeType": "literal", "literalType": kind, "value": value}


def string(value: str) -> dict[str, Any]:
    return lit("String", value)


def integer(value: int) -> dict[str, Any]:
    return lit("Integer", value)


def apply(name: str, *params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"nodeType": "fnApply", "fnName": name, "params": list(params), **extra}


def field(name: str, target: dict[str, Any] | None = None) -> dict[str, Any]:
    target = target or {"nodeType": "parameterReference", "position": 1}
    return {"nodeType": "fieldLookup", "fieldName": name, "object": target}


def var(name: str) -> dict[str, Any]:
    return {"nodeType": "varRef", "varName": name}


def fn_create(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {"nodeType": "fnCreate", "params": [{"varName": n} for n in names], "body": body}


def declaration(name: str, source: dict[str, Any], where: dict[str, Any] | None = None) -> Any:
    doc = {"nodeType": "varDecl", "varName": name, "from": source}
    return doc if where is None else {**doc, "where": where}


XEVENT = apply("modelInstances", string(EVENT_MODEL))
NOW = apply("now")


class TestAdobeExamples:
    def test_conversion_example_is_reproduced_byte_for_byte(self) -> None:
        tree = parse('workAddress.country = "US"')
        assert to_json_text(tree) == ADOBE_CONVERSION
        assert to_json(tree) == json.loads(ADOBE_CONVERSION)

    def test_conversion_example_reads_back(self) -> None:
        assert from_json(ADOBE_CONVERSION) == parse('workAddress.country = "US"')
        assert from_json(json.loads(ADOBE_CONVERSION)) == parse('workAddress.country = "US"')

    def test_corpus_pql_json_entry_is_the_text_a_equals_b(self) -> None:
        (row,) = load("pql/json")
        assert from_json(row["pql"]) == parse("a = b")
        assert to_json_text(parse("a = b")) == row["pql"]

    def test_offer_rule_shape_with_quantification_and_older_spellings(self) -> None:
        # The adobe/xdm offer eligibility-rule sample's shape: XDMObject profile roots,
        # xdm:-prefixed fields, an n-ary `and`, nested `some` quantifications.
        profile = lit("XDMObject", "profile")
        order = field("xdm:order", field("xdm:commerce", var("x")))
        identities = declaration(
            "id",
            field("xdm:endUserIDs", var("x")),
            apply("in", var("id"), field("xdm:identities", profile)),
        )
        condition = apply(
            "and",
            {"nodeType": "quantification", "quantifier": "some", "variables": [identities]},
            apply(">", field("xdm:priceTotal", order), integer(1000)),
            apply("=", field("xdm:currencyCode", order), string("USD")),
        )
        doc = apply(
            "and",
            apply(
                "=", field("xdm:stateOrProvince", field("xdm:homeAddress", profile)), string("CA")
            ),
            {
                "nodeType": "quantification",
                "quantifier": "some",
                "variables": [declaration("x", XEVENT, condition)],
            },
        )
        text = (
            'homeAddress.stateOrProvince = "CA" and (some x from xEvent where '
            "(some id from x.endUserIDs where id in identities) and "
            'x.commerce.order.priceTotal > 1000 and x.commerce.order.currencyCode = "USD")'
        )
        assert from_json(doc) == parse(text)


class TestNodeKinds:
    @pytest.mark.parametrize(
        ("text", "doc"),
        [
            ('"x"', string("x")),
            ("42", integer(42)),
            ("-7", integer(-7)),
            ("2.5", lit("Double", 2.5)),
            ("true", lit("Boolean", True)),
            ("a", field("a")),
            ("$2", {"nodeType": "parameterReference", "position": 2}),
            (
                "$1.a",
                field("a", {"nodeType": "parameterReference", "position": 1, "explicit": True}),
            ),
            ("this", var("this")),
            ("^^.person", field("person", apply("up", integer(2)))),
            ("xEvent", XEVENT),
            ("@{ctx;v=1}", apply("contextData", string("ctx;v=1"))),
            ("[1, a]", apply("list", integer(1), field("a"))),
            ('{"k": 1}', apply("object", string("k"), integer(1))),
            ("not a", apply("not", field("a"))),
            ("-a", apply("-", field("a"))),
            ("a - b", apply("-", field("a"), field("b"))),
            ("a in [1]", apply("in", field("a"), apply("list", integer(1)))),
            ("a and b and c", apply("and", field("a"), field("b"), field("c"))),
            ("a and (b and c)", apply("and", field("a"), apply("and", field("b"), field("c")))),
            ("a.b.c", field("c", field("b", field("a")))),
            ("a.f(1)", apply("f", field("a"), integer(1))),
            ('inSegment("s")', apply("inSegment", string("s"))),
            ("currentYear()", apply("currentYear")),
            ("a.count()", apply("count", field("a"))),
            (
                "x[a = 1]",
                apply("filter", field("x"), fn_create(apply("=", field("a"), integer(1)), "this")),
            ),
            ("(K, G) => K", fn_create(var("K"), "K", "G")),
            (
                "let S = 1 in S",
                {
                    "nodeType": "fnApply",
                    "function": fn_create(var("S"), "S"),
                    "params": [integer(1)],
                },
            ),
            ("select X from xEvent", apply("select", declaration("X", XEVENT))),
            (
                "exists X from xEvent where X.a",
                {
                    "nodeType": "quantification",
                    "quantifier": "exists",
                    "variables": [declaration("X", XEVENT, field("a", var("X")))],
                },
            ),
            (
                "sum X.p over X from xEvent",
                apply("sumOver", field("p", var("X")), declaration("X", XEVENT)),
            ),
            ("max X from v", apply("maxOver", declaration("X", field("v")))),
        ],
    )
    def test_shape(self, text: str, doc: dict[str, Any]) -> None:
        tree = parse(text)
        assert to_json(tree) == doc
        assert from_json(doc) == tree

    @pytest.mark.parametrize(
        ("text", "params"),
        [
            (
                "t occurs <= 3 days before now",
                [string("<="), integer(3), string("day"), string("before"), NOW],
            ),
            ("t occurs after today", [string("after"), apply("today")]),
            ("t occurs last month", [string("on"), apply("last", string("month"))]),
            (
                "t occurs on date(2020, 1, 2)",
                [string("on"), apply("date", integer(2020), integer(1), integer(2))],
            ),
            (
                "t occurs between this week and next year",
                [string("between"), apply("this", string("week")), apply("next", string("year"))],
            ),
            ("t occurs before Y.ts", [string("before"), field("ts", field("Y"))]),
        ],
    )
    def test_occurs_forms(self, text: str, params: list[dict[str, Any]]) -> None:
        tree = parse(text)
        assert to_json(tree) == apply("occurs", field("t"), *params)
        assert from_json(to_json(tree)) == tree

    def test_chain(self) -> None:
        text = (
            'chain(xEvent, timestamp, [A: WHAT(eventType = "v") WHEN(today) WHERE(b) COUNT(5), '
            "B: WHAT(c)])"
        )
        step_a = apply(
            "chainStep",
            string("A"),
            apply("what", apply("=", field("eventType"), string("v"))),
            apply("when", apply("occurs", field("timestamp"), string("on"), apply("today"))),
            apply("where", field("b")),
            apply("count", integer(5)),
        )
        step_b = apply("chainStep", string("B"), apply("what", field("c")))
        doc = apply("chain", XEVENT, string("timestamp"), step_a, step_b)
        assert to_json(parse(text)) == doc
        assert from_json(doc) == parse(text)

    def test_chain_step_clauses_may_come_in_any_order(self) -> None:
        step = apply(
            "chainStep",
            string("A"),
            apply("what", field("a")),
            apply("count", integer(2)),
            apply("when", apply("occurs", field("ts"), string("on"), apply("today"))),
        )
        text = "chain(xEvent, ts, [A: WHAT(a) WHEN(today) COUNT(2)])"
        assert from_json(apply("chain", XEVENT, string("ts"), step)) == parse(text)


class TestScopes:
    def test_bound_names_are_var_refs_and_free_names_field_lookups(self) -> None:
        doc = to_json(parse("select X from xEvent where X.a = b"))
        where = doc["params"][0]["where"]
        assert where == apply("=", field("a", var("X")), field("b"))

    def test_variables_are_visible_to_the_right_only(self) -> None:
        doc = to_json(parse("select X from Y, Y from X"))
        first, second = doc["params"]
        assert first["from"] == field("Y")
        assert second["from"] == var("X")

    def test_let_and_lambda_bind_their_names_in_the_body_only(self) -> None:
        doc = to_json(parse("let S = S in S"))
        assert doc["params"] == [field("S")]
        assert doc["function"]["body"] == var("S")
        assert to_json(parse("(a) => a.b"))["body"] == field("b", var("a"))

    def test_chain_labels_name_events_in_their_own_and_later_steps(self) -> None:
        doc = to_json(parse("chain(xEvent, ts, [A: WHAT(A.a and B.b), B: WHAT(A.c)])"))
        first, second = doc["params"][2:]
        what = apply("and", field("a", var("A")), field("b", field("B")))
        assert first["params"][1] == apply("what", what)
        assert second["params"][1] == apply("what", field("c", var("A")))
        assert from_json(doc) == parse("chain(xEvent, ts, [A: WHAT(A.a and B.b), B: WHAT(A.c)])")

    def test_aggregate_value_sees_every_binding(self) -> None:
        doc = to_json(parse("sum X.p + Y.q over X from xEvent, Y from X.items"))
        assert doc["params"][0] == apply("+", field("p", var("X")), field("q", var("Y")))

    def test_a_profile_field_named_like_a_variable_stays_a_profile_field(self) -> None:
        doc = apply("select", declaration("X", XEVENT, field("X")))
        tree = from_json(doc)
        assert tree == parse("select X from xEvent where $1.X")

    def test_explicit_and_implicit_profile_stay_distinct(self) -> None:
        for text in ("a.b", "$1.a.b", "$1", "$1.and"):
            assert from_json(to_json(parse(text))) == parse(text)
        assert from_json(field("and")) == parse("$1.and")


class TestCallSyntax:
    @pytest.mark.parametrize(
        ("text", "syntax"),
        [
            ("a.contains(b)", None),
            ("a.matches(b)", "method"),
            ("a matches b", None),
            ("a.filter(b)", "method"),
            ("a.date()", "method"),
            ("a.today()", "method"),
            ("f(a)", "function"),
            ("f()", None),
            ("modelInstances(a)", "function"),
            ("if(a, 1, 2)", None),
        ],
    )
    def test_marker_only_where_the_default_reading_differs(
        self, text: str, syntax: str | None
    ) -> None:
        doc = to_json(parse(text))
        assert doc.get("syntax") == syntax
        assert from_json(doc) == parse(text)

    def test_default_readings(self) -> None:
        assert from_json(apply("startsWith", field("a"), string("x"))) == parse('a.startsWith("x")')
        assert from_json(apply("mapEntry", field("k"), field("v"))) == parse("mapEntry(k, v)")
        assert from_json(apply("f", field("a"), syntax="function")) == parse("f(a)")

    def test_foreign_lambdas_as_arguments(self) -> None:
        # aepp 0.6.0 reads `.exists(...)` arguments as `lambda` nodes with `varNames`.
        predicate = {"nodeType": "lambda", "varNames": ["p"], "body": field("sku", var("p"))}
        assert from_json(apply("exists", field("items"), predicate)) == parse(
            "items.exists((p) => p.sku)"
        )
        as_filter = apply("filter", field("items"), fn_create(field("sku", var("p")), "p"))
        assert from_json(as_filter) == parse("items.filter((p) => p.sku)")


class TestOlderSpellings:
    @pytest.mark.parametrize(
        ("doc", "text"),
        [
            (lit("string", "US"), '"US"'),
            (lit("integer", "6"), "6"),
            (lit("Integer", "-6"), "-6"),
            (lit("Long", 6), "6"),
            (lit("double", "2.5"), "2.5"),
            (lit("Double", 3), "3.0"),
            (lit("boolean", "TRUE"), "true"),
            (lit("XDMObject", "profile"), "$1"),
            (field("xdm:country", field("xdm:homeAddress")), "homeAddress.country"),
            (
                {"nodeType": "parameterReference", "position": "1"},
                "$1",
            ),
            (
                apply("select", {"nodeType": "varDecl", "varName": "X", "range": XEVENT}),
                "select X from xEvent",
            ),
            (apply("-", integer(5)), "-5"),
        ],
    )
    def test_accepted(self, doc: dict[str, Any], text: str) -> None:
        assert from_json(doc) == parse(text)

    def test_checked_tree_values(self) -> None:
        day = ast.Literal(date(2020, 3, 14), ast.LiteralKind.DATE)
        instant = ast.Literal(datetime(2020, 3, 14, 10, 0), ast.LiteralKind.DATETIME)
        assert to_json(day) == lit("Date", "2020-03-14")
        assert to_json(instant) == lit("DateTime", "2020-03-14T10:00:00Z")
        assert from_json(to_json(day)) == day
        assert from_json(to_json(instant)) == instant
        assert from_json(lit("DateTime", "2020-03-14T12:00:00+02:00")) == instant
        resolved = ast.FieldLookup(ast.ImplicitScope(2), "person")
        assert from_json(to_json(resolved)) == parse("^^.person")
        assert to_json(ast.VarRef("X")) == var("X")

    def test_values_without_a_json_form(self) -> None:
        with pytest.raises(ValueError, match="no pql/json form"):
            to_json(ast.Literal(float("inf"), ast.LiteralKind.DOUBLE))
        with pytest.raises(ValueError, match="no pql/json form"):
            to_json(ast.ImplicitScope(1))


def deep(levels: int) -> dict[str, Any]:
    doc: dict[str, Any] = field("a")
    for _ in range(levels):
        doc = apply("not", doc)
    return doc


class TestErrors:
    @pytest.mark.parametrize(
        ("doc", "where", "message"),
        [
            ({"nodeType": "bogus"}, "$", "unknown nodeType `bogus`"),
            ({"fnName": "="}, "$", "missing field `nodeType`"),
            ([1], "$", "expected a node"),
            (apply("=", field("a")), "$.params", "expected 2 parameters, found 1"),
            ({"nodeType": "fnApply", "params": []}, "$", "missing field `fnName`"),
            ({"nodeType": "fnApply", "fnName": "f", "params": {}}, "$.params", "expected an array"),
            (apply("=", field("a"), 3), r"$.params[1]", "expected a node"),
            (
                apply("=", field("a"), lit("Colour", "red")),
                r"$.params[1].literalType",
                "unknown literalType",
            ),
            (
                apply("=", field("a"), lit("Integer", 1.5)),
                r"$.params[1].value",
                "expected an integer",
            ),
            (lit("Integer", True), "$.value", "expected an integer"),
            (lit("Double", "NaN"), "$.value", "expected a finite number"),
            (lit("Boolean", "yes"), "$.value", "expected a boolean"),
            (lit("Date", "2020-13-01"), "$.value", "expected an ISO date"),
            ({"nodeType": "literal", "literalType": "String"}, "$", "missing field `value`"),
            (field("a b"), "$.fieldName", "not a valid field name"),
            (field("a", field(3)), "$.object.fieldName", "expected a string"),  # type: ignore[arg-type]
            (var("and"), "$.varName", "not a valid variable name"),
            ({"nodeType": "parameterReference", "position": 0}, "$.position", "numbered from 1"),
            (
                {"nodeType": "parameterReference", "position": 1, "explicit": "yes"},
                "$.explicit",
                "boolean",
            ),
            (apply("f", syntax="method"), "$.params", "the receiver"),
            (apply("f", field("a"), syntax="infix"), "$.syntax", "`method` or `function`"),
            (
                apply("=", field("a"), field("b"), syntax="function"),
                "$.fnName",
                "not a valid function name",
            ),
            (apply("not", field("a"), field("b")), "$.params", "expected 1 parameter"),
            (apply("and", field("a")), "$.params", "2 or more"),
            (apply("object", string("k")), "$.params", "key and value pairs"),
            (apply("object", integer(1), integer(2)), r"$.params[0]", "expected a String literal"),
            (apply("today"), "$", "only valid as an occurs anchor"),
            (apply("up", integer(1)), "$", "only valid as the object of a fieldLookup"),
            (field("a", apply("up", integer(0))), r"$.object.params[0]", "at least 1"),
            (apply("filter", field("a"), field("b")), r"$.params[1]", "expected an fnCreate"),
            (
                apply("occurs", field("t"), string("soon"), NOW),
                "$.params",
                "expected [target, comparator",
            ),
            (
                apply(
                    "occurs",
                    field("t"),
                    string("<"),
                    integer(1),
                    string("fortnight"),
                    string("before"),
                    NOW,
                ),
                r"$.params[3]",
                "unknown time unit",
            ),
            (
                apply("occurs", field("t"), string("on"), apply("last")),
                r"$.params[2].params",
                "a time unit",
            ),
            (apply("select"), "$.params", "at least one varDecl"),
            (apply("select", field("a")), r"$.params[0]", "expected a varDecl"),
            (apply("select", declaration("in", XEVENT)), r"$.params[0].varName", "variable name"),
            (declaration("X", XEVENT), "$", "only valid in select"),
            (
                {"nodeType": "quantification", "quantifier": "all", "variables": []},
                "$.quantifier",
                "exists",
            ),
            (
                apply("sumOver", declaration("X", XEVENT), declaration("Y", XEVENT)),
                "$.params",
                "1 varDecl",
            ),
            (fn_create(field("a")), "$", "at least one parameter"),
            (fn_create(field("a"), "this"), "$", "not a valid parameter name"),
            (
                {
                    "nodeType": "fnApply",
                    "function": fn_create(field("a"), "x", "y"),
                    "params": [integer(1)],
                },
                "$.params",
                "one-parameter function",
            ),
            (apply("chain", XEVENT, string("ts")), "$.params", "at least one chainStep"),
            (apply("chain", XEVENT, string("ts"), field("a")), r"$.params[2]", "chainStep"),
            (
                apply(
                    "chain",
                    XEVENT,
                    string("ts"),
                    apply("chainStep", string("A"), apply("where", field("a"))),
                ),
                r"$.params[2].params[1]",
                "`what` first",
            ),
            (
                apply(
                    "chain",
                    XEVENT,
                    string("ts"),
                    apply(
                        "chainStep",
                        string("A"),
                        apply("what", field("a")),
                        apply("count", integer(1)),
                        apply("count", integer(2)),
                    ),
                ),
                r"$.params[2].params[3]",
                "duplicate `count`",
            ),
            (
                apply(
                    "chain",
                    XEVENT,
                    string("ts"),
                    apply(
                        "chainStep",
                        string("A"),
                        apply("what", field("a")),
                        apply("when", apply("occurs", field("other"), string("on"), NOW)),
                    ),
                ),
                r"$.params[2].params[2].params[0].params[0]",
                "fieldLookup of `ts`",
            ),
            (apply("contextData", string("a}b")), r"$.params[0]", "cannot contain"),
            ({"nodeType": "set", "variables": []}, "$", "legacy `set`"),
            (deep(MAX_JSON_DEPTH + 5), "$.params[0].params[0]", f"more than {MAX_JSON_DEPTH}"),
            (deep(60), "$", "no valid pql/text form: the expression is nested more than 50 levels"),
        ],
    )
    def test_located_error(self, doc: Any, where: str, message: str) -> None:
        with pytest.raises(PQLSyntaxError) as error:
            from_json(doc)
        assert error.value.message.startswith(f"invalid pql/json at {where}")
        assert message in error.value.message
        assert (error.value.line, error.value.column) == (1, 1)

    @pytest.mark.parametrize(
        ("text", "line", "column"),
        [
            ('{"nodeType": "literal",\n "value": }', 2, 11),
            ("", 1, 1),
            ("[1, 2", 1, 6),
        ],
    )
    def test_text_that_is_not_json_is_located_in_the_text(
        self, text: str, line: int, column: int
    ) -> None:
        with pytest.raises(PQLSyntaxError, match="not JSON") as error:
            from_json(text)
        assert (error.value.line, error.value.column) == (line, column)
        assert error.value.source == text

    @pytest.mark.parametrize(
        "text", ['{"nodeType":"literal","literalType":"Double","value":NaN}', "[" * 100_000]
    )
    def test_non_standard_or_absurd_json_text(self, text: str) -> None:
        with pytest.raises(PQLSyntaxError, match="not JSON"):
            from_json(text)

    def test_json_text_errors_keep_the_source_for_highlighting(self) -> None:
        text = '{"nodeType": "nope"}'
        with pytest.raises(PQLSyntaxError) as error:
            from_json(text)
        assert error.value.source == text
        assert error.value.highlight().startswith(text)

    def test_cyclic_documents_are_rejected(self) -> None:
        doc: dict[str, Any] = {"nodeType": "fieldLookup", "fieldName": "a"}
        doc["object"] = doc
        with pytest.raises(PQLSyntaxError, match="levels deep"):
            from_json(doc)

    def test_non_documents(self) -> None:
        with pytest.raises(PQLSyntaxError, match="expected a node"):
            from_json(42)  # type: ignore[arg-type]
        with pytest.raises(PQLSyntaxError, match="expected a node"):
            from_json("[]")


class TestRoundTrips:
    @pytest.mark.parametrize("text", cases("valid"))
    def test_corpus(self, text: str) -> None:
        tree = parse(text)
        assert from_json(to_json(tree)) == tree
        assert from_json(to_json_text(tree)) == tree
        assert json.loads(to_json_text(tree)) == to_json(tree)

    def test_long_or_chains_are_flat_and_need_no_recursion(self) -> None:
        text = " or ".join(f'homeAddress.postalCode = "{i}"' for i in range(3000))
        tree = parse(text)
        doc = to_json(tree)
        assert doc["fnName"] == "or"
        assert len(doc["params"]) == 3000
        # Compared as text: dataclass equality itself recurses down the 3000-deep left spine.
        assert format(from_json(to_json_text(tree))) == text

    def test_left_nested_chains_from_elsewhere_need_no_recursion(self) -> None:
        doc = field("a0")
        for index in range(1, 5000):
            doc = apply("and", doc, field(f"a{index}"))
        tree = from_json(doc)
        assert format(tree) == " and ".join(f"a{index}" for index in range(5000))

    @pytest.mark.parametrize(
        "template",
        [
            "chain(xEvent, ts, [A: WHAT(x) WHEN(< 1 day before {}.a[c])])",
            "f(a or b and c = {})",
            "chain(xEvent, ts, [A: WHAT(a or b and c occurs before {})])",
            "x[a or b and not c occurs between {} and today]",
        ],
    )
    def test_the_deepest_expressions_the_parser_accepts(self, template: str) -> None:
        text = "x"
        while True:
            deeper = template.format(text)
            try:
                parse(deeper)
            except PQLSyntaxError:
                break
            text = deeper
        tree = parse(text)
        assert from_json(to_json_text(tree)) == tree
