"""Hypothesis strategies for the differential engine tests: PQL text for the constructs the SQL
engine compiles (event aggregates, quantifiers, profile arrays, let/if, calendar getters,
chains, inSegment), random small lakes for a schema with a tenant field group of arrays, and
the interpreter's members of many segments over one lake read once.

Expressions are drawn as pql/text from templates, so a failing example prints as a definition
that can be pasted into a reproducer; ``check_text`` parses and types them.

Sums and averages only ever see integers or binary fractions (0, 2.5, 10, 25, 100, small
integer quantities): every partial sum is exact in a double, whatever the order DuckDB adds in,
so the two engines cannot differ by float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from engine_testkit import NOW, Lake, Row
from hypothesis import strategies as st

from segmint.engine.interpreter.evaluator import evaluate
from segmint.pql import check, parse
from segmint.pql.ast import Binary, Expr, Unary
from segmint.pql.types import INTEGER, STRING, ArrayType, ObjectType, Schema
from segmint.xdm import PROFILE_ID_COLUMN, build_schema, event_schema, profile_schema

Draw = Callable[[st.SearchStrategy[Any]], Any]
Text = st.SearchStrategy[str]

ORDER = ObjectType("AcmeOrder", {"storeId": STRING, "price": INTEGER, "items": ArrayType(STRING)})
SCHEMA: Schema = build_schema(
    {
        "_acme": ObjectType(
            "Acme",
            {"scores": ArrayType(INTEGER), "tags": ArrayType(STRING), "orders": ArrayType(ORDER)},
        )
    }
)


def check_text(text: str, schema: Schema = SCHEMA) -> Expr:
    """``text`` parsed and checked against ``schema``."""
    return check(parse(text), schema, source=text)


def boolean_parts(expression: Expr) -> list[Expr]:
    """``expression`` and every and/or/not operand inside it: each becomes a segment of its own,
    so a wrong atom cannot hide behind the rest of its condition."""
    if isinstance(expression, Binary) and expression.op in ("and", "or"):
        return [expression, *boolean_parts(expression.left), *boolean_parts(expression.right)]
    if isinstance(expression, Unary) and expression.op == "not":
        return [expression, *boolean_parts(expression.operand)]
    return [expression]


# --- the lake and the oracle ---------------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    profiles: list[Row]
    events: list[Row]


def write_rows(directory: Path, rows: Rows, schema: Schema = SCHEMA) -> Lake:
    """The rows as lake Parquet files with ``schema``'s Arrow layout."""
    directory.mkdir(parents=True, exist_ok=True)
    profile_file = directory / "profiles.parquet"
    pq.write_table(pa.Table.from_pylist(rows.profiles, profile_schema(schema)), profile_file)
    if not rows.events:
        return Lake([profile_file], [])
    event_file = directory / "events.parquet"
    pq.write_table(pa.Table.from_pylist(rows.events, event_schema(schema)), event_file)
    return Lake([profile_file], [event_file])


def interpreted_segments(
    lake: Lake, segments: Sequence[tuple[str, Expr]], now: datetime = NOW
) -> dict[str, set[str]]:
    """The interpreter's members of every segment, the lake read once. ``inSegment`` of a segment
    of the list reads its members as computed here, so a segment may only name earlier ones."""
    profiles = lake.profiles()
    events = lake.events_by_profile()
    statuses: dict[str, dict[str, str]] = {p[PROFILE_ID_COLUMN]: {} for p in profiles}
    members: dict[str, set[str]] = {}
    for segment_id, expression in segments:
        members[segment_id] = set()
        for profile in profiles:
            profile_id = profile[PROFILE_ID_COLUMN]
            own = statuses[profile_id]
            if evaluate(expression, profile, events.get(profile_id, []), now, memberships=own):
                members[segment_id].add(profile_id)
        for profile_id, own in statuses.items():
            own[segment_id] = "realized" if profile_id in members[segment_id] else "exited"
    return members


# --- data ----------------------------------------------------------------------------------------

