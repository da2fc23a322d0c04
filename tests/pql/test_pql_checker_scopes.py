"""Name resolution in the checked tree (pql.md §4, §9, §12.0): implicit scopes pushed by
filters, item-relative arguments and chain steps; ``^``, ``$1`` and ``this``; projected
paths through arrays; variables and their visibility; lambdas."""

from __future__ import annotations

import pytest
from test_pql_checker import EVENT, PROFILE, checked, fails, nodes

from segmint.pql import PQLError, PQLNameError, PQLTypeError, PQLUnsupportedError, ast
from segmint.pql.types import (
    BOOLEAN,
    DATETIME,
    DOUBLE,
    INTEGER,
    STRING,
    ArrayType,
    FunctionType,
    MapType,
    ObjectType,
    PQLType,
    TupleType,
)

ITEM = EVENT.fields["productListItems"]
assert isinstance(ITEM, ArrayType) and isinstance(ITEM.item, ObjectType)
PRODUCT = ITEM.item


def scope(depth: int, *fields: str) -> ast.Expr:
    node: ast.Expr = ast.ImplicitScope(depth)
    for name in fields:
        node = ast.FieldLookup(node, name)
    return node


def var(name: str, *fields: str) -> ast.Expr:
    node: ast.Expr = ast.VarRef(name)
    for field_name in fields:
        node = ast.FieldLookup(node, field_name)
    return node


def root_scopes(tree: ast.Expr) -> list[ast.ImplicitScope]:
    return [node for node in nodes(tree) if isinstance(node, ast.ImplicitScope)]


class TestBracketFilters:
    def test_the_condition_reads_the_current_item(self) -> None:
        tree = checked('xEvent[eventType = "x"]')
        assert isinstance(tree, ast.Filter)
        assert tree.type == ArrayType(EVENT)
        assert isinstance(tree.condition, ast.Binary)
        assert tree.condition.left == scope(0, "eventType")
        assert isinstance(tree.condition.left, ast.FieldLookup)
        assert tree.condition.left.target.type is EVENT

    def test_nested_filters_and_double_caret(self) -> None:
        tree = checked('xEvent[productListItems[SKU="PS" or ^^.person.gender="female"]]')
        assert isinstance(tree, ast.Filter)
        inner = tree.condition
        assert isinstance(inner, ast.Filter)
        assert inner.target == scope(0, "productListItems")
        assert isinstance(inner.condition, ast.Binary)
        sku, gender = inner.condition.left, inner.condition.right
        assert isinstance(sku, ast.Binary) and isinstance(gender, ast.Binary)
        assert sku.left == scope(0, "SKU")
        assert gender.left == scope(2, "person", "gender")
        depths = {node.depth: node.type for node in root_scopes(inner.condition)}
        assert depths == {0: PRODUCT, 2: PROFILE}

    @pytest.mark.parametrize("up", ["^eventType", "^.eventType"])
    def test_single_caret_is_the_enclosing_item(self, up: str) -> None:
        tree = checked(f'xEvent[productListItems[{up} = "x"]]')
        assert isinstance(tree, ast.Filter) and isinstance(tree.condition, ast.Filter)
        condition = tree.condition.condition
        assert isinstance(condition, ast.Binary)
        assert condition.left == scope(1, "eventType")
        assert isinstance(condition.left, ast.FieldLookup)
        assert condition.left.target.type is EVENT

    @pytest.mark.parametrize(
        ("text", "depth"),
        [
            ("xEvent[$1.homeAddress.city = 'x']", 1),
            ("xEvent[productListItems[$1.homeAddress.city = 'x']]", 2),
            ("$1.homeAddress.city = 'x'", 0),
        ],
    )
    def test_dollar_one_is_always_the_profile(self, text: str, depth: int) -> None:
        tree = checked(text)
        found = [n for n in root_scopes(tree) if n.type is PROFILE]
        assert [n.depth for n in found] == [depth]

    def test_this_is_the_current_item(self) -> None:
        tree = checked('loyalty.loyaltyID[this = "gold"]')
        assert isinstance(tree, ast.Filter)
        assert isinstance(tree.condition, ast.Binary)
        assert tree.condition.left == ast.ImplicitScope(0)
        assert tree.condition.left.type == STRING

    def test_names_in_a_filter_do_not_fall_back_to_the_profile(self) -> None:
        fails(
            PQLNameError,
            'xEvent[homeAddress.city = "x"]',
            "unknown field `homeAddress` in _xdm.context.experienceevent",
            column=8,
        )

    def test_carets_past_the_profile(self) -> None:
        fails(PQLNameError, "xEvent[^^.person]", "`\\^\\^` reaches past the profile: 1", column=8)
        fails(PQLNameError, "^person", "`\\^` reaches past the profile: 0 enclosing scopes")

    def test_only_arrays_are_filtered(self) -> None:
        fails(
            PQLTypeError,
            'homeAddress[city = "x"]',
            r"`\[…\]` filters an array; got object PostalAddress",
            column=1,
        )

    def test_variables_are_visible_inside_filters(self) -> None:
        tree = checked("select X from xEvent where X.productListItems[SKU = X.eventType]")
        assert isinstance(tree, ast.Select)
        condition = tree.bindings[0].condition
        assert isinstance(condition, ast.Filter)
        assert isinstance(condition.condition, ast.Binary)
        assert condition.condition.right == var("X", "eventType")

    def test_a_filtered_projection_stays_projected(self) -> None:
        tree = checked('xEvent.productListItems[SKU = "x"]')
        assert tree.type == ArrayType(PRODUCT, projected=True)

    def test_a_filter_over_groups_in_map(self) -> None:
        text = "xEvent.groupBy(eventType).map(this[timestamp occurs today].count())"
        tree = checked(text)
        assert isinstance(tree, ast.MethodCall)
        assert tree.type == ArrayType(INTEGER)
        count = tree.args[0]
        assert isinstance(count, ast.MethodCall) and isinstance(count.target, ast.Filter)
        assert count.target.target == ast.ImplicitScope(0)
        assert count.target.target.type == ArrayType(EVENT)


