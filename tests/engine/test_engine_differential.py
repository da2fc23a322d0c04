"""Interpreter == DuckDB on a hand-built lake: nulls, absent structs, empty strings, case
variations, quotes and LIKE wildcards in the data, events on the edges of their windows.

Every expression is evaluated three ways: the interpreter per profile (the oracle), all of them
together in one ``DuckDBRunner.run_membership`` pass, and each alone as a correlated
``compile_expression`` query. The qualified sets must be equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from engine_runs import qualified_by_segment, run
from engine_testkit import NOW, Lake, Row, interpreted_members, pql, write_lake
from sqlglot import exp

from segmint.engine import compile_expression
from segmint.engine.runners.duckdb import read_parquet
from segmint.xdm import PROFILE_ID_COLUMN


def ts(*parts: int) -> datetime:
    return datetime(*parts)  # type: ignore[arg-type]


def identities(*namespaces: str) -> list[tuple[str, list[Row]]]:
    return [(namespace, [{"id": f"{namespace}-id"}]) for namespace in namespaces]


PROFILES: list[Row] = [
    {
        "__profile_id": "p01",
        "homeAddress": {"city": "Paris", "countryCode": "FR", "primary": True},
        "workAddress": {"city": "Paris", "countryCode": "FR"},
        "person": {
            "name": {"firstName": "Alice"},
            "birthYear": 1985,
            "birthDate": date(1985, 6, 18),
            "gender": "female",
        },
        "personalEmail": {"address": "alice@example.com"},
        "loyalty": {
            "tier": "gold",
            "points": 1200,
            "lifetimePurchases": 350.5,
            "joinDate": ts(2025, 6, 18),
            "loyaltyID": ["L1", "L2"],
        },
        "identityMap": identities("ECID", "Email"),
    },
    {
        "__profile_id": "p02",
        "homeAddress": {"city": "paris", "countryCode": "fr", "primary": False},
        "person": {
            "name": {"firstName": "alice"},
            "birthYear": 1990,
            "birthDate": date(2004, 6, 18),
        },
        "personalEmail": {"address": "ALICE@EXAMPLE.COM"},
        "loyalty": {
            "tier": "Gold",
            "points": 0,
            "lifetimePurchases": 0.0,
            "joinDate": ts(2025, 6, 17, 23, 59, 59, 999999),
            "loyaltyID": [],
        },
        "identityMap": identities("ECID"),
    },
    {
        "__profile_id": "p03",
        "person": {"name": None, "birthYear": None},
        "identityMap": identities("Email"),
    },
    {
        "__profile_id": "p04",
        "homeAddress": {"city": "", "countryCode": "US"},
        "person": {"name": {"firstName": ""}, "birthYear": 2000, "birthDate": date(2004, 6, 19)},
        "personalEmail": {"address": "bob@Example.com"},
        "loyalty": {
            "tier": "silver",
            "points": -5,
            "lifetimePurchases": 12.25,
            "joinDate": ts(2025, 5, 18, 14, 30),
            "loyaltyID": ["X", None],
        },
        "identityMap": identities("Phone"),
    },
    {
        "__profile_id": "p05",
        "homeAddress": {"city": "San Jose", "countryCode": "US", "stateProvince": "US-CA"},
        "person": {"name": {"firstName": "Bob"}, "birthYear": 1975},
        "personalEmail": {"address": "bob_smith@test.com"},
        "loyalty": {"tier": "platinum", "points": 500, "joinDate": ts(2025, 6, 11)},
    },
    {
        "__profile_id": "p06",
        "homeAddress": {"city": "New%York", "countryCode": "US"},
        "person": {"name": {"firstName": "O'Brien"}, "birthYear": 1980},
        "personalEmail": {"address": "x%y_z@q.com"},
        "loyalty": {"points": 7, "lifetimePurchases": 3.5, "joinDate": ts(2025, 6, 16)},
        "identityMap": identities("ECID", "Phone"),
    },
    {
        "__profile_id": "p07",
        "homeAddress": {"city": "Zürich", "countryCode": "CH"},
        "person": {"name": {"firstName": "Zoë"}, "birthYear": 1985},
        "loyalty": {
            "tier": "GOLD",
            "points": 1200,
            "lifetimePurchases": 1200.0,
            "joinDate": ts(2024, 6, 18),
        },
        "identityMap": identities("ECID"),
    },
    {"__profile_id": "p08"},
    {
        "__profile_id": "p09",
        "homeAddress": {"city": None, "countryCode": None, "primary": None},
        "person": {},
        "loyalty": {"loyaltyID": []},
    },
    {
        "__profile_id": "p10",
        "homeAddress": {"city": "Paris", "countryCode": "FR"},
        "workAddress": {"city": "Paris", "countryCode": "US"},
        "person": {
            "name": {"firstName": "Paris"},
            "birthYear": 2025,
            "birthDate": date(2025, 6, 18),
        },
        "loyalty": {"points": 1_000_000, "lifetimePurchases": -0.5, "joinDate": ts(2025, 6, 19)},
        "identityMap": identities("ECID", "Email", "Phone"),
    },
    {
        "__profile_id": "p11",
        "homeAddress": {"city": "Rome", "countryCode": "IT"},
        "person": {"birthYear": 1985},
        "personalEmail": {"address": "a.b@c.com"},
        "loyalty": {"points": 3, "lifetimePurchases": 1.5, "joinDate": ts(2025, 6, 1)},
    },
    {
        "__profile_id": "p12",
        "homeAddress": {"city": "Paris", "primary": True},
        "person": {"name": {"firstName": "Ann"}, "birthYear": 1995},
        "loyalty": {"points": 10},
        "identityMap": identities("Email"),
    },
]


def purchase(
    profile: str, when: datetime, price: float | None = None, currency: str = "USD"
) -> Row:
    order = None if price is None else {"priceTotal": price, "currencyCode": currency}
    return {
        "__profile_id": profile,
        "timestamp": when,
        "eventType": "commerce.purchases",
        "commerce": {"order": order},
    }


def page_view(
    profile: str, when: datetime, home: bool | None = None, model: str | None = None
) -> Row:
    return {
        "__profile_id": profile,
        "timestamp": when,
        "eventType": "web.webpagedetails.pageViews",
        "web": {"webPageDetails": {"isHomePage": home}},
        "device": None if model is None else {"model": model},
    }


EVENTS: list[Row] = [
    purchase("p01", ts(2025, 6, 18), 150.0),  # start of today
    purchase("p01", ts(2025, 6, 17, 23, 59, 59, 999999), 99.99, "EUR"),  # end of yesterday
    page_view("p01", NOW, home=True, model="iPhone 15"),  # exactly now
    purchase("p01", ts(2025, 6, 19), 10.0),  # tomorrow
    purchase("p02", ts(2025, 6, 11), 120.0),  # 7 days before today, first instant
    purchase("p02", ts(2025, 6, 10, 23, 59, 59), 5.0),  # just outside
    page_view("p02", ts(2025, 6, 16), home=False, model="iphone"),  # start of this week
    purchase("p04", ts(2025, 5, 18, 14, 30), 101.0),  # exactly one month before now
    purchase("p04", ts(2025, 5, 31, 23, 59, 59, 999999), 100.0),  # end of last month
    {"__profile_id": "p04", "timestamp": ts(2025, 5, 1), "eventType": "commerce.productViews"},
    page_view("p05", ts(2025, 6, 15, 23, 59, 59), model="Pixel"),  # end of last week
    {"__profile_id": "p05", "timestamp": ts(2025, 6, 9), "eventType": "commerce.checkouts"},
    purchase("p06", NOW, 1.0),
    purchase("p06", ts(2025, 6, 18, 14, 29, 59), 2.0),
    purchase("p06", ts(2025, 6, 18, 11), 3.0),  # three clock hours back
    {"__profile_id": "p07", "timestamp": ts(2025, 6, 17, 8), "eventType": "Commerce.Purchases"},
    purchase("p07", ts(2025, 6, 16, 8), 500.0),
    purchase("p07", ts(2025, 6, 17, 9), 0.0),
    purchase("p07", ts(2025, 6, 18, 9)),
    {"__profile_id": "p09", "timestamp": ts(2025, 6, 18, 10), "eventType": None},
    purchase("ghost", ts(2025, 6, 18, 10), 1000.0),  # no such profile
    *(page_view("p12", ts(2025, 6, 16 + day % 3, day), home=day % 2 == 0) for day in range(6)),
]

PURCHASE = 'X.eventType = "commerce.purchases"'
EXPRESSIONS: list[str] = [
    # comparisons, null and case rules
    'homeAddress.city = "Paris"',
    'homeAddress.city != "Paris"',
    'not (homeAddress.city = "Paris")',
    'homeAddress.city = ""',
    'homeAddress.city < "Rome"',
    "homeAddress.city = workAddress.city",
    'homeAddress.countryCode != workAddress.countryCode or homeAddress.countryCode = "CH"',
    'person.name.firstName = "O\'Brien"',
    "person.name.firstName = homeAddress.city",
    # string methods and like
    'homeAddress.city.equals("paris", false)',
    'homeAddress.city.notEqualTo("paris", false)',
    'homeAddress.city.startsWith("Pa")',
    'homeAddress.city.startsWith("pa", false)',
    'homeAddress.city.doesNotStartWith("Pa")',
    'homeAddress.city.endsWith("IS", false)',
    'homeAddress.city.contains("%")',
    'homeAddress.city.doesNotContain("a")',
    'homeAddress.city.doesNotEndWith("is", false)',
    'personalEmail.address.endsWith("example.com", false)',
    'personalEmail.address.contains("_")',
    'homeAddress.city like "P%s"',
    'homeAddress.city like "_aris"',
    'homeAddress.city like "%"',
    'personalEmail.address like "%@%.com"',
    'personalEmail.address like "%\\\\_%"',
    'loyalty.tier.equals("GOLD", false) or loyalty.points >= 1000',
    # truthiness and null observation
    "homeAddress",
    "homeAddress.city",
    "homeAddress.primary",
    "not homeAddress.primary",
    "homeAddress.primary = false",
    "homeAddress.city.isNull()",
    "homeAddress.isNotNull() and homeAddress.city.isNull()",
    "loyalty.loyaltyID",
    "person.name",
    # arithmetic
    "person.birthYear > 1980",
    "person.birthYear + 10 >= 2000",
    "person.birthYear % 5 = 0",
    "loyalty.points % 3 = -2",
    "loyalty.points / 2 > 100",
    "loyalty.points / 0 = 0",
    "(loyalty.points / 0).isNull()",
    "-loyalty.points > 0",
    "loyalty.lifetimePurchases * 2 >= 700.0",
    "loyalty.lifetimePurchases / loyalty.points > 0.25",
    "loyalty.points * loyalty.points > 1000000",
    "loyalty.lifetimePurchases % 1 = 0.5",
    # membership
    "loyalty.points in [0, 500, 1200]",
    "loyalty.points notIn [0, 500]",
    'homeAddress.countryCode in ["US", "FR"]',
    'homeAddress.countryCode notIn ["US"]',
    "homeAddress.countryCode notIn []",
    '"L1" in loyalty.loyaltyID',
    '"L1" notIn loyalty.loyaltyID',
    "person.birthYear in [1985, 1990.0]",
    # calendar functions and dates
    "person.birthYear = currentYear() - 40",
    "person.birthYear = currentYear() and currentMonth() = 6 and currentDayOfMonth() = 18",
    "person.birthDate = date(1985, 6, 18)",
    "person.birthDate occurs >= 21 years before today",
    "person.birthDate occurs today",
    'loyalty.joinDate > "2025-06-01T00:00:00Z"',
    "loyalty.joinDate occurs today",
    "loyalty.joinDate occurs yesterday",
    "loyalty.joinDate occurs <= 1 month before now",
    "loyalty.joinDate occurs before today",
    "loyalty.joinDate occurs after today",
    "loyalty.joinDate occurs this week",
    "loyalty.joinDate occurs last month",
    "loyalty.joinDate occurs between last month and yesterday",
    "loyalty.joinDate occurs = 1 years before today",
    "loyalty.joinDate occurs != 0 days before today",
    "loyalty.joinDate occurs <= 7 days before today",
    # events
    "xEvent",
    "xEvent.count() > 3",
    "not xEvent",
    f"select X from xEvent where {PURCHASE}",
    f"not (select X from xEvent where {PURCHASE})",
    f"(select X from xEvent where {PURCHASE} and X.timestamp occurs <= 7 days before today)"
    ".count() >= 2",
    f"(select X from xEvent where {PURCHASE} and X.timestamp occurs <= 7 days before today)"
    ".count() = 1",
    'select X from xEvent where X.eventType.equals("COMMERCE.PURCHASES", false)',
    "select X from xEvent where X.web.webPageDetails.isHomePage",
    "not (select X from xEvent where X.web.webPageDetails.isHomePage = false)",
    "select X from xEvent where X.timestamp occurs this week",
    "select X from xEvent where X.timestamp occurs last week",
    "select X from xEvent where X.timestamp occurs last month",
    "select X from xEvent where X.timestamp occurs today",
    "select X from xEvent where X.timestamp occurs <= 1 month before now",
    "select X from xEvent where X.timestamp occurs between last month and yesterday",
    "select X from xEvent where X.timestamp occurs = 3 hours before now",
    "select X from xEvent where X.timestamp occurs after now",
    "select X from xEvent where X.timestamp occurs <= 24 hours after now",
    "select X from xEvent where X.timestamp occurs != 0 days before today",
    "select X from xEvent where X.commerce.order.priceTotal > 100 and "
    'X.commerce.order.currencyCode = "USD"',
    "select X from xEvent where X.commerce.order.priceTotal / 0 = 0",
    "select X from xEvent where X.commerce.order.priceTotal.isNull()",
    'select X from xEvent where X.device.model.startsWith("iphone", false)',
    'select X from xEvent where X.eventType notIn ["commerce.purchases"]',
    "(select X from xEvent).count() = xEvent.count()",
    f'homeAddress.countryCode = "FR" and (select X from xEvent where {PURCHASE} '
    "and X.timestamp occurs = 1 days before today)",
    'homeAddress.city = "Paris" or xEvent.count() >= 5',
]

# A few expected member sets, worked out by hand, so the oracle itself is pinned down.
EXPECTED: dict[str, set[str]] = {
    'homeAddress.city = "Paris"': {"p01", "p10", "p12"},
    'homeAddress.city != "Paris"': {"p02", "p04", "p05", "p06", "p07", "p11"},
    'homeAddress.city.equals("paris", false)': {"p01", "p02", "p10", "p12"},
    "homeAddress.city": {"p01", "p02", "p04", "p05", "p06", "p07", "p10", "p11", "p12"},
    "homeAddress.primary": {"p01", "p12"},
    "loyalty.points / 0 = 0": set(),
    "(loyalty.points / 0).isNull()": {f"p{n:02}" for n in range(1, 13)},
    "loyalty.points % 3 = -2": {"p04"},
    "loyalty.loyaltyID": {"p01", "p04"},
    '"L1" notIn loyalty.loyaltyID': {"p02", "p04", "p09"},
    "person.birthDate occurs >= 21 years before today": {"p01", "p02"},
    "loyalty.joinDate occurs <= 1 month before now": {"p01", "p02", "p04", "p05", "p06", "p11"},
    f"(select X from xEvent where {PURCHASE} and X.timestamp occurs <= 7 days before today)"
    ".count() >= 2": {"p07"},
    "select X from xEvent where X.timestamp occurs = 3 hours before now": {"p06"},
    "select X from xEvent where X.timestamp occurs <= 1 month before now": {
        "p01",
        "p02",
        "p04",
        "p05",
        "p06",
        "p07",
        "p09",
        "p12",
    },
    "not xEvent": {"p03", "p08", "p10", "p11"},
}

SEGMENT_IDS = {text: f"seg-{index:03}" for index, text in enumerate(EXPRESSIONS)}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return write_lake(tmp_path_factory.mktemp("differential"), PROFILES, EVENTS)


@pytest.fixture(scope="module")
def one_pass(lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, set[str]]:
    """Every expression as a segment of one run_membership (one pass over the lake)."""
    segments = [(SEGMENT_IDS[text], pql(text)) for text in EXPRESSIONS]
    _, rows = run(lake, segments, tmp_path_factory.mktemp("membership"))
    by_segment = qualified_by_segment(rows)
    return {text: by_segment.get(SEGMENT_IDS[text], set()) for text in EXPRESSIONS}


def correlated_members(lake: Lake, text: str) -> set[str]:
    """The expression alone, as a WHERE clause with correlated event subqueries."""
    condition = compile_expression(pql(text), NOW, events=read_parquet(lake.event_files))
    profiles = exp.Table(
        this=read_parquet(lake.profile_files),
        alias=exp.TableAlias(this=exp.to_identifier("p", quoted=True)),
    )
    query = exp.select(exp.column(PROFILE_ID_COLUMN, table="p", quoted=True)).from_(profiles)
    rows = duckdb.connect().execute(query.where(condition).sql(dialect="duckdb")).fetchall()
    return {row[0] for row in rows}


def test_the_table_is_large_and_discriminating(lake: Lake) -> None:
    assert len(EXPRESSIONS) >= 40 and len(set(EXPRESSIONS)) == len(EXPRESSIONS)
    everyone = {profile[PROFILE_ID_COLUMN] for profile in PROFILES}
    results = [interpreted_members(lake, pql(text)) for text in EXPRESSIONS]
    trivial = [r for r in results if r in (set(), everyone)]
    assert len(trivial) <= len(EXPRESSIONS) // 8


@pytest.mark.parametrize("text", list(EXPECTED))
def test_the_oracle_matches_hand_worked_results(lake: Lake, text: str) -> None:
    assert interpreted_members(lake, pql(text)) == EXPECTED[text]


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_duckdb_one_pass_equals_the_interpreter(
    lake: Lake, one_pass: Mapping[str, set[str]], text: str
) -> None:
    assert one_pass[text] == interpreted_members(lake, pql(text))


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_correlated_expression_equals_the_interpreter(lake: Lake, text: str) -> None:
    assert correlated_members(lake, text) == interpreted_members(lake, pql(text))


def test_profiles_without_events_count_zero(lake: Lake, tmp_path: Path) -> None:
    segments = [("none", pql("xEvent.count() = 0")), ("some", pql("xEvent.count() >= 1"))]
    no_events = Lake(lake.profile_files, [])
    _, rows = run(no_events, segments, tmp_path / "out")
    members = qualified_by_segment(rows)
    assert members["none"] == {profile[PROFILE_ID_COLUMN] for profile in PROFILES}
    assert "some" not in members
