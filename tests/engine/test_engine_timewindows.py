"""occurs → literal bounds (pql.md §6.3), checked against dates worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from engine_testkit import NOW, pql

from segmint.engine.timewindows import Interval, occurs_bounds, shift, truncate
from segmint.pql.ast import Occurs, TimeRef, TimeUnit
from segmint.pql.errors import PQLUnsupportedError


def window(text: str, now: datetime = NOW) -> list[Interval[datetime]]:
    node = pql(text)
    assert isinstance(node, Occurs)
    return list(occurs_bounds(node, now).intervals)


def d(*parts: int) -> datetime:
    return datetime(*parts)  # type: ignore[arg-type]


JOIN = "loyalty.joinDate occurs "

# now = Wed 2025-06-18 14:30; today = [06-18, 06-19); this week starts Mon 06-16.
CASES = [
    ("today", [Interval(d(2025, 6, 18), d(2025, 6, 19))]),
    ("yesterday", [Interval(d(2025, 6, 17), d(2025, 6, 18))]),
    ("tomorrow", [Interval(d(2025, 6, 19), d(2025, 6, 20))]),
    ("on now", [Interval(d(2025, 6, 18), d(2025, 6, 19))]),
    ("this week", [Interval(d(2025, 6, 16), d(2025, 6, 23))]),
    ("last week", [Interval(d(2025, 6, 9), d(2025, 6, 16))]),
    ("next week", [Interval(d(2025, 6, 23), d(2025, 6, 30))]),
    ("last month", [Interval(d(2025, 5, 1), d(2025, 6, 1))]),
    ("this year", [Interval(d(2025, 1, 1), d(2026, 1, 1))]),
    ("next year", [Interval(d(2026, 1, 1), d(2027, 1, 1))]),
    ("this decade", [Interval(d(2020, 1, 1), d(2030, 1, 1))]),
    ("last century", [Interval(d(1900, 1, 1), d(2000, 1, 1))]),
    ("this hour", [Interval(d(2025, 6, 18, 14), d(2025, 6, 18, 15))]),
    ("date(2025, 2, 28)", [Interval(d(2025, 2, 28), d(2025, 3, 1))]),
    ("on date(2024, 12, 31)", [Interval(d(2024, 12, 31), d(2025, 1, 1))]),
    ("before today", [Interval(None, d(2025, 6, 18))]),
    ("before now", [Interval(None, NOW)]),
    ("after today", [Interval(d(2025, 6, 19), None, hi_inclusive=True)]),
    ("from last month", [Interval(d(2025, 6, 1), None, hi_inclusive=True)]),
    ("after now", [Interval(NOW, None, lo_inclusive=False, hi_inclusive=True)]),
    (
        "between last month and yesterday",
        [Interval(d(2025, 5, 1), d(2025, 6, 18))],
    ),
    (
        "between date(2025, 1, 1) and now",
        [Interval(d(2025, 1, 1), NOW, hi_inclusive=True)],
    ),
    ("<= 7 days before today", [Interval(d(2025, 6, 11), d(2025, 6, 18))]),
    ("< 7 days before today", [Interval(d(2025, 6, 11), d(2025, 6, 18), lo_inclusive=False)]),
    ("<= 3 days before now", [Interval(NOW - timedelta(days=3), NOW)]),
    (">= 2 days before today", [Interval(None, d(2025, 6, 16), hi_inclusive=True)]),
    ("> 2 days before today", [Interval(None, d(2025, 6, 16))]),
    (">= 0 days before today", [Interval(None, d(2025, 6, 18))]),
    ("<= 24 hours after now", [Interval(NOW, NOW + timedelta(hours=24), hi_inclusive=True)]),
    ("< 1 week after today", [Interval(d(2025, 6, 19), d(2025, 6, 26))]),
    (">= 1 month after today", [Interval(d(2025, 7, 19), None, hi_inclusive=True)]),
    (
        "> 1 day after now",
        [Interval(NOW + timedelta(days=1), None, lo_inclusive=False, hi_inclusive=True)],
    ),
    ("= 3 days before today", [Interval(d(2025, 6, 15), d(2025, 6, 16))]),
    ("= 3 hours before now", [Interval(d(2025, 6, 18, 11), d(2025, 6, 18, 12))]),
    ("= 1 day after today", [Interval(d(2025, 6, 19), d(2025, 6, 20))]),
    ("= 1 month before this month", [Interval(d(2025, 5, 1), d(2025, 6, 1))]),
    ("= 0 weeks after now", [Interval(d(2025, 6, 16), d(2025, 6, 23))]),
    (
        "!= 3 days before today",
        [Interval(None, d(2025, 6, 15)), Interval(d(2025, 6, 16), None, hi_inclusive=True)],
    ),
]


@pytest.mark.parametrize(("occurs", "expected"), CASES, ids=[c[0] for c in CASES])
def test_occurs_window(occurs: str, expected: list[Interval[datetime]]) -> None:
    assert window(JOIN + occurs) == expected


def test_one_month_before_today_is_the_documented_28_jul_to_27_aug() -> None:
    # pql.md §6.3: run on 28 Aug, "<= 1 month before today" covers 28 Jul … 27 Aug.
    (interval,) = window(JOIN + "<= 1 month before today", d(2025, 8, 28, 9))
    assert interval == Interval(d(2025, 7, 28), d(2025, 8, 28))


def test_month_arithmetic_clamps_the_day() -> None:
    (interval,) = window(JOIN + "<= 1 month before today", d(2025, 3, 31, 12))
    assert interval.lo == d(2025, 2, 28)
    assert shift(d(2024, 2, 29), TimeUnit.YEAR, -1) == d(2023, 2, 28)
    assert shift(d(2024, 1, 31), TimeUnit.MONTH, 1) == d(2024, 2, 29)


def test_weeks_start_on_monday() -> None:
    sunday = d(2025, 6, 22, 23, 59)
    assert truncate(sunday, TimeUnit.WEEK) == d(2025, 6, 16)
    assert truncate(d(2025, 6, 23), TimeUnit.WEEK) == d(2025, 6, 23)


def test_truncation_of_every_unit() -> None:
    moment = datetime(2025, 6, 18, 14, 30, 45, 123456)
    expected = {
        TimeUnit.MILLISECOND: datetime(2025, 6, 18, 14, 30, 45, 123000),
        TimeUnit.SECOND: datetime(2025, 6, 18, 14, 30, 45),
        TimeUnit.MINUTE: datetime(2025, 6, 18, 14, 30),
        TimeUnit.HOUR: datetime(2025, 6, 18, 14),
        TimeUnit.DAY: datetime(2025, 6, 18),
        TimeUnit.WEEK: datetime(2025, 6, 16),
        TimeUnit.MONTH: datetime(2025, 6, 1),
        TimeUnit.YEAR: datetime(2025, 1, 1),
        TimeUnit.DECADE: datetime(2020, 1, 1),
        TimeUnit.CENTURY: datetime(2000, 1, 1),
        TimeUnit.MILLENNIUM: datetime(2000, 1, 1),
    }
    assert {unit: truncate(moment, unit) for unit in TimeUnit} == expected


def test_windows_past_the_calendar_range_are_open() -> None:
    (interval,) = window(JOIN + "<= 5000 years before now")
    assert interval == Interval(None, NOW)
    assert window(JOIN + "> 9000 years after now") == []


def test_an_aware_now_is_read_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    aware = datetime(2025, 6, 19, 0, 30, tzinfo=paris)  # 2025-06-18 22:30 UTC
    (interval,) = window(JOIN + "today", aware)
    assert interval == Interval(d(2025, 6, 18), d(2025, 6, 19))
    assert window(JOIN + "today", NOW.replace(tzinfo=UTC)) == window(JOIN + "today")


def test_date_targets_compare_by_day() -> None:
    node = pql("person.birthDate occurs >= 21 years before today")
    assert isinstance(node, Occurs)
    result = occurs_bounds(node, NOW)
    assert result.by_day() == (Interval(None, date(2004, 6, 18), hi_inclusive=True),)
    assert result.contains(date(2004, 6, 18))
    assert not result.contains(date(2004, 6, 19))
    recent = occurs_bounds(pql("person.birthDate occurs <= 1 days before now"), NOW)
    assert recent.contains(date(2025, 6, 17)) and not recent.contains(date(2025, 6, 18))


def test_a_null_target_is_never_inside() -> None:
    assert not occurs_bounds(pql(JOIN + "before now"), NOW).contains(None)


def test_unknown_time_words_are_unsupported() -> None:
    node = Occurs(pql("loyalty.joinDate"), "on", TimeRef("someday"))
    with pytest.raises(PQLUnsupportedError, match="someday"):
        occurs_bounds(node, NOW)