class TestProjectedPaths:
    @pytest.mark.parametrize(
        ("text", "item"),
        [
            ("xEvent.eventType", STRING),
            ("xEvent.productListItems", PRODUCT),
            ("xEvent.productListItems.SKU", STRING),
            ("xEvent.productListItems.productCategories", STRING),
            ("xEvent.commerce.order.priceTotal", DOUBLE),
        ],
    )
    def test_map_and_flatten_one_level(self, text: str, item: PQLType) -> None:
        assert checked(text).type == ArrayType(item, projected=True)

    def test_an_array_field_of_an_object_is_not_projected(self) -> None:
        assert checked("loyalty.loyaltyID").type == ArrayType(STRING)

    @pytest.mark.parametrize(
        "text",
        [
            'xEvent.eventType = "x"',
            'xEvent.eventType != "x"',
            "xEvent.commerce.order.priceTotal > 10",
            'xEvent.eventType in ["a", "b"]',
            'xEvent.eventType notIn ["a", "b"]',
            'xEvent.eventType like "a%"',
            'xEvent.eventType matches "^a"',
            'xEvent.eventType.startsWith("a", false)',
            'xEvent.productListItems.SKU.equals("x")',
            "xEvent.timestamp occurs today",
            "homeAddress.city = xEvent.productListItems.name",
        ],
    )
    def test_predicates_over_projections_are_existential(self, text: str) -> None:
        assert checked(text).type == BOOLEAN

    def test_a_string_literal_is_coerced_to_the_item_type(self) -> None:
        tree = checked('xEvent.web.webPageDetails.isHomePage = "true"')
        assert isinstance(tree, ast.Binary)
        assert tree.right == ast.Literal(True, ast.LiteralKind.BOOLEAN)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('loyalty.loyaltyID = "gold"', "cannot compare array<string> with string"),
            ("xEvent.commerce.order.priceTotal + 1 > 2", r"`\+` needs two numbers"),
            ("loyalty.loyaltyID.length", "cannot read field `length` of a array<string>"),
            ("identityMap.email", r'cannot read field `email` of a map.*use `.get\("email"\)`'),
            ("-xEvent.commerce.order.priceTotal > 1", "unary `-` needs a number"),
        ],
    )
    def test_whole_values_and_non_objects(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message)

    def test_unknown_field_through_an_array(self) -> None:
        fails(
            PQLNameError,
            "xEvent.productListItems.sku",
            "unknown field `sku` in ProductListItem; did you mean `SKU`",
            column=25,
        )


