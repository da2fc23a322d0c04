"""The reference interpreter against pql.md: one test group per rule of §1.4, §5.2-5.3, §6, §7.4.

Profiles and events are dicts shaped like pyarrow's ``to_pylist()`` of the lake layout: a
``None`` (or absent) struct is an absent object.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import pytest
from engine_testkit import NOW, Row, pql

from segmint.engine import evaluate
from segmint.pql.ast import FieldLookup, ImplicitScope, MethodCall, TimeRef, VarRef
from segmint.pql.errors import PQLUnsupportedError


def holds(text: str, profile: Row, events: Sequence[Row] = ()) -> bool:
    return evaluate(pql(text), profile, events, NOW)


NOBODY: Row = {}
PARIS: Row = {
    "homeAddress": {"city": "Paris", "countryCode": "FR", "primary": True},
    "person": {"birthYear": 1985, "birthDate": date(1985, 6, 18), "name": {"firstName": "Ann"}},
    "loyalty": {"points": 5, "lifetimePurchases": 2.5, "tier": "gold", "loyaltyID": ["L1", None]},
}
EMPTY_FIELDS: Row = {
    "homeAddress": {"city": None, "primary": None},
    "loyalty": {"points": None, "loyaltyID": []},
}


def with_fields(**sections: Row) -> Row:
    return dict(sections)


class TestComparisonWithNull:
    """§5.3: = != < <= > >= are false when an operand is null or missing."""

    @pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
    @pytest.mark.parametrize("profile", [NOBODY, EMPTY_FIELDS], ids=["absent", "null"])
    def test_false_on_null(self, op: str, profile: Row) -> None:
        assert not holds(f'homeAddress.city {op} "Paris"', profile)
        assert not holds(f"loyalty.points {op} 5", profile)

    def test_not_equal_is_not_the_negation_of_equal(self) -> None:
        assert not holds('homeAddress.city != "Rome"', NOBODY)
        assert holds('homeAddress.city != "Rome"', PARIS)
        assert not holds('homeAddress.city != "Paris"', PARIS)

    def test_not_applies_to_the_coerced_value(self) -> None:
        assert holds('not (homeAddress.city = "Rome")', NOBODY)
        assert not holds('not (homeAddress.city = "Paris")', PARIS)

    def test_equality_is_case_sensitive(self) -> None:
        assert not holds('homeAddress.city = "paris"', PARIS)

    def test_ordering_of_strings_numbers_and_dates(self) -> None:
        assert holds('homeAddress.city < "Rome"', PARIS)
        assert holds("loyalty.lifetimePurchases >= 2.5", PARIS)
        assert holds("person.birthDate > date(1985, 6, 17)", PARIS)
        assert holds("loyalty.points > loyalty.lifetimePurchases", PARIS)

    def test_field_to_field_with_one_side_missing(self) -> None:
        assert not holds("homeAddress.city = workAddress.city", PARIS)
        same = with_fields(homeAddress={"city": "X"}, workAddress={"city": "X"})
        assert holds("homeAddress.city = workAddress.city", same)

    def test_a_date_meets_a_timestamp_at_midnight(self) -> None:
        profile = with_fields(loyalty={"joinDate": datetime(2025, 1, 1)})
        assert holds('loyalty.joinDate = "2025-01-01T00:00:00Z"', profile)
        assert holds('loyalty.joinDate < "2025-01-01T00:00:01Z"', profile)


class TestMembership:
    """§5.2-5.3: in/notIn are true only with both sides present."""

    def test_in_a_list_literal(self) -> None:
        assert holds('homeAddress.countryCode in ["US", "FR"]', PARIS)
        assert not holds('homeAddress.countryCode in ["US"]', PARIS)
        assert not holds('homeAddress.countryCode in ["US", "FR"]', NOBODY)

    def test_not_in_is_false_on_null(self) -> None:
        assert holds('homeAddress.countryCode notIn ["US"]', PARIS)
        assert not holds('homeAddress.countryCode notIn ["FR"]', PARIS)
        assert not holds('homeAddress.countryCode notIn ["US"]', NOBODY)

    def test_numbers_in_a_list(self) -> None:
        assert holds("loyalty.points in [1, 5, 9]", PARIS)
        assert holds("loyalty.points in [5.0]", PARIS)

    def test_in_an_array_field(self) -> None:
        assert holds('"L1" in loyalty.loyaltyID', PARIS)
        assert not holds('"L2" in loyalty.loyaltyID', PARIS)
        assert holds('"L2" notIn loyalty.loyaltyID', PARIS)  # a null item is no member

    def test_an_empty_or_missing_array(self) -> None:
        assert not holds('"L1" in loyalty.loyaltyID', EMPTY_FIELDS)
        assert holds('"L1" notIn loyalty.loyaltyID', EMPTY_FIELDS)
        assert not holds('"L1" in loyalty.loyaltyID', NOBODY)
        assert not holds('"L1" notIn loyalty.loyaltyID', NOBODY)


class TestArithmetic:
    """§5.2-5.3: null propagates, / by zero is null, / is a double, % keeps the dividend's sign."""

    def test_null_propagates_to_a_false_comparison(self) -> None:
        assert not holds("person.birthYear + 1 = 1", NOBODY)
        assert holds("not (person.birthYear + 1 = 1)", NOBODY)
        assert holds("(person.birthYear + 1).isNull()", NOBODY)

    def test_division_by_zero_is_null(self) -> None:
        assert not holds("loyalty.points / 0 = 0", PARIS)
        assert holds("(loyalty.points / 0).isNull()", PARIS)
        assert holds("(loyalty.points % 0).isNull()", PARIS)

    def test_division_always_yields_a_double(self) -> None:
        assert holds("loyalty.points / 2 = 2.5", PARIS)
        assert holds("loyalty.points * 2 = 10", PARIS)

    def test_remainder_keeps_the_sign_of_the_dividend(self) -> None:
        negative = with_fields(loyalty={"points": -5})
        assert holds("loyalty.points % 3 = -2", negative)
        assert holds("loyalty.points % -3 = -2", negative)
        assert holds("loyalty.lifetimePurchases % 2 = 0.5", PARIS)

    def test_unary_minus_and_precedence(self) -> None:
        assert holds("-loyalty.points = -5", PARIS)
        assert holds("loyalty.points + 2 * 3 = 11", PARIS)
        assert not holds("-loyalty.points < 0", NOBODY)