TODAY = datetime(2025, 6, 18)
# Few distinct instants, so events of a profile often tie; windows begin or end at several.
INSTANTS = [
    NOW,
    NOW - timedelta(hours=1),
    TODAY,
    TODAY - timedelta(microseconds=1),
    datetime(2025, 6, 17, 9),
    datetime(2025, 6, 16),
    datetime(2025, 6, 15, 23, 59, 59),
    datetime(2025, 6, 1),
    datetime(2025, 5, 31, 23),
    datetime(2024, 12, 31, 12),
    datetime(2026, 1, 1),
]
DAYS = [date(2004, 6, 18), date(1985, 1, 1), date(2025, 6, 17), date(1999, 12, 31)]
# Exact in binary (see the module docstring).
PRICES = [0.0, 2.5, 10.0, 25.0, 100.0]
EVENT_TYPES = ["buy", "view", "Buy", ""]
SKUS = ["a", "b", "A"]
STORES = ["s1", "s2", "S1"]
TAGS = ["a", "b", "c", ""]


def maybe(values: Sequence[Any]) -> st.SearchStrategy[Any]:
    """One of ``values``, or null about one time in five."""
    pool = [None, *values] if len(values) >= 4 else [None, *values, *values]
    return st.sampled_from(pool)


def maybe_struct(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Row | None]:
    """An object, absent about one time in five."""
    return st.integers(0, 4).flatmap(
        lambda k: st.none() if k == 0 else st.fixed_dictionaries(fields)
    )


def maybe_list(items: st.SearchStrategy[Any], max_size: int = 3) -> st.SearchStrategy[Any]:
    """A list (often empty), or null."""
    return st.one_of(st.none(), st.lists(items, max_size=max_size))


ORDERS = st.fixed_dictionaries(
    {
        "storeId": maybe(STORES),
        "price": maybe([0, 5, 10, 20]),
        "items": maybe_list(maybe(SKUS), 2),
    }
)


@st.composite
def profile_row(draw: Draw, index: int) -> Row:
    return {
        PROFILE_ID_COLUMN: f"p{index}",
        "homeAddress": draw(maybe_struct(city=maybe(["a", "b", "A", ""]))),
        "person": draw(maybe_struct(birthYear=maybe([1985, 2004, 0]), birthDate=maybe(DAYS))),
        "loyalty": draw(
            maybe_struct(
                points=maybe([0, 1, 2, 5, 10]),
                joinDate=maybe(INSTANTS),
                loyaltyID=maybe_list(maybe(["L1", "L2"])),
            )
        ),
        "_acme": draw(
            maybe_struct(
                scores=maybe_list(maybe([0, 1, 2, 3]), 4),
                tags=maybe_list(maybe(TAGS), 4),
                orders=maybe_list(ORDERS, 3),
            )
        ),
    }


LINE_ITEMS = st.fixed_dictionaries(
    {"SKU": maybe(SKUS), "quantity": maybe([0, 1, 2, 3]), "priceTotal": maybe(PRICES)}
)


@st.composite
def event_row(draw: Draw, profile_id: str) -> Row:
    return {
        PROFILE_ID_COLUMN: profile_id,
        "timestamp": draw(st.sampled_from([*INSTANTS, None])),
        "eventType": draw(maybe(EVENT_TYPES)),
        "commerce": draw(
            maybe_struct(
                order=maybe_struct(priceTotal=maybe(PRICES), currencyCode=maybe(["usd", "USD"]))
            )
        ),
        "productListItems": draw(maybe_list(LINE_ITEMS, 2)),
        "device": draw(maybe_struct(model=maybe(["a1", "b", "A"]))),
    }


@st.composite
def lakes(draw: Draw, max_profiles: int = 6, max_events: int = 5) -> Rows:
    """Profiles with 0 to ``max_events`` events each; the first has at least one, so the lake
    always has an event file (a lake without one is a fixed test of its own)."""
    profiles = [draw(profile_row(i)) for i in range(draw(st.integers(1, max_profiles)))]
    events = [
        draw(event_row(profile[PROFILE_ID_COLUMN]))
        for index, profile in enumerate(profiles)
        for _ in range(draw(st.integers(0 if index else 1, max_events)))
    ]
    return Rows(profiles, events)


# --- expressions ---------------------------------------------------------------------------------