class TestVariables:
    def test_several_bindings_make_tuples(self) -> None:
        tree = checked('select A from xEvent, B from A.productListItems where B.SKU = "x"')
        assert isinstance(tree, ast.Select)
        row = TupleType("tuple", {"A": EVENT, "B": PRODUCT})
        assert tree.type == ArrayType(row)
        first, second = tree.bindings
        assert (first.type, second.type) == (EVENT, PRODUCT)
        assert second.source == var("A", "productListItems")
        assert isinstance(second.condition, ast.Binary)
        assert second.condition.left == var("B", "SKU")

    @pytest.mark.parametrize(
        ("text", "column"),
        [
            ("select A from xEvent where B.eventType, B from xEvent", 28),
            ("exists A from B.productListItems, B from xEvent", 15),
            ("let S = S + 1 in S > 0", 9),
            ("chain(xEvent, timestamp, [A: WHAT(B.eventType = 'a'), B: WHAT(eventType)])", 35),
        ],
    )
    def test_used_before_its_declaration(self, text: str, column: int) -> None:
        name = text[column - 1]
        fails(PQLNameError, text, f"`{name}` is used before its declaration", column=column)

    def test_not_visible_after_the_construct(self) -> None:
        fails(
            PQLNameError,
            "(exists E from xEvent where E.eventType) and E.eventType",
            "unknown field `E` in _xdm.context.profile",
            column=46,
        )

    def test_declared_twice(self) -> None:
        fails(PQLTypeError, "select A from xEvent, A from xEvent", "variable `A` is declared twice")

    def test_nested_constructs_may_shadow(self) -> None:
        text = "exists A from xEvent where (exists A from A.productListItems where A.SKU = 'x')"
        tree = checked(text)
        inner = [n for n in nodes(tree) if isinstance(n, ast.Binding)]
        assert {b.type for b in inner} == {EVENT, PRODUCT}

    def test_variables_shadow_fields(self) -> None:
        tree = checked("select homeAddress from xEvent where homeAddress.eventType")
        assert isinstance(tree, ast.Select)
        assert tree.bindings[0].condition == var("homeAddress", "eventType")

    def test_let(self) -> None:
        tree = checked("let S = loyalty.points + 1 in S > 10 and S < 20")
        assert isinstance(tree, ast.Let)
        assert tree.type == BOOLEAN
        assert tree.value.type == INTEGER
        refs = [n for n in nodes(tree.body) if isinstance(n, ast.VarRef)]
        assert len(refs) == 2 and all(ref.type == INTEGER for ref in refs)

    def test_let_of_a_select(self) -> None:
        tree = checked("let S = (select X from xEvent where X.eventType = 'a') in S.count() > 1")
        assert isinstance(tree, ast.Let)
        assert tree.value.type == ArrayType(EVENT)

    def test_legacy_aggregate_values_see_every_variable(self) -> None:
        text = (
            "(sum X.commerce.order.priceTotal + Y.commerce.order.priceTotal over X from xEvent, "
            "Y from xEvent where Y.timestamp occurs < 2 weeks after X.timestamp) > 1000"
        )
        tree = checked(text)
        assert isinstance(tree, ast.Binary) and isinstance(tree.left, ast.Aggregate)
        assert isinstance(tree.left.value, ast.Binary)
        assert tree.left.value.right == var("Y", "commerce", "order", "priceTotal")
        occurs = tree.left.bindings[1].condition
        assert isinstance(occurs, ast.Occurs)
        assert occurs.anchor == var("X", "timestamp")
        assert occurs.anchor.type == DATETIME

    def test_a_binding_needs_an_array(self) -> None:
        fails(
            PQLTypeError,
            "exists A from homeAddress where A.city",
            "`A from …` needs an array; got object PostalAddress",
            column=15,
        )


