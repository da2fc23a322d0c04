"""What the planner puts in event lists: only the fields read, flags for chain steps, and the
shared-aggregate forms of short chains."""

from __future__ import annotations

from engine_testkit import NOW, pql
from sqlglot import exp

from segmint.engine.sql import plan_segments
from segmint.engine.sql.fields import event_fields_used
from segmint.pql.walk import segment_references


def lists(plan: exp.Select) -> list[exp.ArrayAgg]:
    return list(plan.find_all(exp.ArrayAgg))


def test_only_the_fields_read_are_listed() -> None:
    used = event_fields_used(
        [
            pql(
                '(select X from xEvent where X.web.webPageDetails.name = "a" '
                'and X.timestamp occurs today).head()._id = "e1"'
            )
        ]
    )
    assert used == frozenset({"_id", "timestamp", "web"})


def test_whole_events_are_listed_when_compared_or_deduplicated() -> None:
    assert event_fields_used([pql("exists A from xEvent, B from xEvent where A != B")]) is None
    assert event_fields_used([pql("xEvent.distinct().count() > 1")]) is None


def test_profile_fields_are_not_event_fields() -> None:
    used = event_fields_used([pql("exists E from xEvent where E.eventType = homeAddress.city")])
    assert used == frozenset({"eventType", "timestamp"})


def test_a_list_struct_holds_the_read_fields() -> None:
    plan = plan_segments(
        [
            (
                "a",
                pql(
                    '(select X from xEvent where X.eventType = homeAddress.city).head()._id = "e1"'
                ),
            )
        ],
        NOW,
    )
    (listed,) = lists(plan)
    struct = listed.find(exp.Struct)
    assert struct is not None
    names = [e.this.name for e in struct.expressions]
    assert names == ["_id", "eventType", "timestamp"]


def test_a_two_step_chain_is_two_shared_aggregates() -> None:
    plan = plan_segments(
        [
            (
                "s",
                pql(
                    'chain(xEvent, timestamp, [A: WHAT(eventType = "a"), B: WHAT(eventType = "b")])'
                ),
            )
        ],
        NOW,
    )
    assert not lists(plan)
    functions = {type(f.this) for f in plan.find_all(exp.Filter)}
    assert functions == {exp.Min, exp.Max}


def test_a_counted_chain_lists_step_flags() -> None:
    text = 'chain(xEvent, timestamp, [A: WHAT(eventType = "a") COUNT(2), B: WHAT(eventType = "b")])'
    (listed,) = lists(plan_segments([("s", pql(text))], NOW))
    struct = listed.find(exp.Struct)
    assert struct is not None
    assert [e.this.name for e in struct.expressions] == ["timestamp", "__step0", "__step1"]


def test_a_chain_reading_an_earlier_label_lists_events() -> None:
    text = (
        'chain(xEvent, timestamp, [A: WHAT(eventType = "a"), '
        'B: WHAT(eventType = "b" and timestamp occurs < 1 hours after A.timestamp)])'
    )
    (listed,) = lists(plan_segments([("s", pql(text))], NOW))
    struct = listed.find(exp.Struct)
    assert struct is not None and "eventType" in [e.this.name for e in struct.expressions]


def test_lists_have_a_grouped_pass_of_their_own() -> None:
    plan = plan_segments(
        [
            ("c", pql("xEvent.count() > 2")),
            ("h", pql('xEvent.head().eventType = "a"')),
        ],
        NOW,
    )
    assert len(list(plan.find_all(exp.Group))) == 2
    assert [cte.alias for cte in plan.args["with_"].expressions] == ["event_counts", "event_lists"]


def test_segment_references() -> None:
    expression = pql('inSegment("a") and (inSegment("b") or not inSegment("a"))')
    assert segment_references(expression) == {"a", "b"}