def fmt(template: str, **parts: Text) -> Text:
    """``template`` with each ``{name}`` replaced by a draw from ``parts[name]``."""
    return st.fixed_dictionaries(parts).map(lambda drawn: template.format(**drawn))


def one(*values: str) -> Text:
    return st.sampled_from(values)


def combine(atoms: Text, max_leaves: int = 3) -> Text:
    """``atoms`` nested in and/or/not."""
    return st.recursive(
        atoms,
        lambda children: st.one_of(
            fmt("({a}) {op} ({b})", a=children, op=one("and", "or"), b=children),
            fmt("not ({a})", a=children),
        ),
        max_leaves=max_leaves,
    )


CMP = one("=", "!=", "<", "<=", ">", ">=")
SMALL = one("0", "1", "2", "3")
AMOUNTS = one("0", "2.5", "10", "25", "35", "50")
TAILS = one(
    "today",
    "yesterday",
    "this week",
    "last month",
    "this year",
    "< 3 days before now",
    "<= 24 hours before now",
    "> 2 days before now",
    "before today",
    "after yesterday",
    "between date(2025, 6, 1) and today",
    "on date(2025, 6, 16)",
)


@dataclass(frozen=True)
class Scope:
    """How an event condition reaches the event (``prefix``) and the profile (``profile``):
    implicit in a bracket filter (``^.``), through a variable (bare names), in a chain step."""

    prefix: str
    profile: str


IMPLICIT = Scope("", "^.")
VARIABLE = Scope("X.", "")
IN_CHAIN = Scope("", "$1.")


def event_atoms(scope: Scope) -> Text:
    p, up = scope.prefix, scope.profile
    return st.one_of(
        fmt(p + 'eventType = "{t}"', t=one(*EVENT_TYPES)),
        fmt(p + 'eventType in ["buy", "{t}"]', t=one(*EVENT_TYPES)),
        fmt(p + "commerce.order.priceTotal {op} {v}", op=CMP, v=AMOUNTS),
        fmt(p + 'commerce.order.currencyCode.equals("usd", {flag})', flag=one("true", "false")),
        fmt(p + "timestamp occurs {tail}", tail=TAILS),
        fmt(p + "productListItems.quantity {op} {n}", op=CMP, n=SMALL),
        fmt(p + 'productListItems[SKU = "{s}"]', s=one(*SKUS)),
        fmt(p + "productListItems.exists(quantity >= {n})", n=SMALL),
        fmt(p + "productListItems.count() = {n}", n=one("0", "1")),
        fmt(p + "commerce.order.{m}()", m=one("isNull", "isNotNull")),
        fmt(p + 'device.model.startsWith("{s}")', s=one("a", "A")),
        fmt(p + "commerce.order.priceTotal > " + up + "loyalty.points"),
    )


def event_conditions(scope: Scope, max_leaves: int = 2) -> Text:
    return combine(event_atoms(scope), max_leaves)


COND = event_conditions(IMPLICIT)
COND_X = event_conditions(VARIABLE)
COND_Y = COND_X.map(lambda text: text.replace("X.", "Y."))
FILTERED = st.one_of(st.just("xEvent"), fmt("xEvent[{c}]", c=COND))
AGGREGATES = one("sum", "average", "min", "max")
PRICE = "commerce.order.priceTotal"

EVENT_AGGREGATES = st.one_of(
    fmt("{e}.{agg}(" + PRICE + ") {op} {v}", e=FILTERED, agg=AGGREGATES, op=CMP, v=AMOUNTS),
    fmt("{e}.{agg}(" + PRICE + ").isNull()", e=FILTERED, agg=AGGREGATES),
    fmt("{e}.count() {op} {n}", e=FILTERED, op=CMP, n=SMALL),
    fmt("{e}.max(timestamp) occurs {tail}", e=FILTERED, tail=TAILS),
    fmt("{e}.productListItems.sum(quantity) {op} {n}", e=FILTERED, op=CMP, n=SMALL),
    fmt("xEvent.filter({c}).count() {op} {n}", c=COND, op=CMP, n=SMALL),
    fmt("(select X from xEvent where {c}).count() {op} {n}", c=COND_X, op=CMP, n=SMALL),
    fmt("select X from xEvent where {c}", c=COND_X),
    fmt(
        "({agg} X." + PRICE + " over X from xEvent where {c}) {op} {v}",
        agg=AGGREGATES,
        c=COND_X,
        op=CMP,
        v=AMOUNTS,
    ),
    fmt("({agg} X." + PRICE + " over X from xEvent where {c}).isNull()", agg=AGGREGATES, c=COND_X),
    fmt(
        "(sum I.quantity over X from xEvent where {c}, I from X.productListItems) {op} {n}",
        c=COND_X,
        op=CMP,
        n=SMALL,
    ),
)