class TestLambdas:
    def test_whole_query_lambda_binds_the_profile(self) -> None:
        text = "(Profile) => Profile.homeAddress.stateProvince = Profile.workAddress.stateProvince"
        tree = checked(text)
        assert isinstance(tree, ast.Lambda)
        assert tree.type == FunctionType.of((PROFILE,), BOOLEAN)
        assert isinstance(tree.body, ast.Binary)
        assert tree.body.left == var("Profile", "homeAddress", "stateProvince")
        assert isinstance(tree.body.left, ast.FieldLookup)

    def test_whole_query_lambda_must_be_a_condition(self) -> None:
        fails(PQLTypeError, '(P) => "x"', "a segment definition must be a condition", column=8)

    def test_whole_query_lambda_takes_one_parameter(self) -> None:
        fails(PQLNameError, "(P, Q) => P.homeAddress", "one input, the profile", column=1)

    def test_lambdas_elsewhere(self) -> None:
        fails(
            PQLTypeError,
            "homeAddress and ((p) => p.homeAddress)",
            "a lambda can only be the whole query or the argument of a method",
            column=18,
        )

    def test_map_lambda_over_groups(self) -> None:
        tree = checked("xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.count()))")
        assert isinstance(tree, ast.MethodCall)
        assert tree.type == MapType(INTEGER, key=STRING)
        function = tree.args[0]
        assert isinstance(function, ast.Lambda)
        assert function.type == FunctionType.of((STRING, ArrayType(EVENT)), function.body.type)
        assert isinstance(function.body, ast.FunctionCall)
        key, count = function.body.args
        assert key == ast.VarRef("K") and key.type == STRING
        assert isinstance(count, ast.MethodCall) and count.target == ast.VarRef("G")

    def test_item_lambdas_bind_the_item_and_push_no_scope(self) -> None:
        tree = checked("xEvent.map((e) => e.eventType)")
        assert tree.type == ArrayType(STRING)
        fails(
            PQLNameError,
            "xEvent.map((e) => eventType)",
            "unknown field `eventType` in _xdm.context.profile; did you mean `e.eventType`",
        )

    def test_lambda_arity_must_match(self) -> None:
        fails(PQLTypeError, "xEvent.exists((a, b) => a)", "takes 2 parameters but is given 1")
        fails(PQLTypeError, "xEvent.groupBy(eventType).map((g) => g)", r"`\(key, value\)")


