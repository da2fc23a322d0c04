"""Property: for random well-typed expressions over random small lakes, the interpreter and
DuckDB (one run_membership pass per example) qualify exactly the same profiles.

The first property builds syntax trees of the core subset (random fields, literals, and/or/not
nesting, string methods, arithmetic with zero divisors, occurs windows, event counts) typed by
``segmint.pql.check``; its data mixes nulls, absent structs, empty strings, case variations and
timestamps on the edges of the windows. The others draw pql/text (``pql_strategies``) for event
aggregates, quantifiers over events and profile arrays, array functions, let/if, calendar
getters, chains and inSegment between segments of the job, over lakes with tied and null
timestamps, null fields and empty arrays.

Every example runs several segments (each with its and/or/not operands as segments of their own)
in one run_membership pass. ``derandomize`` keeps CI deterministic.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from engine_runs import qualified_by_segment, run
from engine_testkit import NOW, Lake, Row, write_lake
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pql_strategies import (
    ATOMS,
    EVENT_AGGREGATES,
    EVENT_LISTS,
    EVENT_QUANTIFIERS,
    PROFILE_ARRAYS,
    SCALARS,
    Rows,
    Text,
    boolean_parts,
    chains,
    interpreted_segments,
    jobs,
    lakes,
    segment_parts,
    write_rows,
)

from segmint.pql import check
from segmint.pql import format as format_pql
from segmint.pql.ast import (
    Binary,
    Binding,
    Expr,
    FieldLookup,
    FunctionCall,
    ImplicitScope,
    ListLiteral,
    Literal,
    LiteralKind,
    MethodCall,
    Occurs,
    Select,
    TimeRef,
    TimeUnit,
    Unary,
    VarRef,
    XEvent,
)
from segmint.xdm import DEFAULT_SCHEMA, PROFILE_ID_COLUMN

Draw = Callable[[st.SearchStrategy[Any]], Any]

STRING_FIELDS = ["homeAddress.city", "homeAddress.countryCode", "person.name.firstName"]
INT_FIELDS = ["person.birthYear", "loyalty.points"]
DOUBLE_FIELDS = ["loyalty.lifetimePurchases"]
ANY_FIELDS = [
    *STRING_FIELDS,
    *INT_FIELDS,
    *DOUBLE_FIELDS,
    "homeAddress.primary",
    "person.birthDate",
    "loyalty.joinDate",
    "loyalty.loyaltyID",
    "homeAddress",
    "person.name",
]
EVENT_STRING_FIELDS = ["eventType", "commerce.order.currencyCode", "device.model"]

STRINGS = ["", "a", "A", "ab", "Ab", "aB", "b", "a%", "a_b", "x'y", "é", "É", "a\\b"]
PATTERNS = ["%", "_", "a%", "%b", "A_", "a", "%'%", "_%_", "%a%b%", "a\\b", "%é"]
INTS = [-3, -1, 0, 1, 2, 3, 5, 1985]
DOUBLES = [-0.5, 0.0, 0.1, 1.5, 2.5]
UNITS = [TimeUnit.HOUR, TimeUnit.DAY, TimeUnit.WEEK, TimeUnit.MONTH, TimeUnit.YEAR]
STRING_METHODS = ["startsWith", "doesNotStartWith", "endsWith", "doesNotEndWith"]
STRING_METHODS += ["contains", "doesNotContain", "equals", "notEqualTo"]

# Instants around NOW (Wed 2025-06-18 14:30) where windows begin or end.
TODAY = datetime(2025, 6, 18)
INSTANTS = [
    NOW,
    NOW - timedelta(microseconds=1),
    NOW + timedelta(microseconds=1),
    TODAY,
    TODAY - timedelta(microseconds=1),
    TODAY + timedelta(days=1),
    datetime(2025, 6, 16),
    datetime(2025, 6, 15, 23, 59, 59),
    datetime(2025, 6, 1),
    datetime(2025, 5, 31, 23),
    datetime(2025, 5, 18, 14, 30),
    datetime(2025, 6, 11),
    datetime(2025, 6, 18, 11, 15),
    datetime(2024, 6, 18),
    datetime(2026, 1, 1),
]
DAYS = [date(2004, 6, 18), date(2004, 6, 19), TODAY.date(), date(2025, 6, 17), date(1985, 1, 1)]


def lookup(root: Expr, path: str) -> Expr:
    node = root
    for name in path.split("."):
        node = FieldLookup(node, name)
    return node


def profile_field(path: str) -> Expr:
    return lookup(ImplicitScope(0), path)


def string(value: str) -> Literal:
    return Literal(value, LiteralKind.STRING)


def number(value: int | float) -> Literal:
    return Literal(value, LiteralKind.INTEGER if isinstance(value, int) else LiteralKind.DOUBLE)


# --- expressions ---------------------------------------------------------------------------------
# Every atom kind is its own branch of a flat one_of, so each rule is drawn about equally often.


def profile_fields(paths: list[str]) -> st.SearchStrategy[Expr]:
    return st.sampled_from(paths).map(profile_field)


def event_field(path: str) -> Expr:
    return lookup(VarRef("X"), path)


def event_fields(paths: list[str]) -> st.SearchStrategy[Expr]:
    return st.sampled_from(paths).map(event_field)


def strings(values: list[str] = STRINGS) -> st.SearchStrategy[Expr]:
    return st.sampled_from(values).map(string)


def numbers() -> st.SearchStrategy[Expr]:
    return st.sampled_from(INTS + DOUBLES).map(number)


def binary(
    ops: list[str], left: st.SearchStrategy[Expr], right: st.SearchStrategy[Expr]
) -> st.SearchStrategy[Expr]:
    return st.builds(Binary, st.sampled_from(ops), left, right)


def literal_list(values: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.lists(values, max_size=3).map(lambda items: ListLiteral(tuple(items)))


def string_method(
    text: st.SearchStrategy[Expr], flags: list[tuple[bool, ...]]
) -> st.SearchStrategy[Expr]:
    def call(target: Expr, method: str, part: Expr, flag: tuple[bool, ...]) -> Expr:
        return MethodCall(target, method, (part, *(Literal(f, LiteralKind.BOOLEAN) for f in flag)))

    return st.builds(call, text, st.sampled_from(STRING_METHODS), strings(), st.sampled_from(flags))


def string_atoms(text: st.SearchStrategy[Expr]) -> list[st.SearchStrategy[Expr]]:
    return [
        binary(["=", "!=", "<", ">="], text, strings()),
        string_method(text, [(), (True,)]),
        string_method(text, [(False,)]),
        binary(["like"], text, strings(PATTERNS)),
        binary(["in", "notIn"], text, literal_list(strings())),
    ]


def numeric(depth: int = 2) -> st.SearchStrategy[Expr]:
    leaves = st.one_of(
        profile_fields(INT_FIELDS + DOUBLE_FIELDS),
        numbers(),
        st.sampled_from(["currentYear", "currentMonth", "currentDayOfMonth"]).map(FunctionCall),
    )
    if depth == 0:
        return leaves
    inner = numeric(depth - 1)
    return st.one_of(
        leaves,
        binary(["+", "-", "*", "/", "%"], inner, inner),
        inner.map(lambda operand: Unary("-", operand)),
    )


@st.composite
def time_ref(draw: Draw) -> Expr:
    kind = draw(st.sampled_from(["now", "today", "yesterday", "tomorrow", "this", "last", "next"]))
    if kind in ("this", "last", "next"):
        return TimeRef(kind, draw(st.sampled_from(UNITS)))
    if draw(st.integers(0, 5)) == 0:
        return Literal(draw(st.sampled_from(DAYS)), LiteralKind.DATE)
    return TimeRef(kind)


@st.composite
def occurs(draw: Draw, target: Expr) -> Expr:
    form = draw(st.sampled_from(["on", "direction", "between", "relative"]))
    anchor = draw(time_ref())
    if form == "on":
        return Occurs(target, "on", anchor)
    if form == "between":
        return Occurs(target, "between", anchor, anchor2=draw(time_ref()))
    direction = draw(st.sampled_from(["before", "after"]))
    if form == "direction":
        return Occurs(target, "direction", anchor, direction=direction)
    comparator = draw(st.sampled_from(["<", "<=", ">", ">=", "=", "!="]))
    amount, unit = draw(st.integers(0, 3)), draw(st.sampled_from(UNITS))
    return Occurs(target, "relative", anchor, comparator, amount, unit, direction)


PROFILE_STRINGS = profile_fields(STRING_FIELDS)
LOYALTY_IDS = profile_field("loyalty.loyaltyID")
PROFILE_ATOMS = st.one_of(
    *string_atoms(PROFILE_STRINGS),
    binary(["=", "!=", "<"], PROFILE_STRINGS, PROFILE_STRINGS),
    binary(["=", "!=", "<", "<=", ">", ">="], numeric(), numeric()),
    binary(["in", "notIn"], profile_fields(INT_FIELDS + DOUBLE_FIELDS), literal_list(numbers())),
    binary(
        ["in", "notIn"], strings(["L1", "L2", "", "x"]), st.just(profile_field("loyalty.loyaltyID"))
    ),
    st.builds(MethodCall, profile_fields(ANY_FIELDS), st.sampled_from(["isNull", "isNotNull"])),
    profile_fields(ANY_FIELDS),  # a value in boolean position
    profile_fields(["loyalty.joinDate", "person.birthDate"]).flatmap(occurs),
    binary(
        ["=", "!=", "<", ">="],
        st.just(profile_field("person.birthDate")),
        st.sampled_from(DAYS).map(lambda day: Literal(day, LiteralKind.DATE)),
    ),
    binary(
        ["=", "!="],
        st.just(profile_field("homeAddress.primary")),
        st.booleans().map(lambda flag: Literal(flag, LiteralKind.BOOLEAN)),
    ),
)

PRICE = event_field("commerce.order.priceTotal")
EVENT_ATOMS = st.one_of(
    *string_atoms(event_fields(EVENT_STRING_FIELDS)),
    binary(
        ["=", "!=", "<", ">="],
        st.sampled_from([PRICE, Binary("/", PRICE, number(0)), Binary("*", PRICE, number(2))]),
        st.sampled_from([*DOUBLES, 100.0]).map(number),
    ),
    st.just(event_field("web.webPageDetails.isHomePage")),
    st.sampled_from(["isNull", "isNotNull"]).map(
        lambda method: MethodCall(event_field("commerce.order"), method)
    ),
    occurs(event_field("timestamp")),
)


def combine(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        binary(["and", "or"], children, children),
        children.map(lambda operand: Unary("not", operand)),
    )


def selects(conditions: st.SearchStrategy[Expr]) -> st.SearchStrategy[Select]:
    return st.one_of(st.none(), conditions).map(lambda c: Select((Binding("X", XEvent(), c),)))


EVENT_CONDITIONS = st.recursive(EVENT_ATOMS, combine, max_leaves=3)
COUNTS = st.one_of(selects(EVENT_CONDITIONS), st.just(XEvent())).map(
    lambda events: MethodCall(events, "count")
)
EVENT_PREDICATES = st.one_of(
    selects(EVENT_CONDITIONS),
    binary(["=", ">", ">=", "<"], COUNTS, st.integers(0, 3).map(number)),
    st.just(XEvent()),
)
CONDITIONS = st.recursive(st.one_of(PROFILE_ATOMS, EVENT_PREDICATES), combine, max_leaves=4)


# --- data ----------------------------------------------------------------------------------------


def maybe(values: list[Any]) -> st.SearchStrategy[Any]:
    """One of ``values``, or null about one time in five."""
    return st.sampled_from([None, *values] if len(values) >= 4 else [None, *values, *values])


def struct(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Row | None]:
    """An object, absent about one time in five."""
    return st.integers(0, 4).flatmap(
        lambda k: st.none() if k == 0 else st.fixed_dictionaries(fields)
    )


@st.composite
def profile_row(draw: Draw, index: int) -> Row:
    return {
        PROFILE_ID_COLUMN: f"p{index}",
        "homeAddress": draw(
            struct(
                city=maybe(STRINGS),
                countryCode=maybe(["a", "A", "b", "", "é"]),
                primary=maybe([True, False]),
            )
        ),
        "person": draw(
            struct(
                name=struct(firstName=maybe(STRINGS)),
                birthYear=maybe(INTS),
                birthDate=maybe(DAYS),
            )
        ),
        "loyalty": draw(
            struct(
                points=maybe(INTS),
                lifetimePurchases=maybe(DOUBLES),
                joinDate=maybe(INSTANTS),
                loyaltyID=maybe([[], ["L1"], ["L1", "L2"], ["x", None]]),
            )
        ),
    }


@st.composite
def event_row(draw: Draw, profile_id: str) -> Row:
    return {
        PROFILE_ID_COLUMN: profile_id,
        "timestamp": draw(st.sampled_from(INSTANTS)),
        "eventType": draw(maybe(["purchase", "Purchase", "view", "", "a"])),
        "commerce": draw(
            struct(order=struct(priceTotal=maybe([*DOUBLES, 100.0]), currencyCode=maybe(STRINGS)))
        ),
        "web": draw(struct(webPageDetails=struct(isHomePage=maybe([True, False])))),
        "device": draw(struct(model=maybe(STRINGS))),
    }


@st.composite
def core_lakes(draw: Draw) -> tuple[list[Row], list[Row]]:
    profiles = [draw(profile_row(i)) for i in range(draw(st.integers(2, 8)))]
    events = [
        draw(event_row(profile[PROFILE_ID_COLUMN]))
        for profile in profiles
        for _ in range(draw(st.integers(0, 4)))
    ]
    return profiles, events


SETTINGS = settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_same_members(directory: Path, lake: Lake, segments: list[tuple[str, Expr]]) -> None:
    _, rows = run(lake, segments, directory / "out")
    by_duckdb = qualified_by_segment(rows)
    expected = interpreted_segments(lake, segments)
    for segment_id, expression in segments:
        got = by_duckdb.get(segment_id, set())
        assert got == expected[segment_id], (
            f"{segment_id}: {format_pql(expression)}\n"
            f"duckdb only {sorted(got - expected[segment_id])}, "
            f"interpreter only {sorted(expected[segment_id] - got)}"
        )


@SETTINGS
@given(conditions=st.lists(CONDITIONS, min_size=3, max_size=8), data=core_lakes())
def test_interpreter_equals_duckdb(
    conditions: list[Expr], data: tuple[list[Row], list[Row]]
) -> None:
    checked = [check(condition, DEFAULT_SCHEMA) for condition in conditions]
    parts = list(dict.fromkeys(part for c in checked for part in boolean_parts(c)))
    segments = [(f"s{i}", part) for i, part in enumerate(parts)]
    with tempfile.TemporaryDirectory() as directory:
        lake = write_lake(Path(directory) / "lake", *data)
        assert_same_members(Path(directory), lake, segments)


def check_job(texts: list[str], data: Rows) -> None:
    segments = segment_parts(texts)
    with tempfile.TemporaryDirectory() as directory:
        lake = write_rows(Path(directory) / "lake", data)
        assert_same_members(Path(directory), lake, segments)


EVENTS: Text = st.one_of(EVENT_AGGREGATES, EVENT_QUANTIFIERS, EVENT_LISTS)


@SETTINGS
@given(texts=jobs(EVENTS), data=lakes())
def test_event_aggregates_quantifiers_and_lists(texts: list[str], data: Rows) -> None:
    check_job(texts, data)


@SETTINGS
@given(texts=jobs(st.one_of(PROFILE_ARRAYS, SCALARS)), data=lakes())
def test_profile_arrays_let_if_and_dates(texts: list[str], data: Rows) -> None:
    check_job(texts, data)


@settings(SETTINGS, max_examples=40)
@given(texts=jobs(chains(), size=(2, 3)), data=lakes(max_events=6))
def test_chains(texts: list[str], data: Rows) -> None:
    check_job(texts, data)


@settings(SETTINGS, max_examples=40)
@given(texts=jobs(ATOMS), data=lakes())
def test_mixed_jobs_with_in_segment(texts: list[str], data: Rows) -> None:
    check_job(texts, data)


@pytest.mark.parametrize(
    "text",
    [
        "exists X from xEvent, Y from xEvent where Y.timestamp occurs < 2 days after X.timestamp",
        'chain(xEvent, timestamp, [A: WHAT(eventType = "buy"), '
        "B: WHAT(timestamp occurs <= 1 hours after A.timestamp)])",
        "xEvent.max(timestamp).getMonth() > 6",
    ],
)
def test_lake_without_an_event_file_and_typed_event_values(text: str) -> None:
    check_job([text], Rows([{PROFILE_ID_COLUMN: "p0"}], []))
