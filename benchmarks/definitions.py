"""The benchmark's 100 segment definitions, each in PQL and as hand-written DuckDB SQL.

The definitions read what ``segmint generate`` writes (``src/segmint/profiles/generate.py``):
40 profile-attribute conditions, 40 experience-event conditions (counts, sums, averages,
extremes and existence in time windows), 10 sequences (``chain``) and 10 segments of segments
(``inSegment``). ``inSegment("{key}")`` names another benchmark definition by its key; the
benchmark replaces it with that definition's id.

The SQL is the baseline a data engineer would write by hand for the same 100 definitions: one
``GROUP BY __profile_id`` pass over the events computing every aggregate with
``FILTER (WHERE …)`` (:data:`EVENT_AGGREGATES`), one extra pass over the events only for the
three-step sequences (:data:`MIDDLE_STEPS`), then each definition as a boolean over the profile
row and those aggregates. A two-step sequence holds exactly when the first step's earliest
event comes before the second step's latest one; ``COUNT(n)`` takes the n-th earliest event.
A segment of segments is a boolean over the segments it names. ``:now`` and ``:today`` stand
for the job's evaluation time and the start of its UTC day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

ATTRIBUTE, EVENT, SEQUENCE, SEGMENTS = "attribute", "event", "sequence", "segments"
KINDS = (ATTRIBUTE, EVENT, SEQUENCE, SEGMENTS)

_REFERENCE = re.compile(r'inSegment\("\{(\w+)\}"\)')
_COLUMN = re.compile(r"\b(ev|mid)\.(\w+)")


@dataclass(frozen=True)
class BenchDefinition:
    key: str
    kind: str
    name: str
    pql: str  # inSegment("{key}") names another definition
    sql: str  # a boolean over p (profile), ev/mid (aggregates) and other keys (segments)

    def references(self) -> tuple[str, ...]:
        """Keys of the definitions this one reads through ``inSegment``."""
        return tuple(_REFERENCE.findall(self.pql))

    def pql_with_ids(self, ids: Mapping[str, str]) -> str:
        """The PQL with each ``inSegment("{key}")`` naming the definition's id."""
        return _REFERENCE.sub(lambda m: f'inSegment("{ids[m.group(1)]}")', self.pql)


# --- SQL helpers: time windows exactly as PQL's occurs (segmint.engine.timewindows) -------------


def within(days: int) -> str:
    """``timestamp occurs <= N days before now``: [now - N days, now)."""
    return f'"timestamp" >= :now - INTERVAL {days} DAY AND "timestamp" < :now'


def inside(days: int) -> str:
    """``timestamp occurs < N days before now``: (now - N days, now)."""
    return f'"timestamp" > :now - INTERVAL {days} DAY AND "timestamp" < :now'


def of(event_type: str) -> str:
    return f"eventType = '{event_type}'"


PURCHASE = of("commerce.purchases")
CHECKOUT = of("commerce.checkouts")
PRODUCT_VIEW = of("commerce.productViews")
LIST_ADD = of("commerce.productListAdds")
LIST_REMOVE = of("commerce.productListRemovals")
PAGE_VIEW = of("web.webpagedetails.pageViews")
LINK_CLICK = of("web.webinteraction.linkClicks")
APP_LAUNCH = of("application.launch")
EMAIL_OPEN = of("directMarketing.emailOpened")
EMAIL_CLICK = of("directMarketing.emailClicked")
PRICE = 'commerce."order"."priceTotal"'
CURRENCY = 'commerce."order"."currencyCode"'

# --- the event aggregates of the hand-written query (name → aggregate) --------------------------