EVENT_QUANTIFIERS = st.one_of(
    fmt("{q} X from xEvent where {c}", q=one("exists", "forall", "some"), c=COND_X),
    fmt(
        "{q} X from xEvent where {c}, I from X.productListItems where I.quantity {op} {n}",
        q=one("exists", "forall"),
        c=COND_X,
        op=CMP,
        n=SMALL,
    ),
    fmt(
        '{q} X from xEvent where {c}, I from X.productListItems where I.SKU = "{s}"',
        q=one("exists", "forall"),
        c=COND_X,
        s=one(*SKUS),
    ),
    fmt(
        "{q} X from xEvent where {c}, Y from xEvent where {d} and {link}",
        q=one("exists", "forall"),
        c=COND_X,
        d=COND_Y,
        link=one(
            "Y.timestamp occurs < 2 days after X.timestamp",
            "Y.timestamp occurs after X.timestamp",
            "X.eventType != Y.eventType",
            "Y." + PRICE + " > X." + PRICE,
        ),
    ),
    fmt("xEvent.exists({c})", c=COND),
    fmt("xEvent[{c}]", c=COND),
    fmt("not xEvent[{c}]", c=COND),
)

EVENT_LISTS = st.one_of(
    fmt('{e}.head().eventType = "{t}"', e=FILTERED, t=one(*EVENT_TYPES)),
    fmt("{e}.head()." + PRICE + " {op} {v}", e=FILTERED, op=CMP, v=AMOUNTS),
    fmt(
        "{e}.{top}(" + PRICE + ', {k}).head().eventType = "{t}"',
        e=FILTERED,
        top=one("topN", "bottomN"),
        k=one("1", "2"),
        t=one(*EVENT_TYPES),
    ),
    fmt(
        "xEvent.{top}(" + PRICE + ", {k}).count() {op} {n}",
        top=one("topN", "bottomN"),
        k=one("0", "1", "3"),
        op=CMP,
        n=SMALL,
    ),
    fmt("{e}." + PRICE + " {op} {v}", e=FILTERED, op=CMP, v=AMOUNTS),
    fmt('{e}.productListItems.SKU = "{s}"', e=FILTERED, s=one(*SKUS)),
    fmt("{e}.eventType.distinct().count() {op} {n}", e=FILTERED, op=CMP, n=SMALL),
    fmt('"{t}" in {e}.eventType', e=FILTERED, t=one(*EVENT_TYPES)),
    fmt('{e}.eventType.includes("{t}")', e=FILTERED, t=one(*EVENT_TYPES)),
    fmt("xEvent.map(" + PRICE + ").sum() {op} {v}", op=CMP, v=AMOUNTS),
    fmt('xEvent[productListItems[SKU = "{s}" and ^^.loyalty.points > {n}]]', s=one(*SKUS), n=SMALL),
    fmt(
        "{e}.productListItems[quantity > {n}].count() {op} {m}",
        e=FILTERED,
        n=SMALL,
        op=CMP,
        m=SMALL,
    ),
    fmt("xEvent.groupBy(eventType).keys().count() {op} {n}", op=CMP, n=SMALL),
    fmt(
        'xEvent.groupBy(eventType).get("{t}").count() {op} {n}',
        t=one(*EVENT_TYPES),
        op=CMP,
        n=SMALL,
    ),
    fmt(
        "if({e}.count() > {n}, {e}.sum(" + PRICE + "), {v}) {op} {w}",
        e=FILTERED,
        n=SMALL,
        v=AMOUNTS,
        op=CMP,
        w=AMOUNTS,
    ),
    fmt(
        'let O = {{"total": {e}.sum(' + PRICE + ")}} in O.total {op} {v}",
        e=FILTERED,
        op=CMP,
        v=AMOUNTS,
    ),
    fmt("xEvent.count() {op} loyalty.points", op=CMP),
    fmt('xEvent.head().device.model.startsWith("{s}")', s=one("a", "A")),
)

