"""The checker: name resolution, the type rules of the operators, literal coercions
(pql.md §1.7), ``occurs``, and the decisioning-only constructs it refuses, against Segmint's
default XDM schema. Scopes and variables: test_pql_checker_scopes.py; the function families:
test_pql_checker_functions.py; the Adobe corpus: test_pql_checker_corpus.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from segmint.pql import (
    PQLError,
    PQLNameError,
    PQLTypeError,
    PQLUnsupportedError,
    ast,
    check,
    format,
    parse,
)
from segmint.pql.types import (
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    INTEGER,
    STRING,
    TIME_REF,
    ArrayType,
    ObjectType,
    Schema,
)
from segmint.xdm import DEFAULT_SCHEMA

K = ast.LiteralKind
PROFILE = DEFAULT_SCHEMA.profile
EVENT = DEFAULT_SCHEMA.event


def checked(text: str, schema: Schema = DEFAULT_SCHEMA) -> ast.Expr:
    return check(parse(text), schema, source=text)


def fails(
    error: type[PQLError], text: str, match: str, column: int | None = None, line: int = 1
) -> PQLError:
    """Assert that checking ``text`` raises ``error`` matching ``match`` at ``line:column``."""
    with pytest.raises(error, match=match) as raised:
        checked(text)
    if column is not None:
        assert (raised.value.line, raised.value.column) == (line, column)
    assert raised.value.source == text
    return raised.value


def nodes(tree: object) -> list[ast.Node]:
    """Every node of ``tree`` (bindings and chain steps included)."""
    found: list[ast.Node] = []
    pending: list[Any] = [tree]
    while pending:
        item = pending.pop()
        if isinstance(item, tuple):
            pending.extend(item)
        elif isinstance(item, ast.Node):
            found.append(item)
            pending.extend(vars(item).values())
    return found


def profile_path(*fields: str) -> ast.Expr:
    node: ast.Expr = ast.ImplicitScope(0)
    for name in fields:
        node = ast.FieldLookup(node, name)
    return node


class TestResolution:
    def test_bare_path_resolves_on_the_profile(self) -> None:
        tree = checked('homeAddress.countryCode = "US"')
        assert isinstance(tree, ast.Binary)
        assert tree.left == profile_path("homeAddress", "countryCode")
        assert tree.left.type == STRING
        assert isinstance(tree.left, ast.FieldLookup)
        assert tree.left.target.type is PROFILE.fields["homeAddress"]
        assert isinstance(tree.left.target, ast.FieldLookup)
        assert tree.left.target.target.type is PROFILE
        assert tree.type == BOOLEAN

    def test_select_variable_becomes_a_var_ref(self) -> None:
        tree = checked('select X from xEvent where X.eventType = "x"')
        assert isinstance(tree, ast.Select)
        assert tree.type == ArrayType(EVENT)
        binding = tree.bindings[0]
        assert binding.type is EVENT
        assert binding.source == ast.XEvent()
        assert binding.source.type == ArrayType(EVENT)
        assert isinstance(binding.condition, ast.Binary)
        lookup = binding.condition.left
        assert lookup == ast.FieldLookup(ast.VarRef("X"), "eventType")
        assert isinstance(lookup, ast.FieldLookup)
        assert lookup.target.type is EVENT

    def test_dollar_one_and_this_are_the_profile(self) -> None:
        expected = profile_path("person", "birthYear")
        for text in ("$1.person.birthYear > 1", "this.person.birthYear > 1"):
            tree = checked(text)
            assert isinstance(tree, ast.Binary)
            assert tree.left == expected

    def test_xevent_is_the_event_array(self) -> None:
        assert checked("xEvent").type == ArrayType(EVENT)

    @pytest.mark.parametrize(
        "text",
        [
            'homeAddress.countryCode = "US" and (select X from xEvent where X.commerce.order)',
            "not person.birthDate occurs > 21 years before today or loyalty.points >= 10",
            "(select X from xEvent where X.timestamp occurs last week).count() > 2",
            'personalEmail.address.endsWith("x.com", false) and xEvent.count() < 3',
            "loyalty.points in [1, 2.5] and loyalty.loyaltyID and person.birthDate = date(2000,1,1)"
            " and currentYear() > 2000",
        ],
    )
    def test_every_node_is_typed(self, text: str) -> None:
        for node in nodes(checked(text)):
            assert node.type is not None, node
            assert not isinstance(node, ast.Name), node

    @pytest.mark.parametrize(
        "text",
        [
            'homeAddress.countryCode = "US" and (select X from xEvent where X.commerce.order)',
            'homeAddress.primary = "true" or loyalty.joinDate < "2020-01-01T10:00:00Z"',
            "person.birthDate occurs between date(2000, 1, 1) and this year",
            "$1.person.gender in ['f', 'x']",
        ],
    )
    def test_checking_is_idempotent_and_printed_trees_check_the_same(self, text: str) -> None:
        tree = checked(text)
        assert check(tree, DEFAULT_SCHEMA) == tree
        assert checked(format(tree)) == tree

    def test_the_input_tree_is_not_modified(self) -> None:
        tree = parse("person.birthYear = 1980")
        check(tree, DEFAULT_SCHEMA)
        assert tree == parse("person.birthYear = 1980")
        assert tree.type is None


class TestUnknownNames:
    def test_unknown_field_names_the_field_and_suggests(self) -> None:
        error = fails(
            PQLNameError,
            'homeAddress.countryCod = "US"',
            r"unknown field `countryCod` in PostalAddress; did you mean `countryCode`",
            column=13,
        )
        assert error.length == len("countryCod")
        assert error.highlight() == 'homeAddress.countryCod = "US"\n            ^^^^^^^^^^'

    def test_unknown_top_level_field(self) -> None:
        fails(PQLNameError, "persno.birthYear = 1", "unknown field `persno`.*`person`", column=1)

    def test_suggestion_ignores_case(self) -> None:
        fails(PQLNameError, "person.birthyear = 1", "did you mean `birthYear`")

    def test_no_suggestion_when_nothing_is_close(self) -> None:
        error = fails(PQLNameError, "zzzzzz = 1", "unknown field `zzzzzz`")
        assert "did you mean" not in error.message

    def test_location_on_a_later_line(self) -> None:
        text = 'person.birthYear = 1980 and\n    homeAddress.contry = "US"'
        with pytest.raises(PQLNameError, match="`contry`") as error:
            checked(text)
        assert (error.value.line, error.value.column) == (2, 17)

    def test_location_without_source_text(self) -> None:
        text = "person.birthYear = 1 and homeAddress.contry"
        with pytest.raises(PQLNameError) as error:
            check(parse(text), DEFAULT_SCHEMA)
        assert (error.value.line, error.value.column) == (1, text.index("contry") + 1)

    def test_unknown_event_field(self) -> None:
        fails(
            PQLNameError,
            "select X from xEvent where X.eventTyp",
            "unknown field `eventTyp` in _xdm.context.experienceevent; did you mean `eventType`",
            column=30,
        )

    def test_unknown_method(self) -> None:
        fails(
            PQLNameError,
            'workEmail.address.startWith("a")',
            r"unknown method `.startWith\(\)`; did you mean `startsWith`",
            column=19,
        )

    def test_unknown_function(self) -> None:
        fails(PQLNameError, "Date(2020, 1, 1)", r"unknown function `Date\(\)`.*`date`", column=1)

    def test_undefined_parameter(self) -> None:
        fails(PQLNameError, "$2.a", r"`\$2` is not defined", column=1)

    def test_unbound_variable_in_a_prebuilt_tree(self) -> None:
        with pytest.raises(PQLNameError, match="unknown variable `X`"):
            check(ast.FieldLookup(ast.VarRef("X"), "a"), DEFAULT_SCHEMA)


class TestTopLevel:
    @pytest.mark.parametrize("text", ['"pizza"', "-201", "3.14", "[1, 4, 7]", "date(2020, 3, 14)"])
    def test_constants_are_not_conditions(self, text: str) -> None:
        fails(PQLTypeError, text, "a segment definition must be a condition", column=1)

    @pytest.mark.parametrize(
        "text", ["true", "homeAddress", "loyalty.loyaltyID", "identityMap", "loyalty.points + 1"]
    )
    def test_anything_else_is_a_condition_by_truthiness(self, text: str) -> None:
        checked(text)


class TestLogic:
    def test_and_or_not_accept_any_operand(self) -> None:
        tree = checked("homeAddress and not loyalty.points or person.name.firstName")
        assert tree.type == BOOLEAN
        assert isinstance(tree, ast.Binary)
        assert isinstance(tree.left, ast.Binary)
        assert tree.left.right.type == BOOLEAN


class TestEquality:
    @pytest.mark.parametrize(
        "text",
        [
            "loyalty.points = loyalty.lifetimePurchases",
            "loyalty.points != 2.5",
            "homeAddress.city = workAddress.city",
            "person.birthDate = loyalty.joinDate",
            "homeAddress.primary = true",
            "homeAddress = workAddress",
            "loyalty.loyaltyID = ['a', 'b']",
            "loyalty.loyaltyID = []",
            "xEvent.count() = 3",
        ],
    )
    def test_comparable(self, text: str) -> None:
        assert checked(text).type == BOOLEAN

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("homeAddress.city = 1", "cannot compare string with integer using `=`"),
            ("loyalty.points != true", "cannot compare integer with boolean using `!=`"),
            ("homeAddress = person", "cannot compare object PostalAddress with object Person"),
            ("loyalty.loyaltyID = [1]", r"cannot compare array<string> with array<integer>"),
            ("person.birthDate = 2000", "cannot compare date with integer"),
            ("1 = '1'", "cannot compare integer with string"),
        ],
    )
    def test_incomparable(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message, column=1)


class TestOrdering:
    @pytest.mark.parametrize(
        "text",
        [
            "loyalty.points < 2.5",
            "homeAddress.city >= 'M'",
            "person.birthDate <= loyalty.joinDate",
            "currentYear() > person.birthYear",
        ],
    )
    def test_ordered(self, text: str) -> None:
        assert checked(text).type == BOOLEAN

    @pytest.mark.parametrize(
        "text", ["homeAddress.primary < true", "homeAddress < workAddress", "homeAddress.city > 1"]
    )
    def test_unordered(self, text: str) -> None:
        fails(PQLTypeError, text, "needs two numbers, two strings or two dates", column=1)


class TestArithmetic:
    @pytest.mark.parametrize(
        ("text", "type_"),
        [
            ("loyalty.points + 1", INTEGER),
            ("loyalty.points - loyalty.pointsRedeemed", INTEGER),
            ("loyalty.points * 2", INTEGER),
            ("loyalty.points % 5", INTEGER),
            ("loyalty.points / 2", DOUBLE),
            ("loyalty.points + 0.5", DOUBLE),
            ("loyalty.lifetimePurchases * 2", DOUBLE),
            ("-loyalty.points", INTEGER),
            ("-loyalty.lifetimePurchases", DOUBLE),
        ],
    )
    def test_result_types(self, text: str, type_: object) -> None:
        tree = checked(f"{text} > 0")
        assert isinstance(tree, ast.Binary)
        assert tree.left.type == type_

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("homeAddress.city + 1 > 0", r"`\+` needs two numbers; got string and integer"),
            ("loyalty.points / true > 0", "`/` needs two numbers; got integer and boolean"),
            ("-homeAddress.city = 'x'", "unary `-` needs a number; got string"),
            ("person.birthDate - 1 > 0", "needs two numbers; got date and integer"),
        ],
    )
    def test_numbers_only(self, text: str, message: str) -> None:
        fails(PQLTypeError, text, message, column=1)


class TestMembership:
    def test_list_literal(self) -> None:
        tree = checked("person.birthYear in [1980, 1990]")
        assert isinstance(tree, ast.Binary)
        assert tree.right.type == ArrayType(INTEGER)

    def test_mixed_numbers_widen_to_double(self) -> None:
        tree = checked("loyalty.points notIn [1, 2.5]")
        assert isinstance(tree, ast.Binary)
        assert tree.right.type == ArrayType(DOUBLE)

    def test_array_field_on_the_right(self) -> None:
        assert checked('"gold" in loyalty.loyaltyID').type == BOOLEAN

    def test_calendar_function_on_the_left(self) -> None:
        assert checked("currentMonth() in [3, 4, 5]").type == BOOLEAN

    @pytest.mark.parametrize(
        ("text", "message", "column"),
        [
            ("homeAddress.city in [1, 2]", r"cannot look for string in array<integer>", 1),
            ("homeAddress.city in 'abc'", "the right side of `in` must be a list or an array", 21),
            ("loyalty.loyaltyID in ['a']", "the left side of `in` must be a single value", 1),
            ("loyalty.points in [1, 'a']", r"cannot use \"a\" as a integer", 23),
            ("homeAddress.city in ['a', 1]", "a list cannot mix string and integer items", 27),
        ],
    )
    def test_errors(self, text: str, message: str, column: int) -> None:
        fails(PQLTypeError, text, message, column=column)


class TestLike:
    def test_strings(self) -> None:
        assert checked('workEmail.address like "%.edu"').type == BOOLEAN

    def test_non_strings(self) -> None:
        fails(PQLTypeError, "loyalty.points like '1%'", "`like` needs two strings", column=1)


class TestStringMethods:
    @pytest.mark.parametrize(
        "method",
        [
            "startsWith",
            "doesNotStartWith",
            "endsWith",
            "doesNotEndWith",
            "contains",
            "doesNotContain",
            "equals",
            "notEqualTo",
        ],
    )
    def test_all_eight_with_and_without_the_case_flag(self, method: str) -> None:
        for args in ('"joe"', '"joe", false', '"joe", TRUE', "homeAddress.city"):
            tree = checked(f"workEmail.address.{method}({args})")
            assert isinstance(tree, ast.MethodCall)
            assert tree.type == BOOLEAN
            assert all(arg.type is not None for arg in tree.args)

    @pytest.mark.parametrize(
        ("text", "message", "column"),
        [
            ("loyalty.points.contains('1')", r"`.contains\(\)` needs a string receiver", 1),
            ("homeAddress.city.contains(1)", r"needs a string argument; got integer", 27),
            ("homeAddress.city.equals('a', 'false')", "case-sensitivity flag", 30),
            ("homeAddress.city.equals('a', homeAddress.primary)", "case-sensitivity flag", 30),
            ("homeAddress.city.endsWith()", r"`.endsWith\(\)` takes 1 or 2 arguments, got 0", 1),
            ("homeAddress.city.endsWith('a', true, 1)", "takes 1 or 2 arguments, got 3", 1),
        ],
    )
    def test_errors(self, text: str, message: str, column: int) -> None:
        fails(PQLTypeError, text, message, column=column)


class TestNullMethods:
    @pytest.mark.parametrize(
        "text", ["homeAddress.isNull()", "loyalty.loyaltyID.isNotNull()", "identityMap.isNull()"]
    )
    def test_any_receiver(self, text: str) -> None:
        assert checked(text).type == BOOLEAN

    def test_no_arguments(self) -> None:
        fails(PQLTypeError, "homeAddress.isNull(1)", r"`.isNull\(\)` takes 0 arguments, got 1")


class TestCount:
    def test_xevent_count(self) -> None:
        tree = checked("xEvent.count() > 5")
        assert isinstance(tree, ast.Binary)
        assert tree.left.type == INTEGER
        assert isinstance(tree.left, ast.MethodCall)
        assert tree.left.target.type == ArrayType(EVENT)

    def test_select_count(self) -> None:
        text = '(select X from xEvent where X.eventType = "a").count() > 1'
        tree = checked(text)
        assert isinstance(tree, ast.Binary)
        assert tree.left.type == INTEGER

    def test_count_of_any_array(self) -> None:
        for text in ("loyalty.loyaltyID.count() > 1", "xEvent.productListItems.count() > 1"):
            tree = checked(text)
            assert isinstance(tree, ast.Binary)
            assert tree.left.type == INTEGER

    def test_count_of_a_scalar(self) -> None:
        fails(
            PQLTypeError,
            "homeAddress.city.count() > 1",
            r"`.count\(\)` needs an array receiver; got string",
        )

    def test_count_takes_no_arguments(self) -> None:
        fails(PQLTypeError, "xEvent.count(1) > 1", "takes 0 arguments")


class TestDates:
    def test_date_folds_into_a_literal(self) -> None:
        tree = checked("person.birthDate = date(2000, 1, 31)")
        assert isinstance(tree, ast.Binary)
        assert tree.right == ast.Literal(date(2000, 1, 31), ast.LiteralKind.DATE)
        assert tree.right.type == DATE
        assert tree.right.span is not None and tree.right.span.column == 20

    def test_date_with_computed_arguments_stays_a_call(self) -> None:
        tree = checked("person.birthDate > date(currentYear() - 20, 1, 1)")
        assert isinstance(tree, ast.Binary)
        assert isinstance(tree.right, ast.FunctionCall)
        assert tree.right.type == DATE

    @pytest.mark.parametrize(
        ("text", "message", "column"),
        [
            ("person.birthDate = date(2000, 2, 30)", "invalid date: day is out of range", 20),
            ("person.birthDate = date(2000, 13, 1)", "invalid date: month must be in 1..12", 20),
            ("person.birthDate = date(2000, 1)", r"`date\(\)` takes 3 arguments, got 2", 20),
            (
                "person.birthDate = date('2000', 1, 1)",
                "integer year, month and day; got string",
                25,
            ),
            ("person.birthDate = date(2000.0, 1, 1)", "got double", 25),
        ],
    )
    def test_errors(self, text: str, message: str, column: int) -> None:
        fails(PQLTypeError, text, message, column=column)

    def test_calendar_functions(self) -> None:
        for name in ("currentYear", "currentMonth", "currentDayOfMonth"):
            tree = checked(f"person.birthYear = {name}()")
            assert isinstance(tree, ast.Binary)
            assert tree.right.type == INTEGER
        fails(PQLTypeError, "currentYear(1) = 1", r"`currentYear\(\)` takes 0 arguments")


class TestCoercion:
    """pql.md §1.7: a string literal compared with a typed field takes the field's type."""

    def test_boolean(self) -> None:
        tree = checked('select X from xEvent where X.web.webPageDetails.isHomePage = "true"')
        assert isinstance(tree, ast.Select)
        condition = tree.bindings[0].condition
        assert isinstance(condition, ast.Binary)
        assert condition.right == ast.Literal(True, ast.LiteralKind.BOOLEAN)
        assert condition.right.type == BOOLEAN

    @pytest.mark.parametrize(
        ("text", "value", "kind", "type_"),
        [
            ('homeAddress.primary != "False"', False, K.BOOLEAN, BOOLEAN),
            ('loyalty.points = "42"', 42, K.INTEGER, INTEGER),
            ("loyalty.points >= ' -3 '", -3, K.INTEGER, INTEGER),
            ('loyalty.lifetimePurchases > "1.5e2"', 150.0, K.DOUBLE, DOUBLE),
            ('person.birthDate = "2000-01-31"', date(2000, 1, 31), K.DATE, DATE),
            (
                'loyalty.joinDate > "2020-03-14T10:00:00+01:00"',
                datetime(2020, 3, 14, 9, 0),
                K.DATETIME,
                DATETIME,
            ),
            (
                'loyalty.joinDate < "2020-03-14T10:00:00Z"',
                datetime(2020, 3, 14, 10, 0),
                K.DATETIME,
                DATETIME,
            ),
            ('loyalty.joinDate = "2020-03-14"', datetime(2020, 3, 14), K.DATETIME, DATETIME),
        ],
    )
    def test_right_hand_literal(
        self, text: str, value: object, kind: ast.LiteralKind, type_: object
    ) -> None:
        tree = checked(text)
        assert isinstance(tree, ast.Binary)
        assert isinstance(tree.right, ast.Literal)
        assert (tree.right.value, tree.right.kind, tree.right.type) == (value, kind, type_)
        assert type(tree.right.value) is type(value)

    def test_left_hand_literal(self) -> None:
        tree = checked('"42" < loyalty.points')
        assert isinstance(tree, ast.Binary)
        assert tree.left == ast.Literal(42, ast.LiteralKind.INTEGER)

    def test_list_items(self) -> None:
        tree = checked('loyalty.points in ["1", 2]')
        assert isinstance(tree, ast.Binary)
        assert tree.right == ast.ListLiteral(
            (ast.Literal(1, ast.LiteralKind.INTEGER), ast.Literal(2, ast.LiteralKind.INTEGER))
        )
        assert tree.right.type == ArrayType(INTEGER)

    def test_strings_stay_strings(self) -> None:
        tree = checked('homeAddress.city = "42"')
        assert isinstance(tree, ast.Binary)
        assert tree.right == ast.Literal("42", ast.LiteralKind.STRING)

    @pytest.mark.parametrize(
        ("text", "message", "column"),
        [
            ('homeAddress.primary = "yes"', r'cannot use "yes" as a boolean: expected "true"', 23),
            ('loyalty.points = "4.5"', "as a integer: expected a whole number", 18),
            ('loyalty.lifetimePurchases = "nan"', "as a double: expected a number", 29),
            ('person.birthDate = "2000-02-30"', "as a date: expected an ISO-8601 date", 20),
            ('person.birthDate = "2000-01-31T10:00"', "as a date", 20),
            ('loyalty.joinDate = "March 3rd"', "as a date-time: expected an ISO-8601", 20),
        ],
    )
    def test_impossible_coercions(self, text: str, message: str, column: int) -> None:
        fails(PQLTypeError, text, message, column=column)


