"""The function families of pql.md §7 (catalogue §7.0): result types, argument and receiver
rules, arity errors located at the call."""

from __future__ import annotations

import pytest
from test_pql_checker import EVENT, PROFILE, checked, fails, nodes

from segmint.pql import PQLNameError, PQLTypeError, ast
from segmint.pql.types import (
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    INTEGER,
    STRING,
    ArrayType,
    MapType,
    ObjectType,
    PQLType,
    Schema,
    TupleType,
)

K = ast.LiteralKind

PRODUCTS = EVENT.fields["productListItems"]
assert isinstance(PRODUCTS, ArrayType)
PRODUCT = PRODUCTS.item
IDENTITIES = PROFILE.fields["identityMap"]
assert isinstance(IDENTITIES, MapType)
# The implicit scope of a chain step, as the root: bare names are event fields.
EVENT_AS_PROFILE = Schema(profile=EVENT, event=EVENT)


def type_of(text: str) -> PQLType | None:
    """The type of ``text`` checked as the left side of ``isNotNull()`` (any value)."""
    tree = checked(f"({text}).isNotNull()")
    assert isinstance(tree, ast.MethodCall)
    return tree.target.type


class TestIf:
    @pytest.mark.parametrize(
        ("text", "result"),
        [
            ('if(homeAddress.countryCode = "CA", 1, 2)', INTEGER),
            ('if(homeAddress.countryCode = "CA", 1, 2.5)', DOUBLE),
            ('if(homeAddress.countryCode in ["US", "CA"], "NA", "ROW")', STRING),
            ("if(homeAddress, loyalty.joinDate, extSourceSystemAudit.createdDate)", DATETIME),
            ("if(loyalty.points, xEvent, xEvent[eventType = 'a'])", ArrayType(EVENT)),
        ],
    )
    def test_result_is_the_branches_type(self, text: str, result: PQLType) -> None:
        tree = checked(text)
        assert isinstance(tree, ast.FunctionCall) and tree.name == "if"
        assert tree.type == result

    def test_branches_must_agree(self) -> None:
        fails(
            PQLTypeError,
            'if(homeAddress, 1, "a") = 1',
            "the two branches of `if\\(\\)` must have the same type; got integer and string",
            column=1,
        )

    def test_arity(self) -> None:
        fails(PQLTypeError, "if(homeAddress, 1)", r"`if\(\)` takes 3 arguments, got 2", column=1)


class TestWholeValueComparison:
    @pytest.mark.parametrize(
        "text",
        [
            'loyalty.loyaltyID.intersection(["red"]) = ["red", "blue", "green"]',
            "homeAddress != workAddress",
            "select A from xEvent, B from xEvent where A != B",
            "identityMap = identityMap",
        ],
    )
    def test_arrays_objects_and_maps(self, text: str) -> None:
        for node in nodes(checked(text)):
            if isinstance(node, ast.Binary):
                assert node.type == BOOLEAN

    def test_different_objects(self) -> None:
        fails(PQLTypeError, "select A from xEvent where A = homeAddress", "cannot compare object")

    def test_rows_and_object_literals_compare_by_fields(self) -> None:
        same = "(select A from xEvent, B from xEvent) = (select C from xEvent, D from xEvent)"
        fails(PQLTypeError, same, r"cannot compare array<tuple<A: .*> with array<tuple<C: ")
        assert checked('{"a": 1} = {"a": 2.5}').type == BOOLEAN
        fails(
            PQLTypeError, '{"a": 1} = {"b": 1}', "cannot compare object literal with object literal"
        )


class TestStrings:
    @pytest.mark.parametrize(
        "text",
        [
            'person.name.firstName.matches("(?i)^john")',
            'person.name.firstName matches "J_hn"',
            "person.name.firstName matches person.name.lastName",
        ],
    )
    def test_matches(self, text: str) -> None:
        assert checked(text).type == BOOLEAN

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('person.name.firstName.matches("a", false)', r"takes 1 argument, got 2"),
            ("loyalty.points matches '1'", "`matches` needs two strings; got integer and string"),
            ("person.name.firstName matches 1", "`matches` needs two strings"),
            ("loyalty.points.matches('1')", r"`.matches\(\)` needs a string receiver"),
        ],
    )
    def test_matches_errors(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message)

    @pytest.mark.parametrize("args", ['"@(\\\\w+)", 1', '"@(\\\\w+)"', '"(a)(b)", loyalty.points'])
    def test_regex_group(self, args: str) -> None:
        tree = checked(f'workEmail.address.regexGroup({args}) = "x"')
        assert isinstance(tree, ast.Binary)
        assert tree.left.type == STRING

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("workEmail.address.regexGroup('(a)', 'one') = 'a'", "takes an integer group number"),
            ("workEmail.address.regexGroup(1) = 'a'", "needs a string argument; got integer"),
            ("xEvent.eventType.regexGroup('(a)') = 'a'", "needs a string receiver; got array"),
            ("workEmail.address.regexGroup() = 'a'", "takes 1 or 2 arguments, got 0"),
        ],
    )
    def test_regex_group_errors(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message)