ORDER_CONDITIONS = combine(
    st.one_of(
        fmt("price {op} {n}", op=CMP, n=one("0", "5", "10")),
        fmt('storeId = "{s}"', s=one(*STORES)),
        fmt('items.includes("{s}")', s=one(*SKUS)),
        st.just("price > ^.loyalty.points"),
    ),
    2,
)
TAG_LIST = one('["a", "b"]', '["a"]', "[]", '["c", "", "a"]')

PROFILE_ARRAYS = st.one_of(
    fmt("{n} in _acme.scores", n=SMALL),
    fmt('"{t}" {op} _acme.tags', t=one(*TAGS), op=one("in", "notIn")),
    fmt('_acme.tags.includes("{t}")', t=one(*TAGS)),
    fmt("_acme.tags.{m}({l})", m=one("intersects", "subsetOf", "supersetOf"), l=TAG_LIST),
    fmt("_acme.scores.distinct().count() {op} {n}", op=CMP, n=SMALL),
    fmt("_acme.scores.head() {op} {n}", op=CMP, n=SMALL),
    fmt("_acme.scores.head().isNull()"),
    fmt("_acme.scores.topN(this, {k}).sum() {op} {n}", k=one("1", "2"), op=CMP, n=SMALL),
    fmt("_acme.scores.bottomN(this, {k}).head() {op} {n}", k=one("1", "2"), op=CMP, n=SMALL),
    fmt("_acme.scores.{agg}() {op} {n}", agg=AGGREGATES, op=CMP, n=SMALL),
    fmt("_acme.scores.filter((S) => S > {n}).count() {op} {m}", n=SMALL, op=CMP, m=SMALL),
    fmt("_acme.scores.map((S) => S * 2).max() {op} {n}", op=CMP, n=one("2", "4", "6")),
    fmt("_acme.scores.exists((S) => S = {n})", n=SMALL),
    fmt("_acme.scores[this > {n}].count() {op} {m}", n=SMALL, op=CMP, m=SMALL),
    fmt("_acme.orders[{c}].count() {op} {n}", c=ORDER_CONDITIONS, op=CMP, n=SMALL),
    fmt("_acme.orders[{c}]", c=ORDER_CONDITIONS),
    fmt("_acme.orders.filter({c}).map(price).sum() {op} {n}", c=ORDER_CONDITIONS, op=CMP, n=SMALL),
    fmt("_acme.orders.exists({c})", c=ORDER_CONDITIONS),
    fmt(
        '_acme.orders.{top}(price, {k}).head().storeId = "{s}"',
        top=one("topN", "bottomN"),
        k=one("1", "2"),
        s=one(*STORES),
    ),
    fmt('_acme.orders.topN(price, 2).map(storeId).includes("{s}")', s=one(*STORES)),
    fmt("_acme.orders.price {op} {n}", op=CMP, n=one("0", "5", "10")),
    fmt('_acme.orders.storeId = "{s}"', s=one(*STORES)),
    fmt("_acme.orders.items.count() {op} {n}", op=CMP, n=SMALL),
    fmt("_acme.orders.storeId.distinct().count() {op} {n}", op=CMP, n=SMALL),
    fmt("_acme.orders.groupBy(storeId).keys().count() {op} {n}", op=CMP, n=SMALL),
    fmt(
        '_acme.orders.groupBy(storeId).get("{s}").count() {op} {n}', s=one(*STORES), op=CMP, n=SMALL
    ),
    fmt(
        "{q} O from _acme.orders where {c}",
        q=one("exists", "forall"),
        c=ORDER_CONDITIONS.map(lambda text: _qualify_order(text, "O")),
    ),
    fmt(
        '{q} O from _acme.orders where O.price > {n}, I from O.items where I = "{s}"',
        q=one("exists", "forall"),
        n=one("0", "5"),
        s=one(*SKUS),
    ),
    fmt(
        '{q} O from _acme.orders, T from _acme.tags where O.storeId = T or T = "{t}"',
        q=one("exists", "forall"),
        t=one(*TAGS),
    ),
    fmt("{q} S from _acme.scores where S {op} {n}", q=one("exists", "forall"), op=CMP, n=SMALL),
    fmt("(sum S from _acme.scores where S > {n}) {op} {m}", n=SMALL, op=CMP, m=SMALL),
    fmt('"{l}" in loyalty.loyaltyID', l=one("L1", "L2")),
    fmt("_acme.tags.intersection({l}).count() {op} {n}", l=TAG_LIST, op=CMP, n=SMALL),
    fmt("_acme.scores = {l}", l=one("[]", "[1, 2]", "[0]", "[2, 3, 1]")),
    fmt("_acme.scores.topN(this, 2) = {l}", l=one("[3, 2]", "[1]", "[2, 1]")),
    fmt('_acme.tags.head().startsWith("{t}")', t=one(*TAGS)),
    fmt(
        "({agg} S from _acme.scores where S > {n}) {op} {m}",
        agg=AGGREGATES,
        n=SMALL,
        op=CMP,
        m=SMALL,
    ),
    fmt("({agg} S from _acme.scores where S > {n}).isNull()", agg=AGGREGATES, n=SMALL),
    fmt("_acme.orders.map(items).count() {op} {n}", op=CMP, n=SMALL),
    fmt('_acme.orders[items.includes("{s}")].price.sum() {op} {n}', s=one(*SKUS), op=CMP, n=SMALL),
    fmt(
        '_acme.orders.groupBy(storeId).map((K, G) => mapEntry(K, G.count())).get("{s}") {op} {n}',
        s=one(*STORES),
        op=CMP,
        n=SMALL,
    ),
)


