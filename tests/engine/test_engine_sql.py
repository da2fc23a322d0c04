"""The PQL → sqlglot compiler: the SQL it emits for each rule, and what it rejects up front."""

from __future__ import annotations

import pytest
from engine_testkit import NOW, pql
from sqlglot import exp

from segmint.engine import check_supported, compile_expression
from segmint.engine.sql import Compiler, CorrelatedEventCounts, DuckDBCompiler
from segmint.pql.ast import (
    Chain,
    ChainStep,
    Expr,
    FieldLookup,
    FunctionCall,
    ImplicitScope,
    Literal,
    LiteralKind,
    MethodCall,
    Span,
    TimeRef,
    XEvent,
)
from segmint.pql.errors import PQLUnsupportedError
from segmint.pql.types import STRING, ArrayType, MapType, ObjectType


def sql(text: str) -> str:
    return compile_expression(pql(text), NOW).sql(dialect="duckdb")


class TestEmittedSQL:
    def test_predicates_are_wrapped_to_be_never_null(self) -> None:
        assert sql('homeAddress.city = "Paris"') == (
            'COALESCE("p"."homeAddress"."city" = \'Paris\', FALSE)'
        )
        assert sql('not (homeAddress.city != "Paris")') == (
            'NOT COALESCE("p"."homeAddress"."city" <> \'Paris\', FALSE)'
        )

    def test_division_is_double_and_null_by_zero(self) -> None:
        assert sql("loyalty.points / 2 > 1") == (
            'COALESCE((CAST("p"."loyalty"."points" AS DOUBLE) / '
            "NULLIF(CAST(2 AS DOUBLE), 0)) > 1, FALSE)"
        )
        assert "NULLIF" in sql("loyalty.points % 2 = 1")

    def test_integer_constants_are_bigint_in_arithmetic(self) -> None:
        assert "CAST(2000000 AS BIGINT) * CAST(2000000 AS BIGINT)" in sql(
            "2000000 * 2000000 = loyalty.points"
        )

    def test_doubles_are_exact_double_literals(self) -> None:
        assert "CAST('0.1' AS DOUBLE)" in sql("loyalty.lifetimePurchases = 0.1")

    def test_case_insensitive_methods_lower_both_sides(self) -> None:
        assert sql('homeAddress.city.startsWith("Pa", false)') == (
            'COALESCE(STARTS_WITH(LOWER("p"."homeAddress"."city"), LOWER(\'Pa\')), FALSE)'
        )
        assert sql('homeAddress.city.doesNotContain("%")') == (
            'COALESCE(NOT CONTAINS("p"."homeAddress"."city", \'%\'), FALSE)'
        )

    def test_like_has_no_escape_character_in_duckdb(self) -> None:
        assert sql('homeAddress.city like "a\\\\%"') == (
            'COALESCE("p"."homeAddress"."city" LIKE \'a\\%\', FALSE)'
        )

    def test_like_gets_an_explicit_escape_in_the_portable_base(self) -> None:
        compiler = Compiler(NOW, CorrelatedEventCounts(exp.to_table("events"), Compiler))
        emitted = compiler.predicate(pql('homeAddress.city like "a\\\\%_"')).sql()
        assert emitted == 'COALESCE("p"."homeAddress"."city" LIKE \'a\\\\%_\' ESCAPE \'\\\', FALSE)'

    def test_truthiness_by_type(self) -> None:
        assert sql("homeAddress") == 'NOT ("p"."homeAddress" IS NULL)'
        assert sql("homeAddress.primary") == 'COALESCE("p"."homeAddress"."primary", FALSE)'
        assert sql("loyalty.loyaltyID") == (
            'COALESCE(ARRAY_LENGTH("p"."loyalty"."loyaltyID") > 0, FALSE)'
        )

    def test_membership(self) -> None:
        assert sql('homeAddress.countryCode in ["US", "FR"]') == (
            'COALESCE("p"."homeAddress"."countryCode" IN (\'US\', \'FR\'), FALSE)'
        )
        assert sql('"L1" notIn loyalty.loyaltyID') == (
            'COALESCE(NOT (ARRAY_CONTAINS("p"."loyalty"."loyaltyID", \'L1\')), FALSE)'
        )

    def test_occurs_becomes_literal_bounds(self) -> None:
        assert sql("loyalty.joinDate occurs <= 7 days before today") == (
            'COALESCE("p"."loyalty"."joinDate" >= CAST(\'2025-06-11 00:00:00.000000\' AS '
            'TIMESTAMP) AND "p"."loyalty"."joinDate" < '
            "CAST('2025-06-18 00:00:00.000000' AS TIMESTAMP), FALSE)"
        )
        assert sql("person.birthDate occurs >= 21 years before today") == (
            'COALESCE("p"."person"."birthDate" <= CAST(\'2004-06-18\' AS DATE), FALSE)'
        )
        assert sql("loyalty.joinDate occurs > 9000 years after now") == "FALSE"

    def test_quotes_in_strings_stay_inside_the_literal(self) -> None:
        emitted = sql('person.name.firstName = "x\'; DROP TABLE profiles; --"')
        assert emitted == (
            'COALESCE("p"."person"."name"."firstName" = \'x\'\'; DROP TABLE profiles; --\', FALSE)'
        )

    def test_calendar_functions_are_constants(self) -> None:
        assert "2025" in sql("person.birthYear = currentYear()")

    def test_events_as_correlated_counts(self) -> None:
        emitted = sql('(select X from xEvent where X.eventType = "a").count() > 1')
        assert emitted == (
            'COALESCE((SELECT COUNT(*) FROM "events" AS "e" WHERE "e"."__profile_id" = '
            '"p"."__profile_id" AND "e"."eventType" = \'a\') > 1, FALSE)'
        )