class TestOccurs:
    @pytest.mark.parametrize(
        "text",
        [
            "person.birthDate occurs <= 3 days before now",
            "loyalty.joinDate occurs = 2 months after today",
            "loyalty.joinDate occurs before yesterday",
            "loyalty.joinDate occurs after date(2019, 4, 1)",
            "loyalty.joinDate occurs on date(2019, 12, 31)",
            "loyalty.joinDate occurs date(2019, 12, 31)",
            "loyalty.joinDate occurs last month",
            "loyalty.joinDate occurs this year",
            "loyalty.joinDate occurs between date(2015, 1, 8) and next week",
            "select X from xEvent where X.timestamp occurs > 1 hour before tomorrow",
        ],
    )
    def test_supported_forms(self, text: str) -> None:
        tree = checked(text)
        for node in nodes(tree):
            if isinstance(node, ast.Occurs):
                assert node.type == BOOLEAN
                for anchor in (node.anchor, node.anchor2):
                    assert anchor is None or anchor.type in (TIME_REF, DATE)
                    assert anchor is None or isinstance(anchor, ast.TimeRef | ast.Literal)

    def test_from_means_after(self) -> None:
        tree = checked("loyalty.joinDate occurs < 2 days from now")
        assert isinstance(tree, ast.Occurs)
        assert tree.direction == "after"

    def test_target_must_be_temporal(self) -> None:
        fails(
            PQLTypeError,
            "homeAddress.city occurs today",
            "`occurs` needs a date or date-time; got string",
            column=1,
        )

    @pytest.mark.parametrize(
        "text",
        [
            "person.birthDate occurs on loyalty.joinDate",
            "person.birthDate occurs between today and loyalty.joinDate",
            "loyalty.joinDate occurs <= 2 days after extSourceSystemAudit.createdDate",
        ],
    )
    def test_timestamp_expressions_are_anchors(self, text: str) -> None:
        tree = checked(text)
        assert isinstance(tree, ast.Occurs)
        assert isinstance(tree.anchor, ast.FieldLookup | ast.TimeRef)
        assert tree.anchor.type in (DATE, DATETIME, TIME_REF)

    def test_a_computed_date_is_an_anchor(self) -> None:
        tree = checked("person.birthDate occurs before date(currentYear() - 1, 1, 1)")
        assert isinstance(tree, ast.Occurs)
        assert isinstance(tree.anchor, ast.FunctionCall)
        assert (tree.anchor.name, tree.anchor.type) == ("date", DATE)

    @pytest.mark.parametrize(
        ("text", "message", "column"),
        [
            ("person.birthDate occurs on loyalty.points", "`loyalty.points` is a integer", 28),
            ("person.birthDate occurs after '2020-01-01'", "is a string", 31),
            ("person.birthDate occurs on xEvent.timestamp", r"is a array<date-time>", 28),
        ],
    )
    def test_other_anchors_are_type_errors(self, text: str, message: str, column: int) -> None:
        fails(PQLTypeError, text, f"`occurs` is relative to a time word.*{message}", column=column)

    def test_projected_timestamps_occur_existentially(self) -> None:
        tree = checked("xEvent.timestamp occurs last week")
        assert isinstance(tree, ast.Occurs)
        assert tree.target.type == ArrayType(DATETIME, projected=True)
        assert tree.type == BOOLEAN

    def test_time_words_only_after_occurs(self) -> None:
        tree = ast.Binary("=", ast.Name("loyalty"), ast.TimeRef("today"))
        with pytest.raises(PQLTypeError, match="`today` can only be used after `occurs`"):
            check(tree, DEFAULT_SCHEMA)