def _qualify_order(text: str, var: str) -> str:
    """An order condition written for the implicit item, through the variable ``var``."""
    for name in ("price", "storeId", "items"):
        text = text.replace(name, f"{var}.{name}")
    return text.replace("^.loyalty.points", "loyalty.points")


PROFILE_CONDITIONS = st.one_of(
    fmt("loyalty.points {op} {n}", op=CMP, n=SMALL),
    fmt('homeAddress.city = "{c}"', c=one("a", "b", "")),
    fmt("person.birthYear.{m}()", m=one("isNull", "isNotNull")),
    fmt('"L1" in loyalty.loyaltyID'),
)

SCALARS = st.one_of(
    fmt("loyalty.joinDate.getYear() {op} {y}", op=CMP, y=one("2024", "2025")),
    fmt("loyalty.joinDate.getMonth() {op} {m}", op=CMP, m=one("5", "6", "12")),
    fmt("loyalty.joinDate.getDayOfMonth() {op} {d}", op=CMP, d=one("1", "16", "18")),
    fmt("person.birthDate.getMonth() = currentMonth()"),
    fmt("person.birthDate.getDayOfMonth() {op} {d}", op=CMP, d=one("17", "18", "31")),
    fmt("person.birthDate.getYear() {op} {y}", op=CMP, y=one("1985", "2004")),
    fmt("xEvent.max(timestamp).getMonth() {op} {m}", op=CMP, m=one("5", "6")),
    fmt("if({c}, loyalty.points, {n}) {op} {m}", c=PROFILE_CONDITIONS, n=SMALL, op=CMP, m=SMALL),
    fmt('if({c}, "a", homeAddress.city) = "a"', c=PROFILE_CONDITIONS),
    fmt("if({c}, loyalty.points, person.birthYear).isNull()", c=PROFILE_CONDITIONS),
    fmt("if({c}, {d}, {e})", c=PROFILE_CONDITIONS, d=PROFILE_CONDITIONS, e=PROFILE_CONDITIONS),
    fmt(
        "let S = {e}.sum(" + PRICE + ") in (S > {lo} and S < {hi})",
        e=FILTERED,
        lo=one("0", "2.5", "10"),
        hi=one("30", "200"),
    ),
    fmt("let P = loyalty.points in (P > {n} or P.isNull())", n=SMALL),
    fmt("let N = {e}.count() in if(N > 1, N, 0) {op} {n}", e=FILTERED, op=CMP, n=SMALL),
    fmt(
        "let S = (sum X." + PRICE + " over X from xEvent where {c}) in S {op} {v}",
        c=COND_X,
        op=CMP,
        v=AMOUNTS,
    ),
    fmt("let A = loyalty.points in let B = A + 1 in B {op} {n}", op=CMP, n=SMALL),
)

