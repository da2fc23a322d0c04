"""Golden DuckDB SQL for a representative set of definitions, one job each.

``plan_segments(...).sql(dialect="duckdb", pretty=True)`` is kept in
``golden/<name>.duckdb.sql``; regenerate on purpose with
``SEGMINT_UPDATE_GOLDEN=1 pytest tests/engine/test_engine_golden.py`` and review the diff.
Each job also runs on DuckDB over a small fixed lake and must qualify exactly the profiles the
interpreter does (and, so that the check means something, some profiles but not all).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from engine_runs import qualified_by_segment, run
from engine_testkit import NOW, Row
from pql_strategies import Rows, check_text, interpreted_segments, write_rows

from segmint.engine import plan_segments
from segmint.xdm import PROFILE_ID_COLUMN

GOLDEN = Path(__file__).parent / "golden"

JOBS: dict[str, list[tuple[str, str]]] = {
    "attribute_condition": [("s", 'homeAddress.city = "a" and loyalty.points >= 2')],
    "event_count_in_window": [
        ("s", 'xEvent[eventType = "view" and timestamp occurs < 3 days before now].count() >= 2')
    ],
    "sum_of_filtered_events": [
        ("s", 'xEvent[eventType = "buy"].sum(commerce.order.priceTotal) > 30')
    ],
    "exists_over_events": [
        (
            "s",
            'exists X from xEvent where X.eventType = "buy", '
            "I from X.productListItems where I.quantity >= 2",
        )
    ],
    "forall_over_events": [("s", "forall X from xEvent where X.commerce.order.priceTotal >= 10")],
    "profile_array_lambda": [("s", "_acme.scores.filter((S) => S > 1).count() >= 2")],
    "chain_two_steps_when": [
        (
            "s",
            "chain(xEvent, timestamp, ["
            'A: WHAT(eventType = "view") WHEN(< 3 days before now), '
            'B: WHAT(eventType = "buy") WHEN(today)])',
        )
    ],
    "chain_count": [
        (
            "s",
            'chain(xEvent, timestamp, [A: WHAT(eventType = "view") COUNT(2), '
            'B: WHAT(eventType = "buy")])',
        )
    ],
    "segment_of_segments": [
        ("buyers", 'xEvent[eventType = "buy"].count() >= 2'),
        ("city-a", 'homeAddress.city = "a"'),
        ("city-a-buyers", 'inSegment("buyers") and inSegment("city-a")'),
    ],
    "let": [
        ("s", "let S = xEvent.sum(commerce.order.priceTotal) in (S > 10 and S < 50)"),
    ],
    "top_n": [("s", 'xEvent.topN(commerce.order.priceTotal, 2).head().eventType = "buy"')],
    "group_by": [("s", "_acme.orders.groupBy(storeId).keys().count() >= 2")],
}


def event(profile: str, at: datetime | None, kind: str, price: float | None = None) -> Row:
    return {
        PROFILE_ID_COLUMN: profile,
        "timestamp": at,
        "eventType": kind,
        "commerce": {"order": {"priceTotal": price}},
    }


def order(store: str | None, price: int | None) -> Row:
    return {"storeId": store, "price": price, "items": []}


def profile(key: str, city: str | None, points: int | None, acme: Row | None) -> Row:
    return {
        PROFILE_ID_COLUMN: key,
        "homeAddress": {"city": city},
        "loyalty": {"points": points},
        "_acme": acme,
    }


LAKE = Rows(
    profiles=[
        profile("p0", "a", 5, {"scores": [2, 3, 1], "orders": [order("s1", 10), order("s2", 20)]}),
        profile("p1", "b", 1, {"scores": [0, 5], "orders": [order("s1", 5), order("s1", 7)]}),
        profile("p2", "a", None, {"scores": [], "orders": []}),
        profile("p3", None, None, None),
    ],
    events=[
        event("p0", datetime(2025, 6, 17, 9), "view"),
        event("p0", datetime(2025, 6, 16, 9), "view"),
        event("p0", datetime(2025, 6, 18, 10), "buy", 25.0)
        | {"productListItems": [{"SKU": "a", "quantity": 2}]},
        event("p0", datetime(2025, 6, 18, 11), "buy", 10.0),
        event("p1", datetime(2025, 6, 10), "view", 100.0),
        event("p1", datetime(2025, 6, 17, 9), "view", 10.0),
        event("p1", datetime(2025, 6, 18, 9), "buy", 25.0),
        event("p1", None, "buy", 100.0),
        event("p2", datetime(2025, 6, 1), "buy", 25.0)
        | {"productListItems": [{"SKU": "b", "quantity": 1}]},
        event("p2", datetime(2025, 6, 1), "view", 2.5),
        event("p2", datetime(2025, 6, 18, 10), "view", 25.0),
    ],
)


@pytest.mark.parametrize("name", sorted(JOBS))
def test_golden_duckdb_sql(name: str, tmp_path: Path) -> None:
    segments = [(segment_id, check_text(text)) for segment_id, text in JOBS[name]]
    emitted = plan_segments(segments, NOW).sql(dialect="duckdb", pretty=True) + "\n"
    golden = GOLDEN / f"{name}.duckdb.sql"
    if os.environ.get("SEGMINT_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(emitted)
    assert emitted == golden.read_text()

    lake = write_rows(tmp_path / "lake", LAKE)
    _, rows = run(lake, segments, tmp_path / "out")
    by_duckdb = qualified_by_segment(rows)
    expected = interpreted_segments(lake, segments)
    everyone = {p[PROFILE_ID_COLUMN] for p in LAKE.profiles}
    for segment_id, _ in segments:
        assert by_duckdb.get(segment_id, set()) == expected[segment_id], segment_id
        assert set() < expected[segment_id] < everyone, segment_id