EVENT_AGGREGATES: dict[str, str] = {
    "events": "count(*)",
    "events_7d": f"count(*) FILTER (WHERE {within(7)})",
    "events_90d": f"count(*) FILTER (WHERE {within(90)})",
    "buys_30d": f"count(*) FILTER (WHERE {PURCHASE} AND {within(30)})",
    "buys_365d": f"count(*) FILTER (WHERE {PURCHASE} AND {within(365)})",
    "buys_7d": f"count(*) FILTER (WHERE {PURCHASE} AND {within(7)})",
    "buys": f"count(*) FILTER (WHERE {PURCHASE})",
    "buys_older_180d": f"""count(*) FILTER (WHERE {PURCHASE}
        AND "timestamp" < :now - INTERVAL 180 DAY)""",
    "buys_180d": f"count(*) FILTER (WHERE {PURCHASE} AND {within(180)})",
    "buys_last_month": f"""count(*) FILTER (WHERE {PURCHASE}
        AND "timestamp" >= date_trunc('month', :now) - INTERVAL 1 MONTH
        AND "timestamp" < date_trunc('month', :now))""",
    "buys_december": f"""count(*) FILTER (WHERE {PURCHASE} AND month("timestamp") = 12)""",
    "views_7d": f"count(*) FILTER (WHERE {PAGE_VIEW} AND {within(7)})",
    "views_30d": f"count(*) FILTER (WHERE {PAGE_VIEW} AND {within(30)})",
    "product_views_14d": f"count(*) FILTER (WHERE {PRODUCT_VIEW} AND {inside(14)})",
    "product_views_30d": f"count(*) FILTER (WHERE {PRODUCT_VIEW} AND {within(30)})",
    "adds_7d": f"count(*) FILTER (WHERE {LIST_ADD} AND {within(7)})",
    "checkouts_3d": f"count(*) FILTER (WHERE {CHECKOUT} AND {inside(3)})",
    "checkouts_30d": f"count(*) FILTER (WHERE {CHECKOUT} AND {within(30)})",
    "checkouts_between": f"""count(*) FILTER (WHERE {CHECKOUT}
        AND "timestamp" >= date_trunc('month', :now) - INTERVAL 1 MONTH
        AND "timestamp" < date_trunc('month', :now) + INTERVAL 1 MONTH)""",
    "email_opens_30d": f"count(*) FILTER (WHERE {EMAIL_OPEN} AND {within(30)})",
    "email_clicks_90d": f"count(*) FILTER (WHERE {EMAIL_CLICK} AND {within(90)})",
    "email_clicks_30d": f"count(*) FILTER (WHERE {EMAIL_CLICK} AND {within(30)})",
    "launches_30d": f"count(*) FILTER (WHERE {APP_LAUNCH} AND {within(30)})",
    "exit_clicks": f"""count(*) FILTER (WHERE {LINK_CLICK}
        AND web.webInteraction."type" = 'exit')""",
    "size_guide": """count(*) FILTER (WHERE web.webInteraction."name" = 'Size guide PDF')""",
    "home_today": """count(*) FILTER (WHERE web.webPageDetails.isHomePage
        AND "timestamp" >= :today AND "timestamp" < :today + INTERVAL 1 DAY)""",
    "sale_views_14d": f"""count(*) FILTER (WHERE web.webPageDetails.siteSection = 'promotions'
        AND {within(14)})""",
    "social_30d": f"""count(*) FILTER (WHERE web.webReferrer."type" = 'social' AND {within(30)})""",
    "iphone": "count(*) FILTER (WHERE starts_with(device.model, 'iPhone'))",
    "mobile_product_views_30d": f"""count(*) FILTER (WHERE {PRODUCT_VIEW}
        AND device."type" = 'mobile' AND {within(30)})""",
    "safari_desktop": """count(*) FILTER (WHERE environment.browserDetails."name" = 'Safari'
        AND device."type" = 'desktop')""",
    "search_7d": f"""count(*) FILTER (WHERE web.webPageDetails.siteSection = 'search'
        AND {within(7)})""",
    "jpy_orders": f"count(*) FILTER (WHERE {CURRENCY} = 'JPY')",
    "earbuds_bought": f"""count(*) FILTER (WHERE {PURCHASE}
        AND list_contains(list_transform(productListItems, lambda i: i.SKU), 'SKU-100011'))""",
    "headphones_viewed_30d": f"""count(*) FILTER (WHERE {PRODUCT_VIEW} AND {within(30)}
        AND len(list_filter(productListItems,
                            lambda i: contains(i."name", 'Headphones'))) > 0)""",
    "usd_spend_365d": f"""sum({PRICE}) FILTER (WHERE {PURCHASE} AND {CURRENCY} = 'USD'
        AND {within(365)})""",
    "eur_spend_180d": f"""sum({PRICE}) FILTER (WHERE {PURCHASE} AND {CURRENCY} = 'EUR'
        AND {within(180)})""",
    "usd_spend_90d": f"""sum({PRICE}) FILTER (WHERE {PURCHASE} AND {CURRENCY} = 'USD'
        AND {within(90)})""",
    "usd_average": f"avg({PRICE}) FILTER (WHERE {PURCHASE} AND {CURRENCY} = 'USD')",
    "usd_max_365d": f"""max({PRICE}) FILTER (WHERE {PURCHASE} AND {CURRENCY} = 'USD'
        AND {within(365)})""",
    "usd_min": f"min({PRICE}) FILTER (WHERE {PURCHASE} AND {CURRENCY} = 'USD')",
    "page_view_measure_30d": f"""sum(web.webPageDetails.pageViews.value)
        FILTER (WHERE {within(30)})""",
    # sequences: first step's earliest event, last step's latest event
    "s01_view": f'min("timestamp") FILTER (WHERE {PRODUCT_VIEW} AND {within(30)})',
    "s01_buy": f'max("timestamp") FILTER (WHERE {PURCHASE} AND {within(30)})',
    "s02_add": f'min("timestamp") FILTER (WHERE {LIST_ADD} AND {within(7)})',
    "s02_checkout": f'max("timestamp") FILTER (WHERE {CHECKOUT} AND {within(7)})',
    "s03_click": f'min("timestamp") FILTER (WHERE {EMAIL_CLICK} AND {within(14)})',
    "s03_buy": f'max("timestamp") FILTER (WHERE {PURCHASE} AND {within(14)})',
    "s04_search": """min("timestamp") FILTER (WHERE web.webPageDetails.siteSection = 'search'
        AND "timestamp" >= :now - INTERVAL 24 HOUR AND "timestamp" < :now)""",
    "s04_view": f"""max("timestamp") FILTER (WHERE {PRODUCT_VIEW}
        AND "timestamp" >= :now - INTERVAL 24 HOUR AND "timestamp" < :now)""",
    "s05_add": f'min("timestamp") FILTER (WHERE {LIST_ADD} AND {within(30)})',
    "s05_remove": f'max("timestamp") FILTER (WHERE {LIST_REMOVE} AND {within(30)})',
    "s06_launch": f'min("timestamp") FILTER (WHERE {APP_LAUNCH} AND {within(90)})',
    "s06_buy": f'max("timestamp") FILTER (WHERE {PURCHASE} AND {within(90)})',
    "s07_view": f'min("timestamp") FILTER (WHERE {PRODUCT_VIEW} AND {within(90)})',
    "s07_buy": f'max("timestamp") FILTER (WHERE {PURCHASE} AND {within(90)})',
    "s08_open": f'min("timestamp") FILTER (WHERE {EMAIL_OPEN} AND {within(60)})',
    "s08_checkout": f'max("timestamp") FILTER (WHERE {CHECKOUT} AND {within(60)})',
    "s09_home_3rd": f"""(min("timestamp", 3) FILTER (WHERE web.webPageDetails.isHomePage
        AND {within(30)}))[3]""",
    "s09_checkout": f'max("timestamp") FILTER (WHERE {CHECKOUT} AND {within(30)})',
    "s10_buy": f'min("timestamp") FILTER (WHERE {PURCHASE})',
    "s10_support": f"""max("timestamp") FILTER (WHERE web.webPageDetails.siteSection = 'support'
        AND {within(14)})""",
}

