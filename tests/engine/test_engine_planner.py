"""The one-pass plan: a single GROUP BY over events with one FILTER column per distinct event
condition (shared across segments), LEFT JOINed to profiles, one boolean per segment.

The compiled SQL of a three-segment job is kept as a golden file; regenerate it on purpose with
``SEGMINT_UPDATE_GOLDEN=1 pytest tests/engine/test_engine_planner.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine_testkit import NOW, pql
from sqlglot import exp

from segmint.engine import plan_segments

GOLDEN = Path(__file__).parent / "golden" / "three_segments.duckdb.sql"

PURCHASES_30_DAYS = (
    '{v}.eventType = "commerce.purchases" and {v}.timestamp occurs <= 30 days before now'
)
THREE_SEGMENTS = [
    ("us-millennials", pql('homeAddress.countryCode = "US" and person.birthYear >= 1980')),
    (
        "repeat-buyers",
        pql(f"(select X from xEvent where {PURCHASES_30_DAYS.format(v='X')}).count() >= 2"),
    ),
    (
        "gold-buyers",
        pql(
            'loyalty.tier.equals("gold", false) and '
            f"(select Y from xEvent where {PURCHASES_30_DAYS.format(v='Y')})"
        ),
    ),
]


def filters(plan: exp.Select) -> list[exp.Filter]:
    return list(plan.find_all(exp.Filter))


def test_golden_sql_for_three_segments() -> None:
    emitted = plan_segments(THREE_SEGMENTS, NOW).sql(dialect="duckdb", pretty=True) + "\n"
    if os.environ.get("SEGMINT_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(emitted)
    assert emitted == GOLDEN.read_text()


def test_one_group_by_over_events_and_one_column_per_distinct_condition() -> None:
    plan = plan_segments(THREE_SEGMENTS, NOW)
    groups = list(plan.find_all(exp.Group))
    assert len(groups) == 1
    aggregate = groups[0].parent
    assert isinstance(aggregate, exp.Select)
    assert aggregate.args["from_"].this.name == "events"
    # repeat-buyers and gold-buyers use the same condition (X vs Y): computed once.
    assert len(filters(plan)) == 1
    assert [s.alias_or_name for s in plan.selects] == ["__profile_id", "seg_0", "seg_1", "seg_2"]
    joins = plan.args["joins"]
    assert len(joins) == 1 and joins[0].side == "LEFT"


def test_unconditional_counts_are_shared_and_disable_the_prefilter() -> None:
    plan = plan_segments(
        [
            ("a", pql("xEvent.count() > 2")),
            ("b", pql("xEvent and xEvent.count() < 10")),
            ("c", pql('select X from xEvent where X.eventType = "a"')),
        ],
        NOW,
    )
    counts = [c for c in plan.find_all(exp.Count) if not isinstance(c.parent, exp.Filter)]
    assert len(counts) == 1
    assert len(filters(plan)) == 1
    (group,) = plan.find_all(exp.Group)
    assert group.parent is not None and group.parent.args.get("where") is None


def test_only_matching_events_are_grouped_when_every_count_is_filtered() -> None:
    plan = plan_segments(THREE_SEGMENTS, NOW)
    (group,) = plan.find_all(exp.Group)
    assert group.parent is not None and group.parent.args.get("where") is not None


def test_profile_only_segments_do_not_read_events() -> None:
    plan = plan_segments([("a", pql('homeAddress.city = "Paris"'))], NOW)
    assert not list(plan.find_all(exp.Group))
    assert not plan.args.get("joins")
    assert not plan.args.get("with_")


def test_without_events_every_count_is_zero() -> None:
    plan = plan_segments(THREE_SEGMENTS, NOW, events=None)
    assert not list(plan.find_all(exp.Group)) and not plan.args.get("joins")
    assert "COALESCE(0 >= 2, FALSE)" in plan.sql(dialect="duckdb")


def test_table_sources_and_passed_through_columns() -> None:
    profiles = exp.func("read_parquet", exp.Literal.string("p.parquet"))
    plan = plan_segments(
        THREE_SEGMENTS[:1], NOW, profiles=profiles, profile_columns=("identityMap",)
    )
    assert plan.sql(dialect="duckdb").startswith('SELECT "p"."__profile_id", "p"."identityMap", ')
    assert "FROM READ_PARQUET('p.parquet') AS \"p\"" in plan.sql(dialect="duckdb")
