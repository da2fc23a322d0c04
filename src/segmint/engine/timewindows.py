"""PQL time semantics (pql.md §6.3): the one place that turns an ``occurs`` into literal bounds.

The interpreter and every SQL compiler call :func:`occurs_bounds`, so both evaluate the same
intervals, computed in Python from the job's fixed ``now``. Decisions:

* every time reference is a half-open UTC interval ``[start, end)``; ``now`` is an instant;
* weeks are ISO weeks (Monday 00:00 UTC); decades, centuries and millennia start at years
  divisible by 10, 100 and 1000;
* months and years use calendar arithmetic, clamping the day of month (31 Mar - 1 month =
  28/29 Feb);
* ``occurs = N UNIT …`` compares at UNIT granularity; ``!=`` is its complement for a non-null
  target;
* a DATE target compares by day: each bound is truncated to its UTC day, its comparison kept;
* bounds outside ``datetime``'s range are clamped, so a window reaching past year 1 or 9999 is
  open on that side;
* an anchor that is a value (``Y.timestamp``, a ``date(…)`` computed at run time) is known only
  per profile: :func:`occurs_bounds` (what SQL compiles) rejects it, and the interpreter passes
  its :func:`value_period` to :func:`occurs_window`. A date-time value is an instant, a date a
  UTC day.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Generic, TypeVar

from segmint.engine.interpreter.runtime import unsupported
from segmint.pql.ast import Literal, LiteralKind, Occurs, TimeRef, TimeUnit

T = TypeVar("T", bound=date)

_FIXED: dict[TimeUnit, timedelta] = {
    TimeUnit.MILLISECOND: timedelta(milliseconds=1),
    TimeUnit.SECOND: timedelta(seconds=1),
    TimeUnit.MINUTE: timedelta(minutes=1),
    TimeUnit.HOUR: timedelta(hours=1),
    TimeUnit.DAY: timedelta(days=1),
    TimeUnit.WEEK: timedelta(weeks=1),
}
_MONTHS: dict[TimeUnit, int] = {
    TimeUnit.MONTH: 1,
    TimeUnit.YEAR: 12,
    TimeUnit.DECADE: 120,
    TimeUnit.CENTURY: 1200,
    TimeUnit.MILLENNIUM: 12000,
}
_YEAR_SPAN: dict[TimeUnit, int] = {
    TimeUnit.YEAR: 1,
    TimeUnit.DECADE: 10,
    TimeUnit.CENTURY: 100,
    TimeUnit.MILLENNIUM: 1000,
}
_RELATIVE_PERIODS = {"this": 0, "last": -1, "next": 1}
_DAY_WORDS = {"today": 0, "yesterday": -1, "tomorrow": 1}


def utc_naive(moment: datetime) -> datetime:
    """``moment`` as a naive UTC datetime (the lake stores TIMESTAMP without zone, in UTC)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Interval(Generic[T]):
    """A set of instants (or days) between ``lo`` and ``hi``; ``None`` means unbounded."""

    lo: T | None
    hi: T | None
    lo_inclusive: bool = True
    hi_inclusive: bool = False

    def contains(self, value: T) -> bool:
        if self.lo is not None and (
            value < self.lo or (value == self.lo and not self.lo_inclusive)
        ):
            return False
        return not (
            self.hi is not None
            and (value > self.hi or (value == self.hi and not self.hi_inclusive))
        )

    def is_empty(self) -> bool:
        if self.lo is None or self.hi is None:
            return False
        return self.lo > self.hi or (
            self.lo == self.hi and not (self.lo_inclusive and self.hi_inclusive)
        )

    def by_day(self) -> Interval[date]:
        """The same comparisons applied to days: each bound truncated to its UTC day."""
        return Interval(_day(self.lo), _day(self.hi), self.lo_inclusive, self.hi_inclusive)


def _day(moment: date | None) -> date | None:
    if isinstance(moment, datetime):
        return moment.date()
    return moment


@dataclass(frozen=True)
class OccursWindow:
    """The instants an ``occurs`` accepts: a union of disjoint intervals (empty = never)."""

    intervals: tuple[Interval[datetime], ...]

    def by_day(self) -> tuple[Interval[date], ...]:
        return tuple(i.by_day() for i in self.intervals)

    def contains(self, value: date | None) -> bool:
        """Whether the target value lies in the window; a null target never does."""
        if value is None:
            return False
        if isinstance(value, datetime):
            moment = utc_naive(value)
            return any(i.contains(moment) for i in self.intervals)
        return any(i.contains(value) for i in self.by_day())