# The middle step of the three-step sequences: a second pass over the events, joined to the
# first and last steps' bounds (name → (condition, first-step column, last-step column)).
MIDDLE_STEPS: dict[str, tuple[str, str, str]] = {
    "s07_add": (f"{LIST_ADD} AND {within(90)}", "s07_view", "s07_buy"),
    "s08_click": (f"{EMAIL_CLICK} AND {within(60)}", "s08_open", "s08_checkout"),
}


def _days(n: int) -> str:
    return f"X.timestamp occurs <= {n} days before now"


def _select(condition: str) -> str:
    return f"select X from xEvent where {condition}"


def _count(condition: str) -> str:
    return f"({_select(condition)}).count()"


def _chain(*steps: str) -> str:
    return f"chain(xEvent, timestamp, [{', '.join(steps)}])"


PURCHASED = 'X.eventType = "commerce.purchases"'
ADDED = 'X.eventType = "commerce.productListAdds"'
EMAIL_CLICKED = 'X.eventType = "directMarketing.emailClicked"'


def _d(key: str, kind: str, name: str, pql: str, sql: str) -> BenchDefinition:
    return BenchDefinition(key, kind, name, " ".join(pql.split()), sql)


_A, _E, _S, _G = ATTRIBUTE, EVENT, SEQUENCE, SEGMENTS