CHAIN_WHERE = one(
    "loyalty.points > 1",
    'homeAddress.city = "a"',
    "person.birthYear.isNull()",
    PRICE + " > 5",
    '$1.homeAddress.city = "a"',
)
CHAIN_COND = event_conditions(IN_CHAIN, 2)


@st.composite
def chains(draw: Draw) -> str:
    """``chain(xEvent, timestamp, [...])`` of 1 to 3 steps: WHEN windows, COUNT(n), WHERE on
    profile or event fields, and later steps reading earlier labels."""
    labels = ["A", "B", "C"][: draw(st.integers(1, 3))]
    steps = []
    for index, label in enumerate(labels):
        what = draw(CHAIN_COND)
        if index and draw(st.booleans()):
            earlier = draw(st.sampled_from(labels[:index]))
            link = draw(
                st.sampled_from(
                    [
                        f"timestamp occurs <= {{h}} hours after {earlier}.timestamp",
                        f"eventType = {earlier}.eventType",
                        f"{PRICE} > {earlier}.{PRICE}",
                    ]
                )
            ).format(h=draw(st.sampled_from([1, 24, 48])))
            what = f"({what}) and {link}"
        step = f"{label}: WHAT({what})"
        if draw(st.integers(0, 2)) == 0:
            step += f" WHEN({draw(TAILS)})"
        if draw(st.integers(0, 3)) == 0:
            step += f" WHERE({draw(CHAIN_WHERE)})"
        if draw(st.integers(0, 2)) == 0:
            step += f" COUNT({draw(st.integers(1, 3))})"
        steps.append(step)
    return f"chain(xEvent, timestamp, [{', '.join(steps)}])"


ATOMS = st.one_of(
    EVENT_AGGREGATES, EVENT_QUANTIFIERS, EVENT_LISTS, PROFILE_ARRAYS, SCALARS, chains()
)


def definitions(atoms: Text = ATOMS) -> Text:
    """A segment definition: an atom or two or three in and/or/not."""
    return combine(atoms, 3)


@st.composite
def jobs(draw: Draw, atoms: Text = ATOMS, size: tuple[int, int] = (3, 6)) -> list[str]:
    """Segment definitions of one job, then a few that read earlier ones with ``inSegment``
    (ids ``s0``, ``s1``, … in order)."""
    texts: list[str] = draw(st.lists(definitions(atoms), min_size=size[0], max_size=size[1]))
    for _ in range(draw(st.integers(0, 3))):
        earlier = st.sampled_from(range(len(texts))).map(lambda i: f'inSegment("s{i}")')
        texts.append(
            draw(
                st.one_of(
                    fmt("{a} and ({b})", a=earlier, b=atoms),
                    fmt("not {a}", a=earlier),
                    fmt("{a} or {b}", a=earlier, b=earlier),
                    fmt("{a} and not {b}", a=earlier, b=earlier),
                )
            )
        )
    return texts


def segment_parts(texts: Sequence[str]) -> list[tuple[str, Expr]]:
    """The job's segments ``s0…`` (as drawn, so inSegment ids hold), then every and/or/not
    operand of each as a further segment ``s<i>.<k>``."""
    checked = [check_text(text) for text in texts]
    segments = [(f"s{i}", expression) for i, expression in enumerate(checked)]
    seen = set(checked)
    for i, expression in enumerate(checked):
        for k, part in enumerate(boolean_parts(expression)[1:]):
            if part not in seen:
                seen.add(part)
                segments.append((f"s{i}.{k}", part))
    return segments


def by_id(segments: Sequence[tuple[str, Expr]]) -> Mapping[str, Expr]:
    return dict(segments)