@dataclass(frozen=True)
class Period:
    """A time reference as an interval ``[start, end)``; an instant has ``start == end``."""

    start: datetime
    end: datetime
    instant: bool = False


# --- calendar arithmetic ----------------------------------------------------------------------


def _clamped(compute: Callable[[], datetime], forward: bool) -> datetime:
    try:
        return compute()
    except (OverflowError, ValueError):
        return datetime.max if forward else datetime.min


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1]) if 1 <= year <= 9999 else 1
    return moment.replace(year=year, month=month + 1, day=day)


def shift(moment: datetime, unit: TimeUnit, amount: int) -> datetime:
    """``moment`` moved by ``amount`` units (negative = back), clamped to datetime's range."""
    if unit in _FIXED:
        return _clamped(lambda: moment + _FIXED[unit] * amount, amount >= 0)
    return _clamped(lambda: _add_months(moment, _MONTHS[unit] * amount), amount >= 0)


def truncate(moment: datetime, unit: TimeUnit) -> datetime:
    """The start of the calendar ``unit`` containing ``moment``."""
    if unit is TimeUnit.MILLISECOND:
        return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)
    if unit in (TimeUnit.SECOND, TimeUnit.MINUTE, TimeUnit.HOUR, TimeUnit.DAY):
        return _truncate_clock(moment, unit)
    if unit is TimeUnit.WEEK:
        day = _truncate_clock(moment, TimeUnit.DAY)
        return _clamped(lambda: day - timedelta(days=day.weekday()), False)
    month_start = _truncate_clock(moment, TimeUnit.DAY).replace(day=1)
    if unit is TimeUnit.MONTH:
        return month_start
    span = _YEAR_SPAN[unit]
    return _clamped(
        lambda: month_start.replace(year=moment.year - moment.year % span, month=1), False
    )


def _truncate_clock(moment: datetime, unit: TimeUnit) -> datetime:
    start = moment.replace(microsecond=0)
    if unit is TimeUnit.SECOND:
        return start
    start = start.replace(second=0)
    if unit is TimeUnit.MINUTE:
        return start
    start = start.replace(minute=0)
    return start if unit is TimeUnit.HOUR else start.replace(hour=0)


# --- time references --------------------------------------------------------------------------


def reference_period(anchor: object, now: datetime) -> Period:
    """The interval a time reference denotes (``now``, ``today``, ``last month``, a date …)."""
    if isinstance(anchor, Literal) and anchor.kind is LiteralKind.DATE:
        return _date_period(anchor)
    if isinstance(anchor, TimeRef):
        return _time_ref_period(anchor, utc_naive(now))
    raise unsupported(anchor, "an occurs anchor other than a time word or date(...)")


def _date_period(anchor: Literal) -> Period:
    value = anchor.value
    if not isinstance(value, date) or isinstance(value, datetime):
        raise unsupported(anchor, "a date literal that is not a calendar day")
    return value_period(value)


def value_period(value: date) -> Period:
    """The reference a date or date-time value denotes: its UTC day, or the instant."""
    if isinstance(value, datetime):
        moment = utc_naive(value)
        return Period(moment, moment, instant=True)
    start = datetime(value.year, value.month, value.day)
    return Period(start, shift(start, TimeUnit.DAY, 1))


def is_fixed_anchor(anchor: object) -> bool:
    """Whether :func:`reference_period` knows ``anchor`` without evaluating anything."""
    return isinstance(anchor, TimeRef) or (
        isinstance(anchor, Literal) and anchor.kind is LiteralKind.DATE
    )


def _time_ref_period(ref: TimeRef, now: datetime) -> Period:
    kind = ref.kind.lower()
    if kind == "now" and ref.unit is None:
        return Period(now, now, instant=True)
    if kind in _DAY_WORDS and ref.unit is None:
        return _unit_period(now, TimeUnit.DAY, _DAY_WORDS[kind])
    if kind in _RELATIVE_PERIODS and ref.unit is not None:
        return _unit_period(now, ref.unit, _RELATIVE_PERIODS[kind])
    raise unsupported(ref, f"the time reference {ref.kind!r}")


def _unit_period(now: datetime, unit: TimeUnit, offset: int) -> Period:
    start = shift(truncate(now, unit), unit, offset)
    return Period(start, shift(start, unit, 1))


# --- occurs forms -----------------------------------------------------------------------------


def occurs_bounds(node: Occurs, now: datetime) -> OccursWindow:
    """The window of target instants for which ``node`` (an ``occurs``) is true at ``now``;
    its anchors must be time words or date literals."""
    first = reference_period(node.anchor, now)
    second = None if node.anchor2 is None else reference_period(node.anchor2, now)
    return occurs_window(node, first, second)