def at(line: int, column: int) -> Span:
    return Span(0, 3, line, column)


TRUE = Literal(True, LiteralKind.BOOLEAN)
STRING_LITERAL = Literal("x", LiteralKind.STRING)
IDENTITY_MAP = FieldLookup(ImplicitScope(0), "identityMap", type=MapType(ArrayType(STRING)))
PROFILE = ObjectType("profile", {"city": STRING})
UNSUPPORTED: list[tuple[Expr, str]] = [
    (
        Chain(XEvent(), "receivedAt", (ChainStep("A", TRUE),), span=at(3, 7)),
        "chain ordered by 'receivedAt'",
    ),
    (MethodCall(IDENTITY_MAP, "count", span=at(3, 7)), "count\\(\\) of a map"),
    (
        FunctionCall(
            "inSegment", (FieldLookup(ImplicitScope(0), "id", type=STRING),), span=at(3, 7)
        ),
        "inSegment\\(\\) with an id that is not a string literal",
    ),
    (
        FieldLookup(ImplicitScope(1, type=PROFILE), "city", span=at(3, 7), type=STRING),
        "outer scope",
    ),
]


class TestUnsupported:
    """Anything outside the supported subset raises before a job runs, located at the node."""

    @pytest.mark.parametrize(("node", "message"), UNSUPPORTED, ids=[m for _, m in UNSUPPORTED])
    def test_rejected_with_engine_and_location(self, node: Expr, message: str) -> None:
        with pytest.raises(PQLUnsupportedError, match=message) as caught:
            check_supported(node)
        assert "not supported by the DuckDB engine" in caught.value.message
        assert (caught.value.line, caught.value.column) == (3, 7)

    def test_a_nested_select_compiles_to_the_event_list(self) -> None:
        text = 'select X from xEvent where\n  (select Y from xEvent where Y.eventType = "a")'
        check_supported(pql(text))
        assert "LIST_FILTER" in sql(text)

    def test_every_unhandled_node_class_is_unsupported(self) -> None:
        compiler = DuckDBCompiler(NOW, CorrelatedEventCounts(exp.to_table("events"), Compiler))
        with pytest.raises(PQLUnsupportedError, match="a time reference outside occurs"):
            compiler.visit(TimeRef("now"))

    def test_an_unknown_engine(self) -> None:
        with pytest.raises(PQLUnsupportedError, match="'oracle' is not supported"):
            check_supported(pql("homeAddress"), engine="oracle")

    def test_the_supported_subset_passes(self) -> None:
        check_supported(pql('homeAddress.city.equals("x", false) and xEvent.count() > 1'))