class TestArraysAndSets:
    @pytest.mark.parametrize("method", ["intersects", "subsetOf", "supersetOf"])
    def test_set_predicates(self, method: str) -> None:
        for argument in ('["red", "blue"]', "xEvent.eventType", "loyalty.loyaltyID"):
            assert checked(f"loyalty.loyaltyID.{method}({argument})").type == BOOLEAN

    def test_intersection(self) -> None:
        text = "loyalty.loyaltyID.intersection(xEvent.eventType).count() > 1"
        tree = checked(text)
        assert isinstance(tree, ast.Binary) and isinstance(tree.left, ast.MethodCall)
        assert tree.left.target.type == ArrayType(STRING)

    def test_list_items_are_coerced_to_the_receiver_items(self) -> None:
        tree = checked('xEvent.productListItems.quantity.intersects(["1", 2])')
        assert isinstance(tree, ast.MethodCall)
        assert tree.args[0] == ast.ListLiteral(
            (ast.Literal(1, ast.LiteralKind.INTEGER), ast.Literal(2, ast.LiteralKind.INTEGER))
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("loyalty.loyaltyID.intersects([1])", r"cannot compare array<string> with array<int"),
            ("loyalty.loyaltyID.subsetOf('a')", "needs an array argument; got string"),
            ("homeAddress.city.intersects(['a'])", "needs an array receiver; got string"),
            ("loyalty.loyaltyID.includes(1)", "cannot look for integer in array<string>"),
            ("loyalty.loyaltyID.includes()", r"`.includes\(\)` takes 1 argument, got 0"),
        ],
    )
    def test_errors(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message)

    def test_includes_and_distinct(self) -> None:
        assert checked('loyalty.loyaltyID.includes("gold")').type == BOOLEAN
        assert type_of("xEvent.productListItems.SKU.distinct()") == ArrayType(
            STRING, projected=True
        )
        assert checked("xEvent.productListItems.SKU.distinct().count() > 1").type == BOOLEAN

    def test_group_by(self) -> None:
        tree = checked("xEvent.groupBy(eventType)")
        assert isinstance(tree, ast.MethodCall)
        assert tree.type == MapType(ArrayType(EVENT), key=STRING)
        assert tree.args[0] == ast.FieldLookup(ast.ImplicitScope(0), "eventType")
        assert isinstance(tree.args[0], ast.FieldLookup)
        assert tree.args[0].target.type is EVENT

    def test_filter_exists_and_map(self) -> None:
        assert type_of('xEvent.filter(eventType = "x")') == ArrayType(EVENT)
        assert checked('xEvent.exists(eventType = "x")').type == BOOLEAN
        text = 'productListItems.exists(name.equals("x", false))'
        assert checked(text, EVENT_AS_PROFILE).type == BOOLEAN
        assert type_of("xEvent.map(commerce.order.priceTotal)") == ArrayType(DOUBLE)
        assert type_of("loyalty.loyaltyID.map(this)") == ArrayType(STRING)

    def test_top_and_bottom(self) -> None:
        for method in ("topN", "bottomN"):
            tree = checked(f"xEvent.{method}(commerce.order.priceTotal, 5).head().eventType")
            assert tree.type == STRING
        # The count is not item-relative: it reads the profile.
        assert type_of("xEvent.topN(timestamp, loyalty.points)") == ArrayType(EVENT)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("xEvent.topN(commerce, 5)", "sorts by numbers, strings or dates; got object"),
            ("xEvent.topN(timestamp, '5')", "takes an integer count; got string"),
            ("xEvent.bottomN(timestamp)", r"`.bottomN\(\)` takes 2 arguments, got 1"),
            ("homeAddress.head()", "needs an array receiver; got object PostalAddress"),
            ("xEvent.head(1)", "takes 0 arguments, got 1"),
        ],
    )
    def test_top_and_head_errors(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message)

    def test_head(self) -> None:
        assert type_of("xEvent.head()") is EVENT
        assert type_of("xEvent.productListItems.head()") is PRODUCT