def occurs_window(node: Occurs, anchor: Period, anchor2: Period | None = None) -> OccursWindow:
    """The window of ``node``'s form around already-known anchor periods."""
    if node.form == "direction":
        intervals = _direction(node, anchor)
    elif node.form == "on":
        intervals = _on(anchor)
    elif node.form == "between":
        intervals = _between(node, anchor, anchor2)
    elif node.form == "relative":
        intervals = _relative(node, anchor)
    else:
        raise unsupported(node, f"the occurs form {node.form!r}")
    return OccursWindow(tuple(_normalized(i) for i in intervals if _within_calendar(i)))


def _within_calendar(interval: Interval[datetime]) -> bool:
    """Drop empty windows, and those lying wholly past datetime's range (clamped bounds)."""
    return not (interval.is_empty() or interval.lo == datetime.max or interval.hi == datetime.min)


def _normalized(interval: Interval[datetime]) -> Interval[datetime]:
    """A bound clamped to the calendar's edge means "unbounded" on that side."""
    lo = None if interval.lo == datetime.min else interval.lo
    hi = None if interval.hi == datetime.max else interval.hi
    return Interval(
        lo, hi, interval.lo_inclusive or lo is None, interval.hi_inclusive or hi is None
    )


def _direction(node: Occurs, period: Period) -> list[Interval[datetime]]:
    if node.direction == "before":
        return [Interval(None, period.start)]
    if node.direction in ("after", "from"):
        return [Interval(period.end, None, lo_inclusive=not period.instant)]
    raise unsupported(node, f"the occurs direction {node.direction!r}")


def _on(period: Period) -> list[Interval[datetime]]:
    if period.instant:
        day = truncate(period.start, TimeUnit.DAY)
        return [Interval(day, shift(day, TimeUnit.DAY, 1))]
    return [Interval(period.start, period.end)]


def _between(node: Occurs, first: Period, last: Period | None) -> list[Interval[datetime]]:
    if last is None:
        raise unsupported(node, "occurs between without a second anchor")
    return [Interval(first.start, last.end, hi_inclusive=last.instant)]


def _relative(node: Occurs, period: Period) -> list[Interval[datetime]]:
    amount, unit, comparator = node.amount, node.unit, node.comparator
    if amount is None or unit is None or comparator is None or amount < 0:
        raise unsupported(node, "an occurs without a non-negative amount, a unit and a comparator")
    if node.direction not in ("before", "after", "from"):
        raise unsupported(node, f"the occurs direction {node.direction!r}")
    before = node.direction == "before"
    if comparator in ("=", "!="):
        return _exact(period, unit, -amount if before else amount, comparator == "=")
    if before:
        return _before(period.start, shift(period.start, unit, -amount), comparator, node)
    return _after(period.end, shift(period.end, unit, amount), comparator, node)


def _exact(period: Period, unit: TimeUnit, amount: int, equal: bool) -> list[Interval[datetime]]:
    start = shift(truncate(period.start, unit), unit, amount)
    end = shift(start, unit, 1)
    if equal:
        return [Interval(start, end)]
    return [Interval(None, start), Interval(end, None)]


def _before(
    anchor: datetime, point: datetime, comparator: str, node: Occurs
) -> list[Interval[datetime]]:
    """``Δ = anchor - T`` must be positive, then ``Δ CMP N units`` with ``point = anchor - N``."""
    if comparator == "<=":
        return [Interval(point, anchor)]
    if comparator == "<":
        return [Interval(point, anchor, lo_inclusive=False)]
    if comparator in (">=", ">"):
        inclusive = comparator == ">=" and point < anchor
        return [Interval(None, min(point, anchor), hi_inclusive=inclusive)]
    raise unsupported(node, f"the occurs comparator {comparator!r}")


def _after(
    anchor: datetime, point: datetime, comparator: str, node: Occurs
) -> list[Interval[datetime]]:
    """``Δ = T - anchor`` must be >= 0, then ``Δ CMP N units`` with ``point = anchor + N``."""
    if comparator == "<=":
        return [Interval(anchor, point, hi_inclusive=True)]
    if comparator == "<":
        return [Interval(anchor, point)]
    if comparator == ">=":
        return [Interval(point, None)]
    if comparator == ">":
        return [Interval(point, None, lo_inclusive=False)]
    raise unsupported(node, f"the occurs comparator {comparator!r}")
