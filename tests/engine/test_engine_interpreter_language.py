"""The reference interpreter over the whole language: value(), memberships, the Java regex
translation, data conformance (ISO text, epoch milliseconds, Arrow map pairs), and errors
raised before any profile is evaluated. The compliance suite (tests/compliance) covers the
semantics case by case; these tests pin the API and the pieces it cannot reach."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

import pytest
from engine_testkit import NOW, Row, pql

from segmint.engine import evaluate
from segmint.engine.interpreter.evaluator import prepare, value
from segmint.engine.interpreter.regex import RegexUnsupported, compile_java
from segmint.engine.interpreter.runtime import MISSING, equal, is_null, output
from segmint.pql.errors import PQLTypeError, PQLUnsupportedError

EVENTS: list[Row] = [
    {
        "timestamp": "2025-06-18T09:00:00Z",
        "eventType": "b",
        "commerce": {"order": {"priceTotal": 5.0}},
    },
    {"timestamp": datetime(2025, 6, 17, 9), "eventType": "a"},
    {"timestamp": 1749970800000, "eventType": "a", "commerce": {"order": {"priceTotal": 7.0}}},
]


def val(text: str, profile: Row | None = None, events: list[Row] | None = None) -> object:
    return value(pql(text), profile or {}, events or [], NOW)


class TestValue:
    def test_numbers_strings_and_null(self) -> None:
        assert val("1 + 2") == 3
        assert val("10 / 4") == 2.5
        assert val('if(homeAddress.city = "x", "a", "b")') == "b"
        assert val("homeAddress.city") is None

    def test_computed_attribute_style_maps(self) -> None:
        counts = val("xEvent.groupBy(eventType).map((K, G) => mapEntry(K, G.count()))", {}, EVENTS)
        assert counts == {"a": 2, "b": 1}
        assert list(counts) == ["a", "b"]  # type: ignore[arg-type]  # ascending timestamps

    def test_object_literals_and_lists(self) -> None:
        assert val(
            'let O = {"n": xEvent.count(), "s": xEvent.sum(commerce.order.priceTotal)} in O',
            {},
            EVENTS,
        ) == {
            "n": 3,
            "s": 12.0,
        }
        assert val("xEvent.map(eventType)", {}, EVENTS) == ["a", "a", "b"]

    def test_select_rows_are_tuples(self) -> None:
        rows = val("select A from xEvent, B from xEvent where B.timestamp occurs after A.timestamp")
        assert rows == []
        pairs = val(
            "select A from xEvent, B from xEvent where B.timestamp occurs after A.timestamp",
            {},
            EVENTS,
        )
        assert isinstance(pairs, list) and len(pairs) == 3
        assert set(pairs[0]) == {"A", "B"}

    def test_dates(self) -> None:
        assert val("date(currentYear(), 1, 31)") == date(2025, 1, 31)
        assert val("date(currentYear(), 2, 30)") is None


class TestMemberships:
    PROFILE: ClassVar[Row] = {"segmentMembership": {"ups": {"s": {"status": "existing"}}}}

    def test_memberships_argument_wins(self) -> None:
        expr = pql('inSegment("s")')
        assert evaluate(expr, self.PROFILE, [], NOW)
        assert not evaluate(expr, self.PROFILE, [], NOW, memberships={"s": "exited"})
        assert evaluate(expr, {}, [], NOW, memberships={"s": "realized"})
        assert not evaluate(expr, {}, [], NOW, memberships={})

    def test_arrow_map_pairs(self) -> None:
        profile = {"segmentMembership": [("ups", [("s", {"status": "realized"})])]}
        assert evaluate(pql('inSegment("s")'), profile, [], NOW)
        assert evaluate(
            pql('segmentMembership.get("ups").get("s").status = "realized"'), profile, [], NOW
        )


class TestData:
    def test_timestamps_from_text_epoch_and_datetime(self) -> None:
        assert evaluate(pql("xEvent.timestamp occurs on date(2025, 6, 15)"), {}, EVENTS, NOW)
        assert evaluate(pql("xEvent.max(timestamp) occurs today"), {}, EVENTS, NOW)

    def test_offsets_are_converted_to_utc(self) -> None:
        profile = {"loyalty": {"joinDate": "2025-06-19T01:00:00+03:00"}}
        assert evaluate(pql("loyalty.joinDate occurs today"), profile, [], NOW)

    def test_not_a_time_is_an_error(self) -> None:
        with pytest.raises(PQLTypeError):
            evaluate(
                pql("loyalty.joinDate occurs today"), {"loyalty": {"joinDate": "soon"}}, [], NOW
            )


class TestNulls:
    def test_missing_is_null_and_never_leaves(self) -> None:
        assert is_null(MISSING) and is_null(None) and not is_null(0)
        assert output({"a": MISSING, "b": [MISSING, 1]}) == {"a": None, "b": [None, 1]}

    def test_is_null_on_a_projection(self) -> None:
        assert evaluate(pql("xEvent.commerce.order.isNull()"), {}, [], NOW)
        assert not evaluate(pql("xEvent.commerce.order.isNull()"), {}, EVENTS, NOW)
        assert evaluate(pql("xEvent.commerce.order.isNotNull()"), {}, EVENTS, NOW)

    def test_structural_equality(self) -> None:
        assert equal({"a": 1, "b": None}, {"a": 1})
        assert equal([1, None], [1.0, None])
        assert not equal([1, 2], [2, 1])
        assert not equal(True, 1)


class TestJavaRegex:
    @pytest.mark.parametrize(
        ("java", "text", "found"),
        [
            ("(?i)^john", "JOHNNY", True),
            ("a.b", "a\rb", False),  # Java's . stops at every line terminator
            ("(?s)a.b", "a\rb", True),
            ("\\w+", "é", False),  # ASCII classes, as Java's defaults
            ("(?U)\\w+", "é", True),
            ("x(?i)y", "xY", True),
            ("x(?i)y", "XY", False),
            ("(?<n>a)\\k<n>", "aa", True),
            ("\\Qa.b\\E", "axb", False),
            ("\\p{Alpha}{2}\\P{Digit}", "ab!", True),
            ("[\\p{Digit}x]+", "x1", True),
            ("a\\z", "a\n", False),
            ("a\\Z", "a\n", True),
            ("a++b", "aab", True),
            ("\\x{41}", "A", True),
            ("\\0101", "A", True),
            ("\\cA", "\x01", True),
            ("\\h", "\t", True),
        ],
    )
    def test_translation(self, java: str, text: str, found: bool) -> None:
        assert (compile_java(java).search(text) is not None) is found

    @pytest.mark.parametrize(
        "java",
        [
            "[a-z&&[^e]]",
            "[a[b]]",
            "\\p{L}",
            "\\p{IsLatin}",
            "\\G",
            "\\R",
            "(?x)a",
            "(?d)a",
            "a(?u)b",
            "x(?i)y|z",
            "(",
            "a)",
            "\\",
        ],
    )
    def test_untranslatable_patterns_are_rejected(self, java: str) -> None:
        with pytest.raises(RegexUnsupported):
            compile_java(java)

    def test_a_literal_pattern_is_checked_before_any_profile(self) -> None:
        expr = pql('person.name.firstName matches "\\\\p{L}"')
        with pytest.raises(PQLUnsupportedError, match="p\\{L\\}"):
            prepare(expr)
        with pytest.raises(PQLUnsupportedError):
            evaluate(expr, {}, [], NOW)  # even with no name to match

    def test_a_dynamic_pattern_is_checked_when_evaluated(self) -> None:
        expr = pql("person.name.firstName matches homeAddress.city")
        profile = {"person": {"name": {"firstName": "a"}}, "homeAddress": {"city": "[a&&b]"}}
        with pytest.raises(PQLUnsupportedError):
            evaluate(expr, profile, [], NOW)