DEFINITIONS: tuple[BenchDefinition, ...] = (
    # --- 40 profile-attribute conditions -----------------------------------------------------
    _d(
        "a01",
        _A,
        "US residents",
        'homeAddress.countryCode = "US"',
        "p.homeAddress.countryCode = 'US'",
    ),
    _d(
        "a02",
        _A,
        "North America",
        'homeAddress.countryCode in ["US", "CA", "MX"]',
        "p.homeAddress.countryCode IN ('US', 'CA', 'MX')",
    ),
    _d(
        "a03",
        _A,
        "Western Europe",
        'homeAddress.countryCode in ["GB", "DE", "FR"]',
        "p.homeAddress.countryCode IN ('GB', 'DE', 'FR')",
    ),
    _d(
        "a04",
        _A,
        "Gold and platinum members",
        'loyalty.tier in ["gold", "platinum"]',
        "p.loyalty.tier IN ('gold', 'platinum')",
    ),
    _d(
        "a05",
        _A,
        "Active loyalty members",
        'loyalty.status = "active"',
        "p.loyalty.status = 'active'",
    ),
    _d(
        "a06",
        _A,
        "5k to 20k points",
        "loyalty.points >= 5000 and loyalty.points < 20000",
        "p.loyalty.points >= 5000 AND p.loyalty.points < 20000",
    ),
    _d(
        "a07",
        _A,
        "Close to the next tier",
        "loyalty.pointsToNextTier < 500",
        "p.loyalty.pointsToNextTier < 500",
    ),
    _d(
        "a08",
        _A,
        "Heavy redeemers",
        "loyalty.pointsRedeemed * 3 > loyalty.lifetimePoints",
        "p.loyalty.pointsRedeemed * 3 > p.loyalty.lifetimePoints",
    ),
    _d("a09", _A, "Women", 'person.gender = "female"', "p.person.gender = 'female'"),
    _d(
        "a10",
        _A,
        "Gender not given",
        'person.gender in ["not_specified", "non_specific"]',
        "p.person.gender IN ('not_specified', 'non_specific')",
    ),
    _d(
        "a11",
        _A,
        "Married",
        'person.maritalStatus = "married"',
        "p.person.maritalStatus = 'married'",
    ),
    _d(
        "a12",
        _A,
        "Seniors",
        "person.birthDate occurs >= 65 years before today",
        "p.person.birthDate <= CAST(:today - INTERVAL 65 YEAR AS DATE)",
    ),
    _d(
        "a13",
        _A,
        "Under 25",
        "person.birthDate occurs < 25 years before today",
        "p.person.birthDate > CAST(:today - INTERVAL 25 YEAR AS DATE) "
        "AND p.person.birthDate < CAST(:today AS DATE)",
    ),
    _d(
        "a14",
        _A,
        "Millennials",
        "person.birthYear >= 1981 and person.birthYear <= 1996",
        "p.person.birthYear BETWEEN 1981 AND 1996",
    ),
    _d(
        "a15",
        _A,
        "Birthday this month",
        "person.birthDate.getMonth() = currentMonth()",
        "month(p.person.birthDate) = month(:now)",
    ),
    _d(
        "a16",
        _A,
        "Gmail users",
        'personalEmail.address.endsWith("@gmail.com", false)',
        "ends_with(lower(p.personalEmail.address), '@gmail.com')",
    ),
    _d(
        "a17",
        _A,
        "Yahoo or AOL users",
        'personalEmail.address like "%@yahoo.com" or personalEmail.address like "%@aol.com"',
        "p.personalEmail.address LIKE '%@yahoo.com' OR p.personalEmail.address LIKE '%@aol.com'",
    ),
    _d(
        "a18",
        _A,
        "Smiths",
        'personalEmail.address.contains("smith")',
        "contains(p.personalEmail.address, 'smith')",
    ),
    _d(
        "a19",
        _A,
        "No email address",
        "personalEmail.address.isNull()",
        "p.personalEmail.address IS NULL",
    ),
    _d(
        "a20",
        _A,
        "North American mobile numbers",
        'mobilePhone.number.startsWith("+1")',
        "starts_with(p.mobilePhone.number, '+1')",
    ),
    _d("a21", _A, "Has a work address", "workAddress", "p.workAddress IS NOT NULL"),
    _d(
        "a22",
        _A,
        "Commuters",
        "workAddress.city != homeAddress.city",
        "p.workAddress.city <> p.homeAddress.city",
    ),
    _d(
        "a23",
        _A,
        "Californians",
        'homeAddress.stateProvince = "US-CA"',
        "p.homeAddress.stateProvince = 'US-CA'",
    ),
    _d(
        "a24",
        _A,
        "Texas metros",
        'homeAddress.city in ["Houston", "Dallas", "Austin", "San Antonio"]',
        "p.homeAddress.city IN ('Houston', 'Dallas', 'Austin', 'San Antonio')",
    ),
    _d(
        "a25",
        _A,
        "Central London",
        'homeAddress.postalCode.startsWith("EC1")',
        "starts_with(p.homeAddress.postalCode, 'EC1')",
    ),
    _d(
        "a26",
        _A,
        "First name starts with J",
        'person.name.firstName.startsWith("j", false)',
        "starts_with(lower(p.person.name.firstName), 'j')",
    ),
    _d(
        "a27",
        _A,
        "Mc and Mac surnames",
        'person.name.lastName.matches("^(Mc|Mac)[A-Z]")',
        "regexp_matches(p.person.name.lastName, '^(Mc|Mac)[A-Z]')",
    ),
    _d(
        "a28",
        _A,
        "New profiles",
        "extSourceSystemAudit.createdDate occurs <= 90 days before now",
        "p.extSourceSystemAudit.createdDate >= :now - INTERVAL 90 DAY "
        "AND p.extSourceSystemAudit.createdDate < :now",
    ),
    _d(
        "a29",
        _A,
        "Stale profiles",
        "extSourceSystemAudit.lastUpdatedDate occurs > 1 year before now",
        "p.extSourceSystemAudit.lastUpdatedDate < :now - INTERVAL 1 YEAR",
    ),
    _d(
        "a30",
        _A,
        "Active in the last two weeks",
        "extSourceSystemAudit.lastActivityDate occurs <= 14 days before now",
        "p.extSourceSystemAudit.lastActivityDate >= :now - INTERVAL 14 DAY "
        "AND p.extSourceSystemAudit.lastActivityDate < :now",
    ),
    _d(
        "a31",
        _A,
        "Inactive for six months",
        "extSourceSystemAudit.lastActivityDate occurs > 180 days before now",
        "p.extSourceSystemAudit.lastActivityDate < :now - INTERVAL 180 DAY",
    ),
    _d(
        "a32",
        _A,
        "Joined the program this year",
        "loyalty.joinDate occurs this year",
        "p.loyalty.joinDate >= date_trunc('year', :now) "
        "AND p.loyalty.joinDate < date_trunc('year', :now) + INTERVAL 1 YEAR",
    ),
    _d(
        "a33",
        _A,
        "Joined last month",
        "loyalty.joinDate occurs last month",
        "p.loyalty.joinDate >= date_trunc('month', :now) - INTERVAL 1 MONTH "
        "AND p.loyalty.joinDate < date_trunc('month', :now)",
    ),
    _d(
        "a34",
        _A,
        "Members for five years",
        "loyalty.joinDate occurs >= 5 years before today",
        "p.loyalty.joinDate <= :today - INTERVAL 5 YEAR",
    ),
    _d(
        "a35",
        _A,
        "UK with a primary email",
        'personalEmail.primary = true and homeAddress.countryCode = "GB"',
        "p.personalEmail.primary AND p.homeAddress.countryCode = 'GB'",
    ),
    _d(
        "a36",
        _A,
        "US gold women outside California",
        'homeAddress.countryCode = "US" and person.gender = "female" and loyalty.tier = "gold" '
        'and homeAddress.stateProvince != "US-CA"',
        "p.homeAddress.countryCode = 'US' AND p.person.gender = 'female' "
        "AND p.loyalty.tier = 'gold' AND p.homeAddress.stateProvince <> 'US-CA'",
    ),
    _d(
        "a37",
        _A,
        "Non-members or bronze",
        'loyalty.tier.isNull() or loyalty.tier = "bronze"',
        "p.loyalty.tier IS NULL OR p.loyalty.tier = 'bronze'",
    ),
    _d(
        "a38",
        _A,
        "Outside the US and Canada",
        'not (homeAddress.countryCode in ["US", "CA"])',
        "(p.homeAddress.countryCode IN ('US', 'CA')) IS NOT TRUE",
    ),
    _d(
        "a39",
        _A,
        "Affluent",
        '(loyalty.tier = "platinum" or loyalty.lifetimePoints > 50000) '
        'and homeAddress.countryCode notIn ["IN", "BR", "MX"]',
        "(p.loyalty.tier = 'platinum' OR p.loyalty.lifetimePoints > 50000) "
        "AND p.homeAddress.countryCode NOT IN ('IN', 'BR', 'MX')",
    ),
    _d("a40", _A, "San cities", 'homeAddress.city like "San %"', "p.homeAddress.city LIKE 'San %'"),
    # --- 40 experience-event conditions ------------------------------------------------------
    _d(
        "e01",
        _E,
        "Purchased in the last 30 days",
        _select(f'X.eventType = "commerce.purchases" and {_days(30)}'),
        "ev.buys_30d > 0",
    ),
    _d(
        "e02",
        _E,
        "Three purchases in a year",
        _count(f'X.eventType = "commerce.purchases" and {_days(365)}') + " >= 3",
        "ev.buys_365d >= 3",
    ),
    _d(
        "e03",
        _E,
        "Frequent visitors",
        _count(f'X.eventType = "web.webpagedetails.pageViews" and {_days(7)}') + " >= 3",
        "ev.views_7d >= 3",
    ),
    _d(
        "e04",
        _E,
        "Heavy browsers",
        _count(f'X.eventType = "web.webpagedetails.pageViews" and {_days(30)}') + " >= 20",
        "ev.views_30d >= 20",
    ),
    _d(
        "e05",
        _E,
        "Product researchers",
        'xEvent[eventType = "commerce.productViews" and timestamp occurs < 14 days before now]'
        ".count() >= 5",
        "ev.product_views_14d >= 5",
    ),
    _d(
        "e06",
        _E,
        "Added to cart this week",
        'exists X from xEvent where X.eventType = "commerce.productListAdds" and ' + _days(7),
        "ev.adds_7d > 0",
    ),
    _d(
        "e07",
        _E,
        "Started a checkout in the last 3 days",
        'xEvent[eventType = "commerce.checkouts" and timestamp occurs < 3 days before now]',
        "ev.checkouts_3d > 0",
    ),
    _d(
        "e08",
        _E,
        "Email openers",
        _count(f'X.eventType = "directMarketing.emailOpened" and {_days(30)}') + " >= 2",
        "ev.email_opens_30d >= 2",
    ),
    _d(
        "e09",
        _E,
        "Email clickers",
        _select(f'X.eventType = "directMarketing.emailClicked" and {_days(90)}'),
        "ev.email_clicks_90d > 0",
    ),
    _d(
        "e10",
        _E,
        "App regulars",
        _count(f'X.eventType = "application.launch" and {_days(30)}') + " >= 3",
        "ev.launches_30d >= 3",
    ),
    _d(
        "e11",
        _E,
        "Exit link clickers",
        'xEvent[eventType = "web.webinteraction.linkClicks" and web.webInteraction.type = "exit"]'
        ".count() >= 2",
        "ev.exit_clicks >= 2",
    ),
    _d(
        "e12",
        _E,
        "Downloaded the size guide",
        _select('X.web.webInteraction.name = "Size guide PDF"'),
        "ev.size_guide > 0",
    ),
    _d(
        "e13",
        _E,
        "Home page today",
        _select("X.web.webPageDetails.isHomePage = true and X.timestamp occurs today"),
        "ev.home_today > 0",
    ),
    _d(
        "e14",
        _E,
        "Sale hunters",
        'xEvent[web.webPageDetails.siteSection = "promotions" and '
        "timestamp occurs <= 14 days before now].count() >= 2",
        "ev.sale_views_14d >= 2",
    ),
    _d(
        "e15",
        _E,
        "Arrived from social media",
        _select(f'X.web.webReferrer.type = "social" and {_days(30)}'),
        "ev.social_30d > 0",
    ),
    _d("e16", _E, "iPhone users", _select('X.device.model.startsWith("iPhone")'), "ev.iphone > 0"),
    _d(
        "e17",
        _E,
        "Mobile shoppers",
        _count(
            f'X.eventType = "commerce.productViews" and X.device.type = "mobile" and {_days(30)}'
        )
        + " >= 2",
        "ev.mobile_product_views_30d >= 2",
    ),
    _d(
        "e18",
        _E,
        "Safari on desktop",
        _select('X.environment.browserDetails.name = "Safari" and X.device.type = "desktop"'),
        "ev.safari_desktop > 0",
    ),
    _d(
        "e19",
        _E,
        "Active this week",
        "xEvent[timestamp occurs <= 7 days before now].count() > 0",
        "ev.events_7d > 0",
    ),
    _d(
        "e20",
        _E,
        "Dormant for 90 days",
        f"xEvent.count() > 0 and not ({_select(_days(90))})",
        "ev.events > 0 AND ev.events_90d = 0",
    ),
    _d(
        "e21",
        _E,
        "Lapsed buyers",
        f"({_select(PURCHASED + ' and X.timestamp occurs > 180 days before now')}) "
        f"and not ({_select(PURCHASED + ' and ' + _days(180))})",
        "ev.buys_older_180d > 0 AND ev.buys_180d = 0",
    ),
    _d(
        "e22",
        _E,
        "Browsers who never bought",
        _count(f'X.eventType = "commerce.productViews" and {_days(30)}')
        + " >= 3 and not ("
        + _select('X.eventType = "commerce.purchases"')
        + ")",
        "ev.product_views_30d >= 3 AND ev.buys = 0",
    ),
    _d(
        "e23",
        _E,
        "Purchased last month",
        _select('X.eventType = "commerce.purchases" and X.timestamp occurs last month'),
        "ev.buys_last_month > 0",
    ),
    _d(
        "e24",
        _E,
        "Checked out since the start of last month",
        _select(
            'X.eventType = "commerce.checkouts" and '
            "X.timestamp occurs between last month and this month"
        ),
        "ev.checkouts_between > 0",
    ),
    _d(
        "e25",
        _E,
        "Spent over 250 USD in a year",
        'xEvent[eventType = "commerce.purchases" and commerce.order.currencyCode = "USD" and '
        "timestamp occurs <= 365 days before now].sum(commerce.order.priceTotal) > 250",
        "coalesce(ev.usd_spend_365d, 0) > 250",
    ),
    _d(
        "e26",
        _E,
        "Spent over 150 EUR in six months",
        "(sum X.commerce.order.priceTotal over X from xEvent where "
        'X.eventType = "commerce.purchases" and X.commerce.order.currencyCode = "EUR" and '
        f"{_days(180)}) > 150",
        "coalesce(ev.eur_spend_180d, 0) > 150",
    ),
    _d(
        "e27",
        _E,
        "Average USD order over 100",
        'xEvent[eventType = "commerce.purchases" and commerce.order.currencyCode = "USD"]'
        ".average(commerce.order.priceTotal) > 100",
        "ev.usd_average > 100",
    ),
    _d(
        "e28",
        _E,
        "A USD order over 300 this year",
        'xEvent[eventType = "commerce.purchases" and commerce.order.currencyCode = "USD" and '
        "timestamp occurs <= 365 days before now].max(commerce.order.priceTotal) > 300",
        "ev.usd_max_365d > 300",
    ),
    _d(
        "e29",
        _E,
        "Small USD orders",
        'xEvent[eventType = "commerce.purchases" and commerce.order.currencyCode = "USD"]'
        ".min(commerce.order.priceTotal) < 25",
        "ev.usd_min < 25",
    ),
    _d(
        "e30",
        _E,
        "Mid spenders (50 to 500 USD in 90 days)",
        'xEvent[eventType = "commerce.purchases" and commerce.order.currencyCode = "USD" and '
        "timestamp occurs <= 90 days before now].sum(commerce.order.priceTotal) > 50 and "
        'xEvent[eventType = "commerce.purchases" and commerce.order.currencyCode = "USD" and '
        "timestamp occurs <= 90 days before now].sum(commerce.order.priceTotal) <= 500",
        "coalesce(ev.usd_spend_90d, 0) > 50 AND coalesce(ev.usd_spend_90d, 0) <= 500",
    ),
    _d(
        "e31",
        _E,
        "Checkout without purchase",
        _count(f'X.eventType = "commerce.checkouts" and {_days(30)}')
        + " >= 1 and "
        + _count(f'X.eventType = "commerce.purchases" and {_days(30)}')
        + " = 0",
        "ev.checkouts_30d >= 1 AND coalesce(ev.buys_30d, 0) = 0",
    ),
    _d(
        "e32",
        _E,
        "Cart abandoners",
        f"({_select(ADDED + ' and ' + _days(7))}) "
        f"and not ({_select(PURCHASED + ' and ' + _days(7))})",
        "ev.adds_7d > 0 AND coalesce(ev.buys_7d, 0) = 0",
    ),
    _d(
        "e33",
        _E,
        "Bought the wireless earbuds",
        _select('X.eventType = "commerce.purchases" and X.productListItems.SKU = "SKU-100011"'),
        "ev.earbuds_bought > 0",
    ),
    _d(
        "e34",
        _E,
        "Looked at headphones",
        _select(
            'X.eventType = "commerce.productViews" and '
            f'X.productListItems.name.contains("Headphones") and {_days(30)}'
        ),
        "ev.headphones_viewed_30d > 0",
    ),
    _d(
        "e35",
        _E,
        "Email-driven buyers",
        f"({_select(EMAIL_CLICKED + ' and ' + _days(30))}) "
        f"and ({_select(PURCHASED + ' and ' + _days(30))})",
        "ev.email_clicks_30d > 0 AND ev.buys_30d > 0",
    ),
    _d(
        "e36",
        _E,
        "Ten page views by measure",
        "xEvent[timestamp occurs <= 30 days before now].sum(web.webPageDetails.pageViews.value)"
        " >= 10",
        "coalesce(ev.page_view_measure_30d, 0) >= 10",
    ),
    _d(
        "e37",
        _E,
        "Repeat JPY buyers",
        'xEvent[commerce.order.currencyCode = "JPY"].count() >= 2',
        "ev.jpy_orders >= 2",
    ),
    _d(
        "e38",
        _E,
        "Holiday shoppers",
        _select('X.eventType = "commerce.purchases" and X.timestamp.getMonth() = 12'),
        "ev.buys_december > 0",
    ),
    _d(
        "e39",
        _E,
        "Searchers",
        _count(f'X.web.webPageDetails.siteSection = "search" and {_days(7)}') + " >= 2",
        "ev.search_7d >= 2",
    ),
    _d("e40", _E, "Very active", "xEvent.count() >= 50", "ev.events >= 50"),
    # --- 10 sequences ------------------------------------------------------------------------
    _d(
        "s01",
        _S,
        "Viewed then bought",
        _chain(
            'A: WHAT(eventType = "commerce.productViews") WHEN(<= 30 days before now)',
            'B: WHAT(eventType = "commerce.purchases") WHEN(<= 30 days before now)',
        ),
        "ev.s01_view < ev.s01_buy",
    ),
    _d(
        "s02",
        _S,
        "Added then checked out",
        _chain(
            'A: WHAT(eventType = "commerce.productListAdds") WHEN(<= 7 days before now)',
            'B: WHAT(eventType = "commerce.checkouts") WHEN(<= 7 days before now)',
        ),
        "ev.s02_add < ev.s02_checkout",
    ),
    _d(
        "s03",
        _S,
        "Email click then purchase",
        _chain(
            'A: WHAT(eventType = "directMarketing.emailClicked") WHEN(<= 14 days before now)',
            'B: WHAT(eventType = "commerce.purchases") WHEN(<= 14 days before now)',
        ),
        "ev.s03_click < ev.s03_buy",
    ),
    _d(
        "s04",
        _S,
        "Searched then viewed a product today",
        _chain(
            'A: WHAT(web.webPageDetails.siteSection = "search") WHEN(<= 24 hours before now)',
            'B: WHAT(eventType = "commerce.productViews") WHEN(<= 24 hours before now)',
        ),
        "ev.s04_search < ev.s04_view",
    ),
    _d(
        "s05",
        _S,
        "Added then removed",
        _chain(
            'A: WHAT(eventType = "commerce.productListAdds") WHEN(<= 30 days before now)',
            'B: WHAT(eventType = "commerce.productListRemovals") WHEN(<= 30 days before now)',
        ),
        "ev.s05_add < ev.s05_remove",
    ),
    _d(
        "s06",
        _S,
        "App launch then purchase",
        _chain(
            'A: WHAT(eventType = "application.launch") WHEN(<= 90 days before now)',
            'B: WHAT(eventType = "commerce.purchases") WHEN(<= 90 days before now)',
        ),
        "ev.s06_launch < ev.s06_buy",
    ),
    _d(
        "s07",
        _S,
        "Full funnel: view, add, buy",
        _chain(
            'A: WHAT(eventType = "commerce.productViews") WHEN(<= 90 days before now)',
            'B: WHAT(eventType = "commerce.productListAdds") WHEN(<= 90 days before now)',
            'C: WHAT(eventType = "commerce.purchases") WHEN(<= 90 days before now)',
        ),
        "mid.s07_add > 0",
    ),
    _d(
        "s08",
        _S,
        "Email open, click, checkout",
        _chain(
            'A: WHAT(eventType = "directMarketing.emailOpened") WHEN(<= 60 days before now)',
            'B: WHAT(eventType = "directMarketing.emailClicked") WHEN(<= 60 days before now)',
            'C: WHAT(eventType = "commerce.checkouts") WHEN(<= 60 days before now)',
        ),
        "mid.s08_click > 0",
    ),
    _d(
        "s09",
        _S,
        "Three home page visits then checkout",
        _chain(
            "A: WHAT(web.webPageDetails.isHomePage = true) WHEN(<= 30 days before now) COUNT(3)",
            'B: WHAT(eventType = "commerce.checkouts") WHEN(<= 30 days before now)',
        ),
        "ev.s09_home_3rd < ev.s09_checkout",
    ),
    _d(
        "s10",
        _S,
        "Bought then looked for support",
        _chain(
            'A: WHAT(eventType = "commerce.purchases")',
            'B: WHAT(web.webPageDetails.siteSection = "support") WHEN(<= 14 days before now)',
        ),
        "ev.s10_buy < ev.s10_support",
    ),
    # --- 10 segments of segments -------------------------------------------------------------
    _d(
        "g01", _G, "US top-tier members", 'inSegment("{a01}") and inSegment("{a04}")', "a01 AND a04"
    ),
    _d("g02", _G, "Recent US buyers", 'inSegment("{a01}") and inSegment("{e01}")', "a01 AND e01"),
    _d(
        "g03",
        _G,
        "Women who abandoned a cart",
        'inSegment("{a09}") and inSegment("{e32}")',
        "a09 AND e32",
    ),
    _d(
        "g04",
        _G,
        "Active webmail visitors",
        '(inSegment("{a16}") or inSegment("{a17}")) and inSegment("{e03}")',
        "(a16 OR a17) AND e03",
    ),
    _d(
        "g05",
        _G,
        "Big spenders gone quiet",
        'inSegment("{e25}") and not inSegment("{e19}")',
        "e25 AND NOT e19",
    ),
    _d(
        "g06",
        _G,
        "Top-tier win-back",
        'inSegment("{e21}") and loyalty.tier in ["gold", "platinum"]',
        "e21 AND p.loyalty.tier IN ('gold', 'platinum')",
    ),
    _d("g07", _G, "Email converters", 'inSegment("{s03}") or inSegment("{e35}")', "s03 OR e35"),
    _d(
        "g08",
        _G,
        "Seniors shopping on mobile",
        'inSegment("{a12}") and inSegment("{e17}")',
        "a12 AND e17",
    ),
    _d(
        "g09",
        _G,
        "European funnel completers",
        'inSegment("{s07}") and inSegment("{a03}")',
        "s07 AND a03",
    ),
    _d(
        "g10",
        _G,
        "US VIPs or recent US buyers",
        'inSegment("{g01}") or inSegment("{g02}")',
        "g01 OR g02",
    ),
)