class TestLike:
    """§7.4: SQL LIKE over the whole string, % any run, _ one character, case-sensitive."""

    @pytest.mark.parametrize(
        ("pattern", "expected"),
        [
            ("Paris", True),
            ("P%", True),
            ("%ri%", True),
            ("_aris", True),
            ("Par", False),
            ("paris", False),
            ("P_s", False),
            ("%", True),
            ("P.ris", False),
        ],
    )
    def test_pattern(self, pattern: str, expected: bool) -> None:
        assert holds(f'homeAddress.city like "{pattern}"', PARIS) is expected

    def test_regex_and_backslash_characters_are_literal(self) -> None:
        profile = with_fields(homeAddress={"city": "a.b\\c(d)"})
        assert holds('homeAddress.city like "a.b\\\\c(d)"', profile)
        assert holds('homeAddress.city like "a_b%"', profile)
        assert not holds('homeAddress.city like "a.b"', profile)

    def test_false_on_null(self) -> None:
        assert not holds('homeAddress.city like "%"', NOBODY)


class TestStringMethods:
    """§7.4 + §5.3: case flag (default true = case-sensitive); negative forms false on null."""

    @pytest.mark.parametrize(
        ("call", "expected"),
        [
            ('startsWith("Pa")', True),
            ('startsWith("pa")', False),
            ('startsWith("pa", false)', True),
            ('startsWith("pa", true)', False),
            ('doesNotStartWith("pa")', True),
            ('doesNotStartWith("pa", false)', False),
            ('endsWith("is")', True),
            ('endsWith("IS", false)', True),
            ('doesNotEndWith("is")', False),
            ('contains("ari")', True),
            ('contains("ARI", false)', True),
            ('doesNotContain("x")', True),
            ('equals("Paris")', True),
            ('equals("PARIS", false)', True),
            ('equals("PARIS")', False),
            ('notEqualTo("PARIS")', True),
            ('notEqualTo("PARIS", false)', False),
            ('startsWith("")', True),
            ('contains("%")', False),
        ],
    )
    def test_method(self, call: str, expected: bool) -> None:
        assert holds(f"homeAddress.city.{call}", PARIS) is expected

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
    def test_false_on_null(self, method: str) -> None:
        assert not holds(f'homeAddress.city.{method}("x")', NOBODY)
        assert not holds(f'homeAddress.city.{method}("x", false)', EMPTY_FIELDS)

    def test_a_null_argument_is_false_too(self) -> None:
        assert not holds("homeAddress.city.doesNotContain(workAddress.city)", PARIS)