class TestAggregation:
    @pytest.mark.parametrize(
        ("text", "result"),
        [
            ("xEvent.sum(commerce.order.priceTotal)", DOUBLE),
            ("xEvent.productListItems.quantity.sum()", INTEGER),
            ("xEvent.sum(productListItems.count())", INTEGER),
            ("xEvent.productListItems.quantity.average()", DOUBLE),
            ("xEvent.average(commerce.order.priceTotal)", DOUBLE),
            ("xEvent.productListItems.quantity.min()", INTEGER),
            ("xEvent.max(commerce.order.priceTotal)", DOUBLE),
            ("xEvent.timestamp.max()", DATETIME),
            ("xEvent.min(timestamp)", DATETIME),
            ("xEvent.sum((e) => e.commerce.order.priceTotal)", DOUBLE),
        ],
    )
    def test_method_forms(self, text: str, result: PQLType) -> None:
        assert type_of(text) == result

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("xEvent.sum(eventType)", "`sum` needs numbers; got string"),
            ("loyalty.loyaltyID.average()", "`average` needs numbers; got string"),
            ("xEvent.sum()", "`sum` needs numbers; got object"),
            ("xEvent.sum(productListItems.quantity)", "needs numbers; got array<integer>"),
            ("xEvent.max(timestamp, 1)", r"`.max\(\)` takes 0 or 1 argument, got 2"),
            ("homeAddress.city.sum()", "needs an array receiver"),
        ],
    )
    def test_method_errors(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message)

    @pytest.mark.parametrize(
        ("text", "result"),
        [
            ('sum X.commerce.order.priceTotal over X from xEvent where X.eventType = "a"', DOUBLE),
            ("average X.commerce.order.priceTotal over X from xEvent", DOUBLE),
            ("min X.productListItems.count() over X from xEvent", INTEGER),
            ("max X.timestamp over X from xEvent", DATETIME),
            ("sum X from xEvent.productListItems.quantity where X > 0", INTEGER),
            ("average X from xEvent.productListItems.quantity", DOUBLE),
        ],
    )
    def test_legacy_forms(self, text: str, result: PQLType) -> None:
        tree = checked(f"({text}).isNotNull()")
        assert isinstance(tree, ast.MethodCall) and isinstance(tree.target, ast.Aggregate)
        assert tree.target.type == result

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("sum X.eventType over X from xEvent", "`sum` needs numbers; got string"),
            ("sum X from xEvent", "`sum` needs numbers; got object"),
            ("sum X.a over X from homeAddress", "`X from …` needs an array"),
        ],
    )
    def test_legacy_errors(self, text: str, message: str) -> None:
        fails(PQLTypeError, f"({text}) > 0", message)


class TestMaps:
    @pytest.mark.parametrize(
        ("text", "result"),
        [
            ('identityMap.get("email")', IDENTITIES.value),
            ("identityMap.keys()", ArrayType(STRING)),
            ("identityMap.values()", ArrayType(IDENTITIES.value)),
            ('segmentMembership.get("ups").get("seg-1").status', STRING),
            ("xEvent.groupBy(productListItems.count()).keys()", ArrayType(INTEGER)),
        ],
    )
    def test_get_keys_values(self, text: str, result: PQLType) -> None:
        assert type_of(text) == result

    def test_segment_membership_status(self) -> None:
        text = 'segmentMembership.get("ups").get("seg-1").status in (["realized", "existing"])'
        assert checked(text).type == BOOLEAN

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("identityMap.get(1)", "the keys of map<string, .*> are not integer"),
            ("loyalty.loyaltyID.keys()", r"`.keys\(\)` needs a map receiver; got array<string>"),
            ("identityMap.values(1)", "takes 0 arguments, got 1"),
            ("identityMap.get()", "takes 1 argument, got 0"),
        ],
    )
    def test_errors(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message)

    @pytest.mark.parametrize(
        ("body", "value"),
        [
            ("G.count()", INTEGER),
            ("G.sum(commerce.order.priceTotal) > 100", BOOLEAN),
            ("G.average(commerce.order.priceTotal)", DOUBLE),
        ],
    )
    def test_map_entries(self, body: str, value: PQLType) -> None:
        text = f"xEvent.groupBy(eventType).map((K, G) => mapEntry(K, {body}))"
        assert checked(text).type == MapType(value, key=STRING)

    def test_map_entry_with_an_object(self) -> None:
        text = 'xEvent.groupBy(eventType).map((K, G) => mapEntry(K, {"n": G.count()}))'
        result = checked(text).type
        assert isinstance(result, MapType)
        assert result.value == ObjectType("literal", {"n": INTEGER})

    def test_map_over_groups_with_this(self) -> None:
        text = 'xEvent.groupBy(eventType).map({"first": this.head().eventType, "n": this.count()})'
        result = checked(text).type
        assert result == ArrayType(ObjectType("literal", {"first": STRING, "n": INTEGER}))

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("xEvent.groupBy(eventType).map((K, G) => G.count())", "must return `mapEntry"),
            ("mapEntry(1) = 1", r"`mapEntry\(\)` takes 2 arguments, got 1"),
        ],
    )
    def test_map_entry_errors(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message)