BY_KEY: dict[str, BenchDefinition] = {d.key: d for d in DEFINITIONS}


def dependencies(keys: Iterable[str]) -> list[str]:
    """``keys`` with every definition they reference (transitively), referenced ones first."""
    ordered: list[str] = []

    def visit(key: str) -> None:
        if key in ordered:
            return
        for reference in BY_KEY[key].references():
            visit(reference)
        ordered.append(key)

    for key in keys:
        visit(key)
    return ordered


# --- the hand-written query ----------------------------------------------------------------------


def hand_written_sql(keys: Sequence[str], now: datetime) -> str:
    """One DuckDB query over the views ``profiles`` and ``events`` returning one row: the member
    count of each definition in ``keys`` (columns named by key), evaluated at ``now`` (UTC)."""
    needed = dependencies(keys)
    base = [k for k in needed if BY_KEY[k].kind != SEGMENTS]
    derived = [k for k in needed if BY_KEY[k].kind == SEGMENTS]
    used_ev = _columns(base + derived, "ev")
    used_mid = _columns(base + derived, "mid")
    for name in used_mid:
        used_ev |= set(MIDDLE_STEPS[name][1:])
    ctes: list[str] = []
    joins: list[str] = []
    if used_ev:
        aggregates = ",\n    ".join(
            f"{EVENT_AGGREGATES[name]} AS {name}" for name in EVENT_AGGREGATES if name in used_ev
        )
        ctes.append(
            f"ev AS (\n  SELECT __profile_id,\n    {aggregates}\n  FROM events\n"
            "  GROUP BY __profile_id\n)"
        )
        joins.append("LEFT JOIN ev USING (__profile_id)")
    if used_mid:
        steps = [name for name in MIDDLE_STEPS if name in used_mid]
        counts = ",\n    ".join(
            f"count(*) FILTER (WHERE {condition}\n"
            f'      AND "timestamp" > ev.{first} AND "timestamp" < ev.{last}) AS {n}'
            for n, (condition, first, last) in MIDDLE_STEPS.items()
            if n in used_mid
        )
        bounds = " OR ".join(f"ev.{MIDDLE_STEPS[n][1]} < ev.{MIDDLE_STEPS[n][2]}" for n in steps)
        ctes.append(
            f"mid AS (\n  SELECT __profile_id,\n    {counts}\n  FROM events JOIN ev USING "
            f"(__profile_id)\n  WHERE {bounds}\n  GROUP BY __profile_id\n)"
        )
        joins.append("LEFT JOIN mid USING (__profile_id)")
    flags = ",\n    ".join(f"coalesce({BY_KEY[k].sql}, false) AS {k}" for k in base)
    ctes.append(
        f"seg AS (\n  SELECT p.loyalty AS loyalty,\n    {flags}\n  FROM profiles p "
        + " ".join(joins)
        + "\n)"
    )
    # segments of segments read the flags; a later one may read an earlier one
    layer = "seg"
    for index, key in enumerate(derived):
        sql = BY_KEY[key].sql.replace("p.loyalty", "loyalty")
        ctes.append(f"seg{index} AS (SELECT *, coalesce({sql}, false) AS {key} FROM {layer})")
        layer = f"seg{index}"
    counts = ",\n  ".join(f"count(*) FILTER (WHERE {k}) AS {k}" for k in keys)
    text = "WITH " + ",\n".join(ctes) + f"\nSELECT\n  {counts}\nFROM {layer}"
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return text.replace(":today", _timestamp(today)).replace(":now", _timestamp(now))


def _columns(keys: Iterable[str], table: str) -> set[str]:
    return {name for key in keys for t, name in _COLUMN.findall(BY_KEY[key].sql) if t == table}


def _timestamp(moment: datetime) -> str:
    return f"TIMESTAMP '{moment.isoformat(sep=' ', timespec='microseconds')}'"