class TestTruthiness:
    """§1.4: booleans by value; arrays when non-empty; other values when present."""

    @pytest.mark.parametrize(
        ("path", "profile", "expected"),
        [
            ("homeAddress", PARIS, True),
            ("homeAddress", EMPTY_FIELDS, True),  # present object, its fields all null
            ("homeAddress", NOBODY, False),
            ("homeAddress.city", PARIS, True),
            ("homeAddress.city", with_fields(homeAddress={"city": ""}), True),
            ("homeAddress.city", EMPTY_FIELDS, False),
            ("loyalty.points", with_fields(loyalty={"points": 0}), True),
            ("homeAddress.primary", PARIS, True),
            ("homeAddress.primary", with_fields(homeAddress={"primary": False}), False),
            ("homeAddress.primary", EMPTY_FIELDS, False),
            ("loyalty.loyaltyID", PARIS, True),
            ("loyalty.loyaltyID", EMPTY_FIELDS, False),
            ("loyalty.loyaltyID", NOBODY, False),
            ("not homeAddress.primary", EMPTY_FIELDS, True),
            ("homeAddress.primary and homeAddress", PARIS, True),
            ("homeAddress.city or loyalty.loyaltyID", EMPTY_FIELDS, False),
        ],
    )
    def test_value_in_boolean_position(self, path: str, profile: Row, expected: bool) -> None:
        assert holds(path, profile) is expected

    def test_is_null_observes_absence(self) -> None:
        assert holds("homeAddress.isNull()", NOBODY)
        assert not holds("homeAddress.isNull()", EMPTY_FIELDS)
        assert holds("homeAddress.city.isNull()", EMPTY_FIELDS)
        assert holds("loyalty.loyaltyID.isNotNull()", EMPTY_FIELDS)  # empty, not null
        assert holds("person.name.firstName.isNotNull()", PARIS)


class TestCalendarFunctions:
    """§6.1: currentYear/currentMonth/currentDayOfMonth from now, in UTC."""

    def test_values(self) -> None:
        assert holds("currentYear() = 2025 and currentMonth() = 6", NOBODY)
        assert holds("currentDayOfMonth() = 18", NOBODY)
        assert holds("person.birthYear = currentYear() - 40", PARIS)

    def test_utc(self) -> None:
        from datetime import timedelta, timezone

        late = datetime(2025, 6, 19, 1, 0, tzinfo=timezone(timedelta(hours=3)))
        assert evaluate(pql("currentDayOfMonth() = 18"), NOBODY, [], late)


def event(when: datetime, event_type: str = "commerce.purchases", **fields: object) -> Row:
    return {"timestamp": when, "eventType": event_type, **fields}


class TestOccurs:
    """§6.2-6.3 on a profile timestamp and a profile date (now = Wed 2025-06-18 14:30)."""

    @pytest.mark.parametrize(
        ("spec", "inside", "outside"),
        [
            ("today", datetime(2025, 6, 18), datetime(2025, 6, 17, 23, 59, 59, 999999)),
            ("yesterday", datetime(2025, 6, 17), datetime(2025, 6, 18)),
            ("last month", datetime(2025, 5, 31, 23), datetime(2025, 6, 1)),
            ("this week", datetime(2025, 6, 16), datetime(2025, 6, 15, 23)),
            ("on date(2025, 6, 1)", datetime(2025, 6, 1, 12), datetime(2025, 6, 2)),
            ("before today", datetime(2025, 6, 17, 23), datetime(2025, 6, 18)),
            ("after today", datetime(2025, 6, 19), datetime(2025, 6, 18, 23)),
            ("after now", datetime(2025, 6, 18, 14, 30, 0, 1), NOW),
            ("between last week and yesterday", datetime(2025, 6, 9), datetime(2025, 6, 18)),
            ("<= 7 days before today", datetime(2025, 6, 11), datetime(2025, 6, 10, 23)),
            ("<= 7 days before today", datetime(2025, 6, 17, 23), datetime(2025, 6, 18)),
            ("< 7 days before today", datetime(2025, 6, 11, 0, 0, 1), datetime(2025, 6, 11)),
            ("<= 3 hours before now", datetime(2025, 6, 18, 11, 30), NOW),
            (">= 1 year before today", datetime(2024, 6, 18), datetime(2024, 6, 18, 0, 0, 1)),
            ("> 1 year before today", datetime(2024, 6, 17), datetime(2024, 6, 18)),
            ("<= 24 hours after now", datetime(2025, 6, 19, 14, 30), datetime(2025, 6, 19, 15)),
            ("<= 24 hours after now", NOW, datetime(2025, 6, 18, 14)),
            ("= 3 days before today", datetime(2025, 6, 15, 23), datetime(2025, 6, 16)),
            ("!= 3 days before today", datetime(2025, 6, 16), datetime(2025, 6, 15, 1)),
            ("= 2 months after last month", datetime(2025, 7, 31), datetime(2025, 6, 30)),
        ],
    )
    def test_form(self, spec: str, inside: datetime, outside: datetime) -> None:
        text = f"loyalty.joinDate occurs {spec}"
        assert holds(text, with_fields(loyalty={"joinDate": inside}))
        assert not holds(text, with_fields(loyalty={"joinDate": outside}))

    def test_null_target_is_false_even_for_not_equal(self) -> None:
        assert not holds("loyalty.joinDate occurs != 3 days before today", NOBODY)
        assert not holds("loyalty.joinDate occurs before now", EMPTY_FIELDS)

    def test_date_target_compares_by_day(self) -> None:
        adult = "person.birthDate occurs >= 21 years before today"
        assert holds(adult, with_fields(person={"birthDate": date(2004, 6, 18)}))
        assert not holds(adult, with_fields(person={"birthDate": date(2004, 6, 19)}))
        assert holds(
            "person.birthDate occurs today", with_fields(person={"birthDate": date(2025, 6, 18)})
        )


