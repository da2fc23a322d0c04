"""Scalar SQL rules: regular expressions, calendar parts, ``if``, ``date()`` and ``occurs``
relative to a value. The emitted SQL, what is rejected up front, and agreement with the
interpreter on small data (regexes over tricky strings straight in DuckDB; the rest through
``run_membership`` on a Parquet lake)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from engine_runs import qualified_by_segment, run
from engine_testkit import NOW, Lake, Row, interpreted_members, pql, write_lake
from sqlglot import exp

from segmint.engine import check_supported, compile_expression, value
from segmint.engine.sql import CorrelatedEventCounts, DuckDBCompiler
from segmint.engine.sql.re2 import translate
from segmint.pql.ast import Expr, Literal, LiteralKind, MethodCall
from segmint.pql.errors import PQLUnsupportedError
from segmint.pql.types import BOOLEAN, INTEGER, STRING


def sql(text: str) -> str:
    return compile_expression(pql(text), NOW).sql(dialect="duckdb")


def rejected(text: str) -> str:
    with pytest.raises(PQLUnsupportedError) as raised:
        check_supported(pql(text))
    return raised.value.message


class TestEmittedSQL:
    def test_matches_is_a_never_null_regexp_match(self) -> None:
        assert sql('person.name.firstName matches "^Jo.n"') == (
            'COALESCE(REGEXP_MATCHES("p"."person"."name"."firstName", '
            "'^Jo[^\\x{a}\\x{d}\\x{85}\\x{2028}-\\x{2029}]n'), FALSE)"
        )

    def test_method_matches_equals_the_infix_form(self) -> None:
        assert sql('person.name.firstName.matches("a")') == sql('person.name.firstName matches "a"')

    def test_case_folding_is_spelled_out_in_ascii(self) -> None:
        assert translate("(?i)k[a-c]").pattern == "[kK][A-Ca-c]"
        assert translate("a(?i:s)t").pattern == "a(?:[sS])t"

    def test_classes_become_explicit_ascii_ranges(self) -> None:
        assert translate("\\s\\d\\p{Upper}").pattern == "[\\x{9}-\\x{d}\\x{20}][0-9][A-Z]"

    def test_final_dollar_is_an_extra_last_group(self) -> None:
        regex = translate("^(\\w+)$")
        assert regex.pattern == "^([0-9A-Z\\x{5f}a-z]+)(\\n?)\\z"
        assert (regex.groups, regex.end_group, regex.around_end) == (2, 2, frozenset())

    def test_possessive_at_the_end_is_greedy(self) -> None:
        assert translate("^Jo[a-z]*+$").pattern == "^Jo[a-z]*(\\n?)\\z"

    def test_regex_group_of_a_nonempty_group_is_nullif_empty(self) -> None:
        assert sql('personalEmail.address.regexGroup("@(\\\\w+)", 1) = "x"') == (
            'COALESCE(NULLIF(REGEXP_EXTRACT("p"."personalEmail"."address", '
            "'@([0-9A-Z\\x{5f}a-z]+)', 1), '') = 'x', FALSE)"
        )

    def test_regex_group_zero_is_null_without_a_match(self) -> None:
        emitted = sql('personalEmail.address.regexGroup("a*") = ""')
        assert emitted.startswith("COALESCE(CASE WHEN REGEXP_MATCHES(")

    def test_calendar_parts_extract_from_the_utc_value(self) -> None:
        assert sql("loyalty.joinDate.getMonth() = 3") == (
            'COALESCE(EXTRACT(MONTH FROM "p"."loyalty"."joinDate") = 3, FALSE)'
        )
        assert 'EXTRACT(DAY FROM "p"."person"."birthDate")' in sql(
            "person.birthDate.getDayOfMonth() = 1"
        )

    def test_if_takes_the_else_branch_on_a_null_test(self) -> None:
        assert sql("if(loyalty.points > 1, 1.5, 2) = 2") == (
            'COALESCE(CASE WHEN COALESCE("p"."loyalty"."points" > 1, FALSE) '
            "THEN CAST('1.5' AS DOUBLE) ELSE CAST(2 AS DOUBLE) END = 2, FALSE)"
        )

    def test_constant_dates_are_folded(self) -> None:
        assert "CAST('2025-06-01' AS DATE)" in sql(
            "person.birthDate = date(currentYear(), currentMonth(), 1)"
        )
        assert "CAST(NULL AS DATE)" in sql("person.birthDate = date(currentYear(), 2, 30)")
        assert sql("loyalty.joinDate occurs on date(currentYear(), 2, 30)") == "FALSE"

    def test_run_time_dates_are_null_when_invalid(self) -> None:
        assert "TRY(MAKE_DATE(" in sql("person.birthDate = date(person.birthYear, 2, 29)")

    def test_occurs_before_a_value_compares_with_the_row(self) -> None:
        assert sql("loyalty.joinDate occurs before extSourceSystemAudit.lastUpdatedDate") == (
            'COALESCE("p"."loyalty"."joinDate" < "p"."extSourceSystemAudit"."lastUpdatedDate", '
            "FALSE)"
        )

    def test_time_words_still_compile_to_literal_bounds(self) -> None:
        assert sql("loyalty.joinDate occurs before today") == (
            'COALESCE("p"."loyalty"."joinDate" < CAST(\'2025-06-18 00:00:00.000000\' '
            "AS TIMESTAMP), FALSE)"
        )


class TestRejections:
    @pytest.mark.parametrize(
        ("pattern", "reason"),
        [
            ("(a)\\\\1", "a backreference"),
            ("a(?=b)", "lookaround"),
            ("a*+b", "a possessive quantifier"),
            ("a$b", "`$`"),
            ("(?u)a", "a Unicode flag"),
            ("[\\\\S]", "`\\S` inside a character class"),
            ("a{1001}", "a repetition count over 1000"),
        ],
    )
    def test_patterns_re2_cannot_run_exactly(self, pattern: str, reason: str) -> None:
        message = rejected(f'person.name.firstName matches "{pattern}"')
        assert reason in message and "regular expression" in message and "DuckDB" in message

    def test_patterns_the_interpreter_rejects(self) -> None:
        assert "\\G" in rejected('person.name.firstName matches "\\\\Ga"')

    def test_a_pattern_must_be_a_literal(self) -> None:
        message = rejected("person.name.firstName matches homeAddress.city")
        assert "not a string literal" in message

    def test_a_group_that_may_be_empty_or_absent(self) -> None:
        message = rejected('person.name.firstName.regexGroup("(a*)|b", 1) = ""')
        assert "may be empty or take no part" in message

    def test_matches_over_a_projected_array(self) -> None:
        assert "matches on this value" in rejected('identityMap.get("ECID").id matches "a"')


# --- regular expressions: DuckDB (RE2) against the interpreter (Python re) -------------------

TEXTS: list[str | None] = [
    None,
    "",
    "John",
    "john\n",
    "JOHN\r\n",
    "upJohn",
    "\u212a",
    "\u017f",
    "kelvin \u212a",
    "long \u017f s",
    "Stra\u00dfe \u00c9t\u00e9",
    "a\u2028b",
    "a\x0bb",
    "tab\there",
    "x_y-9@EXAMPLE.com",
    "ab\nab",
    "aaa",
    "\u00e9\u00c9",
]
PATTERNS: list[str] = [
    "(?i)K",
    "(?i)[j-l]",
    "(?i)[^a-z\\s]",
    "(?i)S\\w+",
    "(?i)\\W",
    "(?i)\u00e9",
    "\\P{Lower}",
    "(?i)\\P{Lower}",
    "^\\w+$",
    "n$",
    "(?m)^ab$",
    "(?s)a.b",
    "a.b",
    "\\s",
    "\\S+",
    "\\h",
    "\\v",
    "\\p{Punct}",
    "\\Q.\\E|@",
    "\\x{212A}|\\u017f",
    "\\011|\\cK",
    "\\bab\\b",
    "a\\Z",
    "^[a-z]*+$",
    "a+?",
    "(ab)+",
    "J(?i)OHN",
    "(?i)j(?-i)ohn",
    "^(\\w+)@(\\w+)\\.(com|COM)$",
    "(?<user>[a-z]+)(-\\d)?",
    "(x)?a",
    "(\\w)(\\w)?$",
    "[]a]",
    "[\\]-]+",
]


def regex_node(method: str, pattern: str, *extra: Expr) -> MethodCall:
    text = pql("person.name.firstName")
    literal = Literal(pattern, LiteralKind.STRING, type=STRING)
    kind = BOOLEAN if method == "matches" else STRING
    return MethodCall(target=text, method=method, args=(literal, *extra), type=kind)


def compiled_value(node: Expr) -> str:
    """``node`` as a SQL value (not coerced to a predicate)."""
    events = CorrelatedEventCounts(exp.to_table("events"), DuckDBCompiler)
    return DuckDBCompiler(NOW, events).visit(node).sql(dialect="duckdb")


def duckdb_values(node: MethodCall, texts: Sequence[str | None]) -> list[object]:
    expression = compiled_value(node)
    rows = ", ".join(f"({index}, ?)" for index in range(len(texts)))
    query = (
        f"SELECT {expression} FROM (SELECT i, {{'name': {{'firstName': t}}}} AS person "
        f"FROM (VALUES {rows}) AS v(i, t)) AS p ORDER BY i"
    )
    return [row[0] for row in duckdb.connect().execute(query, list(texts)).fetchall()]


def interpreted_values(node: MethodCall, texts: Sequence[str | None]) -> list[object]:
    return [value(node, {"person": {"name": {"firstName": text}}}, [], NOW) for text in texts]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_matches_agrees_with_the_interpreter(pattern: str) -> None:
    node = regex_node("matches", pattern)
    assert duckdb_values(node, TEXTS) == interpreted_values(node, TEXTS)


def group_nodes(pattern: str) -> list[MethodCall]:
    regex = translate(pattern)
    groups = regex.groups - (regex.end_group is not None)
    numbers = [Literal(group, LiteralKind.INTEGER, type=INTEGER) for group in range(groups + 1)]
    return [regex_node("regexGroup", pattern, number) for number in numbers]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_regex_group_agrees_with_the_interpreter(pattern: str) -> None:
    checked = 0
    for node in group_nodes(pattern):
        try:
            got = duckdb_values(node, TEXTS)
        except PQLUnsupportedError:
            continue
        checked += 1
        assert got == interpreted_values(node, TEXTS), node.args
    assert checked >= 1


# --- values on a lake: calendar, if, date, occurs relative to a value ------------------------

PROFILES: list[Row] = [
    {
        "__profile_id": f"v{index:02}",
        "person": {"birthYear": year, "birthDate": born},
        "loyalty": {"joinDate": joined, "points": points},
        "extSourceSystemAudit": {"lastUpdatedDate": audited},
    }
    for index, (year, born, joined, audited, points) in enumerate(
        [
            (1990, date(1990, 2, 28), datetime(2025, 6, 18, 9), datetime(2025, 6, 18, 10), 3),
            (2024, date(2024, 2, 29), datetime(2025, 6, 18, 10), datetime(2025, 6, 18, 10), 0),
            (2000, date(2025, 6, 18), datetime(2025, 6, 18, 11), datetime(2025, 6, 18, 10), None),
            (None, None, datetime(2025, 6, 17, 23, 59), datetime(2025, 6, 18, 0, 30), 1),
            (1985, date(2025, 6, 19), None, datetime(2025, 6, 19, 15), 7),
            (2025, date(2025, 5, 31), datetime(2025, 4, 30, 12), None, 2),
            (1999, date(2025, 6, 18), datetime(2025, 7, 18, 14, 30), datetime(2025, 6, 18, 15), 5),
            (2001, date(2020, 1, 31), datetime(2020, 2, 29, 0), datetime(2020, 1, 31, 0), 4),
        ]
    )
]
JOINED, BORN, AUDIT = "loyalty.joinDate", "person.birthDate", "extSourceSystemAudit.lastUpdatedDate"
VALUE_EXPRESSIONS: list[str] = [
    f"{JOINED}.getYear() = 2025 and {JOINED}.getMonth() = 6",
    f"{BORN}.getDayOfMonth() = 18",
    f"{BORN}.getYear().isNull()",
    "if(loyalty.points > 2, person.birthYear, 2000) > 1995",
    "if(loyalty.points, 1, 2.5) = 2.5",
    "if(person.birthYear > 2000, true, loyalty.points > 2)",
    f"{BORN} = date(person.birthYear, 2, 29)",
    "date(person.birthYear, 2, 29).isNull()",
    f"{BORN} = date(currentYear(), currentMonth(), 18)",
    *(
        f"{target} occurs {form}"
        for target in (JOINED, BORN)
        for anchor in (AUDIT, BORN, JOINED)
        if anchor != target
        for form in (
            f"before {anchor}",
            f"after {anchor}",
            f"on {anchor}",
            f"{anchor}",
            f"between {anchor} and now",
            f"between yesterday and {anchor}",
            f"< 1 hour before {anchor}",
            f"<= 1 day before {anchor}",
            f">= 0 days before {anchor}",
            f"> 1 month before {anchor}",
            f"<= 1 month after {anchor}",
            f"< 2 hours after {anchor}",
            f">= 1 day after {anchor}",
            f"> 0 days after {anchor}",
            f"= 1 months after {anchor}",
            f"!= 0 days before {anchor}",
            f"= 1 weeks before {anchor}",
        )
    ),
    f"{JOINED} occurs on date(currentYear(), 6, 18)",
    f"{JOINED} occurs between date(person.birthYear, 1, 1) and today",
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return write_lake(tmp_path_factory.mktemp("scalars"), PROFILES, [])


@pytest.fixture(scope="module")
def members(lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    segments = [(f"s{index}", pql(text)) for index, text in enumerate(VALUE_EXPRESSIONS)]
    _, rows = run(lake, segments, Path(tmp_path_factory.mktemp("out")))
    found = qualified_by_segment(rows)
    return {text: found.get(f"s{index}", set()) for index, text in enumerate(VALUE_EXPRESSIONS)}


def test_the_value_table_discriminates(lake: Lake) -> None:
    results = [interpreted_members(lake, pql(text)) for text in VALUE_EXPRESSIONS]
    everyone = {row["__profile_id"] for row in PROFILES}
    assert sum(result not in (set(), everyone) for result in results) >= len(results) * 3 // 4


@pytest.mark.parametrize("text", VALUE_EXPRESSIONS)
def test_duckdb_equals_the_interpreter(lake: Lake, members: dict[str, set[str]], text: str) -> None:
    assert members[text] == interpreted_members(lake, pql(text))