class TestObjects:
    @pytest.mark.parametrize(
        "text",
        ["xEvent.isNull()", "xEvent.eventType.isNotNull()", "(select X from xEvent).isNull()"],
    )
    def test_null_tests_take_any_receiver(self, text: str) -> None:
        assert checked(text).type == BOOLEAN

    def test_object_literal(self) -> None:
        tree = checked('let O = {"city": homeAddress.city, "n": xEvent.count()} in O.n > 1')
        assert isinstance(tree, ast.Let)
        assert tree.value.type == ObjectType("literal", {"city": STRING, "n": INTEGER})

    def test_object_literal_errors(self) -> None:
        fails(PQLTypeError, '{"a": 1}', "a segment definition must be a condition", column=1)
        fails(PQLTypeError, 'let O = {"a": 1, "a": 2} in O', "object key `a` is declared twice")


class TestQuantifiersAndSelect:
    @pytest.mark.parametrize(
        "text",
        [
            'exists E from xEvent where E.eventType = "a"',
            'exists E from xEvent : E.eventType = "a"',
            "forall E from xEvent where E.commerce.order.priceTotal > 50, "
            'I from E.productListItems where I.SKU = "PS"',
            "forall I from loyalty.loyaltyID : I != 'x'",
            'some x from xEvent where x.eventType = "a"',
            "exists E from xEvent",
        ],
    )
    def test_quantifiers_are_conditions(self, text: str) -> None:
        tree = checked(text)
        assert isinstance(tree, ast.Quantified)
        assert tree.type == BOOLEAN
        assert all(binding.type is not None for binding in tree.bindings)

    def test_select_results(self) -> None:
        assert type_of("select X from xEvent") == ArrayType(EVENT)
        assert type_of("select C from loyalty.loyaltyID where C = 'x'") == ArrayType(STRING)
        row = TupleType("tuple", {"A": EVENT, "B": EVENT})
        assert type_of("select A from xEvent, B from xEvent") == ArrayType(row)

    @pytest.mark.parametrize(
        ("text", "result"),
        [
            ("(select X from xEvent).count()", INTEGER),
            ("(select X from xEvent).head()", EVENT),
            ("(select X from xEvent where X.eventType = 'a').eventType", ArrayType(STRING, True)),
            ("(select A from xEvent, B from xEvent).head().B.timestamp", DATETIME),
        ],
    )
    def test_select_as_a_value(self, text: str, result: PQLType) -> None:
        assert type_of(text) == result

    def test_projection_of_a_select_is_existential(self) -> None:
        text = '(select X from xEvent where X.eventType = "a").web.webPageDetails.name = "home"'
        assert checked(text).type == BOOLEAN


class TestSegmentsAndDates:
    def test_in_segment(self) -> None:
        tree = checked('inSegment("e3be6d7f") and inSegment("9e16")')
        assert isinstance(tree, ast.Binary)
        assert tree.left == ast.FunctionCall("inSegment", (ast.Literal("e3be6d7f", K.STRING),))
        assert tree.left.type == BOOLEAN
        assert isinstance(tree.left, ast.FunctionCall) and tree.left.args[0].type == STRING

    @pytest.mark.parametrize(
        ("text", "message", "column"),
        [
            ("inSegment(homeAddress.city)", "takes a segment id as a string literal", 11),
            ("inSegment(1)", "takes a segment id as a string literal", 11),
            ('inSegment("a", "b")', r"`inSegment\(\)` takes 1 argument, got 2", 1),
        ],
    )
    def test_in_segment_errors(self, text: str, message: str, column: int) -> None:
        fails(PQLTypeError, text, message, column=column)

    @pytest.mark.parametrize("method", ["getMonth", "getYear", "getDayOfMonth"])
    def test_calendar_parts(self, method: str) -> None:
        for receiver in ("person.birthDate", "loyalty.joinDate", "xEvent.head().timestamp"):
            tree = checked(f"{receiver}.{method}() = 3")
            assert isinstance(tree, ast.Binary)
            assert tree.left.type == INTEGER

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("homeAddress.city.getYear() = 1", "needs a date or date-time receiver; got string"),
            ("person.birthDate.getMonth(1) = 1", "takes 0 arguments, got 1"),
        ],
    )
    def test_calendar_part_errors(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message)

    def test_computed_date(self) -> None:
        tree = checked("xEvent[timestamp occurs on date(currentYear() - 1, 10, 1)]")
        assert isinstance(tree, ast.Filter) and isinstance(tree.condition, ast.Occurs)
        anchor = tree.condition.anchor
        assert isinstance(anchor, ast.FunctionCall) and anchor.type == DATE


class TestUnknownCalls:
    def test_unknown_method_suggests(self) -> None:
        fails(PQLNameError, "xEvent.cout()", r"unknown method `.cout\(\)`; did you mean `count`", 8)

    def test_unknown_function_suggests(self) -> None:
        fails(PQLNameError, "inSegmnt('a')", r"unknown function.*did you mean `inSegment`", 1)