class TestEvents:
    """select … from xEvent (boolean = at least one match; .count()), xEvent.count()."""

    EVENTS = (
        event(datetime(2025, 6, 18, 9), commerce={"order": {"priceTotal": 120.0}}),
        event(datetime(2025, 6, 11)),
        event(datetime(2025, 6, 10, 23), "web.webpagedetails.pageViews"),
    )

    def test_select_in_boolean_position(self) -> None:
        text = 'select X from xEvent where X.eventType = "commerce.purchases"'
        assert holds(text, NOBODY, self.EVENTS)
        assert not holds(text, NOBODY, [])
        assert holds(f"not ({text})", NOBODY, [])

    def test_count_of_a_select_with_a_window(self) -> None:
        text = (
            '(select X from xEvent where X.eventType = "commerce.purchases" '
            "and X.timestamp occurs <= 7 days before today).count()"
        )
        assert holds(f"{text} = 1", NOBODY, self.EVENTS)  # the 06-18 one is today, not before
        assert holds(f"{text} = 0", NOBODY, [])

    def test_event_fields_follow_the_null_rules(self) -> None:
        price = "select X from xEvent where X.commerce.order.priceTotal > 100"
        assert holds(price, NOBODY, self.EVENTS)
        assert not holds(price.replace("> 100", "> 200"), NOBODY, self.EVENTS)
        missing = "select X from xEvent where X.commerce.order.priceTotal != 1"
        assert holds(missing, NOBODY, self.EVENTS[:1])
        assert not holds(missing, NOBODY, self.EVENTS[1:])

    def test_xevent_count_and_truthiness(self) -> None:
        assert holds("xEvent.count() = 3", NOBODY, self.EVENTS)
        assert holds("xEvent.count() = 0", NOBODY, [])
        assert holds("xEvent", NOBODY, self.EVENTS)
        assert not holds("xEvent", NOBODY, [])

    def test_select_without_condition(self) -> None:
        assert holds("(select X from xEvent).count() = 3", NOBODY, self.EVENTS)

    def test_profile_and_event_conditions_combine(self) -> None:
        text = (
            'homeAddress.city = "Paris" and (select X from xEvent where X.timestamp occurs today)'
        )
        assert holds(text, PARIS, self.EVENTS)
        assert not holds(text, NOBODY, self.EVENTS)


class TestUnsupported:
    def test_outer_scope(self) -> None:
        node = FieldLookup(ImplicitScope(1), "city")
        with pytest.raises(PQLUnsupportedError, match="outer scope"):
            evaluate(node, NOBODY, [], NOW)

    def test_unknown_method(self) -> None:
        node = MethodCall(FieldLookup(ImplicitScope(0), "tags"), "reverse")
        with pytest.raises(PQLUnsupportedError, match="reverse"):
            evaluate(node, {"tags": []}, [], NOW)

    def test_unbound_variable_and_bare_time_word(self) -> None:
        with pytest.raises(PQLUnsupportedError):
            evaluate(VarRef("X"), NOBODY, [], NOW)
        with pytest.raises(PQLUnsupportedError, match="TimeRef"):
            evaluate(TimeRef("now"), NOBODY, [], NOW)