class TestChainSteps:
    TEXT = (
        'chain(xEvent, timestamp, [A: WHAT(eventType = "x") WHEN(< 8 days before now) '
        'WHERE(homeAddress.city = "Paris") COUNT(2)])'
    )

    def test_step_scopes(self) -> None:
        tree = checked(self.TEXT)
        assert isinstance(tree, ast.Chain) and tree.type == BOOLEAN
        assert tree.events == ast.XEvent()
        (step,) = tree.steps
        assert step.type == BOOLEAN and step.count == 2
        assert isinstance(step.what, ast.Binary)
        assert step.what.left == scope(0, "eventType")
        assert step.when is not None
        assert step.when.target == scope(0, "timestamp")
        assert step.when.target.type == DATETIME
        assert isinstance(step.where, ast.Binary)
        assert step.where.left == scope(1, "homeAddress", "city")
        assert {n.depth: n.type for n in root_scopes(step.where)} == {1: PROFILE}

    def test_where_prefers_the_event(self) -> None:
        tree = checked('chain(xEvent, timestamp, [A: WHAT(eventType) WHERE(eventType = "x")])')
        assert isinstance(tree, ast.Chain)
        where = tree.steps[0].where
        assert isinstance(where, ast.Binary)
        assert where.left == scope(0, "eventType")

    def test_what_does_not_fall_back(self) -> None:
        fails(
            PQLNameError,
            'chain(xEvent, timestamp, [A: WHAT(homeAddress.city = "x")])',
            "unknown field `homeAddress` in _xdm.context.experienceevent",
            column=35,
        )

    def test_labels_are_variables_for_later_steps(self) -> None:
        text = (
            'chain(xEvent, timestamp, [A: WHAT(eventType = "a"), '
            'B: WHAT(eventType = "b" and timestamp occurs < 2 hours after A.timestamp)])'
        )
        tree = checked(text)
        refs = [n for n in nodes(tree) if isinstance(n, ast.VarRef)]
        assert refs == [ast.VarRef("A")]
        assert refs[0].type is EVENT

    def test_a_label_names_its_own_event_in_its_step(self) -> None:
        tree = checked('chain(xEvent, timestamp, [A: WHAT(A.eventType = "x") WHERE(A.web)])')
        assert isinstance(tree, ast.Chain)
        (step,) = tree.steps
        assert isinstance(step.what, ast.Binary)
        assert step.what.left == var("A", "eventType")
        assert step.where == var("A", "web")

    def test_dollar_one_and_up_in_a_step(self) -> None:
        tree = checked("chain(xEvent, timestamp, [A: WHAT($1.homeAddress and ^.homeAddress)])")
        assert isinstance(tree, ast.Chain)
        assert {n.depth for n in root_scopes(tree.steps[0].what)} == {1}

    @pytest.mark.parametrize(
        ("text", "error", "message"),
        [
            (
                "chain(xEvent[eventType = 'a'], timestamp, [A: WHAT(eventType)])",
                PQLUnsupportedError,
                "`chain` over anything but `xEvent`",
            ),
            ("chain(xEvent, ts, [A: WHAT(eventType)])", PQLNameError, "unknown field `ts`"),
            (
                "chain(xEvent, eventType, [A: WHAT(eventType)])",
                PQLTypeError,
                "orders events by a date-time field; `eventType` is a string",
            ),
            ("chain(xEvent, timestamp, [A: WHAT(eventType) COUNT(0)])", PQLTypeError, "COUNT"),
            (
                "chain(xEvent, timestamp, [A: WHAT(eventType), A: WHAT(eventType)])",
                PQLTypeError,
                "step label `A` is declared twice",
            ),
            (
                "chain(xEvent, timestamp, [A: WHAT(eventType) WHEN(before homeAddress)])",
                PQLNameError,
                "unknown field `homeAddress`",
            ),
        ],
    )
    def test_errors(self, text: str, error: type[PQLError], message: str) -> None:
        fails(error, text, message)

    def test_the_timestamp_field_is_located(self) -> None:
        fails(PQLNameError, "chain(xEvent, ts, [A: WHAT(eventType)])", "`ts`", column=15)


def test_every_node_of_a_rich_query_is_resolved() -> None:
    text = (
        "let Y = xEvent[timestamp occurs < 7 days before now].groupBy(eventType)"
        ".map((K, G) => mapEntry(K, G.sum(commerce.order.priceTotal))) in Y.keys().count() > 1 "
        'and (exists E from xEvent where E.productListItems[SKU = "x" or ^.homeAddress]) '
        "and (select A from xEvent, B from xEvent where A._id != B._id) "
        'and chain(xEvent, timestamp, [S: WHAT(eventType = "a") WHERE(homeAddress)])'
    )
    for node in nodes(checked(text)):
        assert node.type is not None, node
        assert not isinstance(node, ast.Name | ast.UpRef | ast.ParamRef), node