class TestDecisioningOnly:
    """Offer-decisioning roots (pql.md §7.15) are refused with ``PQLUnsupportedError``."""

    def test_context_data(self) -> None:
        error = fails(
            PQLUnsupportedError,
            "homeAddress and @{_xdm.context;version=1}.weather = 'sun'",
            r"context data `@\{…\}` exists only in offer-decisioning rules",
            column=17,
        )
        assert error.to_dict() == {
            "kind": "unsupported",
            "message": "context data `@{…}` exists only in offer-decisioning rules, "
            "not in segment definitions",
            "line": 1,
            "column": 17,
        }

    def test_the_offer_root(self) -> None:
        fails(
            PQLUnsupportedError,
            'if(offer._id = "x", 1, 2) > 1',
            "`offer` \\(the candidate offer\\) exists only in offer-decisioning rules",
            column=4,
        )

    def test_a_variable_named_offer_is_fine(self) -> None:
        assert checked("select offer from xEvent where offer.eventType").type is not None


class TestSelectConditions:
    def test_bare_names_read_the_profile_and_suggest_the_variable(self) -> None:
        error = fails(
            PQLNameError,
            'select X from xEvent where eventType = "x"',
            "unknown field `eventType` in _xdm.context.profile; did you mean `X.eventType`",
            column=28,
        )
        assert error.length == len("eventType")

    def test_bare_profile_fields_in_a_where(self) -> None:
        tree = checked('select X from xEvent where homeAddress.city = "Paris"')
        assert isinstance(tree, ast.Select)
        condition = tree.bindings[0].condition
        assert isinstance(condition, ast.Binary)
        assert condition.left == profile_path("homeAddress", "city")

    def test_this_is_the_profile_in_a_where(self) -> None:
        tree = checked("select X from xEvent where this.homeAddress")
        assert isinstance(tree, ast.Select)
        assert tree.bindings[0].condition == profile_path("homeAddress")

    def test_variables_are_visible_only_in_their_where(self) -> None:
        fails(
            PQLNameError,
            "(select X from xEvent where X.eventType) and X.eventType",
            "unknown field `X`",
            column=46,
        )

    def test_profile_fields_stay_reachable_with_dollar_one_in_a_where(self) -> None:
        text = "select X from xEvent where X.commerce.order.currencyCode = $1.homeAddress.city"
        assert checked(text).type == ArrayType(EVENT)

    def test_multi_line_location(self) -> None:
        text = '_id = "x"\nand\n   person.birthYear = 1 and chain(xEvent, t, [A: WHAT(a)])'
        fails(PQLNameError, text, "unknown field `t` in _xdm.context.experienceevent", 43, 3)


class TestCustomSchema:
    def test_checker_reads_any_schema(self) -> None:
        order = ObjectType("Order", {"total": DOUBLE})
        schema = Schema(
            profile=ObjectType("Profile", {"tier": STRING}),
            event=ObjectType("Event", {"order": order, "timestamp": DATETIME}),
        )
        text = 'tier = "gold" and (select E from xEvent where E.order.total > 100)'
        tree = checked(text, schema)
        assert tree.type == BOOLEAN
        with pytest.raises(PQLNameError, match="unknown field `homeAddress` in Profile"):
            checked("homeAddress", schema)


def test_long_or_chains_check_without_recursion() -> None:
    text = " or ".join(f'homeAddress.postalCode = "{i}"' for i in range(3000))
    tree = checked(text)
    assert tree.type == BOOLEAN
    assert format(tree).startswith('this.homeAddress.postalCode = "0" or ')
