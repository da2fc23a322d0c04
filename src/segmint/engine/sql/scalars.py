"""Scalar rules of the compiler: regular expressions, calendar parts, ``if``, ``date()``, and
``occurs`` anchored on a value (pql.md §6-7).

The SQL matches the interpreter (:mod:`segmint.engine.interpreter`) exactly:

* ``matches``/``regexGroup`` take a literal Java pattern, rewritten for the dialect's regex
  engine by :meth:`ScalarRules.regex_pattern` (RE2 by default, :mod:`.re2`); no match, a null
  text or a group that took no part give null; a projected (array) text is not supported;
* ``getYear()``/``getMonth()``/``getDayOfMonth()`` read the UTC calendar of a DATE or TIMESTAMP;
* ``if(test, a, b)`` takes ``b`` when the test is null; an integer branch next to a double one
  is cast to DOUBLE;
* ``date(y, m, d)`` is null when a part is null or the day does not exist; constant parts
  (literals, ``current*()``, arithmetic) are folded into a literal;
* ``occurs`` relative to a value (``X.ts``, a run-time ``date(…)``) evaluates the same windows as
  :func:`segmint.engine.timewindows.occurs_window`, with the anchor's bounds computed per row: a
  date-time value is an instant, a date a UTC day, a null anchor matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sqlglot import exp

from segmint.engine.interpreter.evaluator import value as interpreted_value
from segmint.engine.interpreter.regex import RegexUnsupported
from segmint.engine.sql.compiler import (
    Compiler,
    ValueRow,
    balanced,
    never_null,
    paren,
    temporal_literal,
)
from segmint.engine.sql.re2 import Re2Pattern, Re2Unsupported, translate
from segmint.engine.timewindows import (
    OccursWindow,
    Period,
    is_fixed_anchor,
    occurs_window,
    reference_period,
    value_period,
)
from segmint.pql.ast import (
    Binary,
    Expr,
    FunctionCall,
    Literal,
    MethodCall,
    Occurs,
    TimeUnit,
    Unary,
    VarRef,
)
from segmint.pql.errors import PQLUnsupportedError
from segmint.pql.types import DATE, DATETIME, DOUBLE, INTEGER, ArrayType, PQLType, ScalarType

_CALENDAR_PARTS = {"getYear": "YEAR", "getMonth": "MONTH", "getDayOfMonth": "DAY"}
_FOLDABLE_FUNCTIONS = frozenset({"currentYear", "currentMonth", "currentDayOfMonth", "date"})
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})
_CASTS: dict[PQLType, str] = {DOUBLE: "DOUBLE", DATETIME: "TIMESTAMP"}
# unit -> (SQL interval unit, how many of them)
_STEPS: dict[TimeUnit, tuple[str, int]] = {
    TimeUnit.MILLISECOND: ("MILLISECOND", 1),
    TimeUnit.SECOND: ("SECOND", 1),
    TimeUnit.MINUTE: ("MINUTE", 1),
    TimeUnit.HOUR: ("HOUR", 1),
    TimeUnit.DAY: ("DAY", 1),
    TimeUnit.WEEK: ("DAY", 7),
    TimeUnit.MONTH: ("MONTH", 1),
    TimeUnit.YEAR: ("MONTH", 12),
    TimeUnit.DECADE: ("MONTH", 120),
    TimeUnit.CENTURY: ("MONTH", 1200),
    TimeUnit.MILLENNIUM: ("MONTH", 12000),
}


@dataclass(frozen=True)
class Moments:
    """A time reference known per row: ``[start, end)`` as TIMESTAMPs, or an instant."""

    start: exp.Expr
    end: exp.Expr
    instant: bool


@dataclass(frozen=True)
class Bounds:
    """One interval of accepted instants with SQL bounds (``None``: unbounded)."""

    lo: exp.Expr | None
    hi: exp.Expr | None
    lo_inclusive: bool = True
    hi_inclusive: bool = False


def foldable(node: Expr) -> bool:
    """Whether ``node`` is known without a profile: literals, ``current*()``, ``date()`` and
    arithmetic over them."""
    if isinstance(node, Literal):
        return True
    if isinstance(node, FunctionCall):
        return node.name in _FOLDABLE_FUNCTIONS and all(foldable(arg) for arg in node.args)
    if isinstance(node, Binary):
        return node.op in _ARITHMETIC and foldable(node.left) and foldable(node.right)
    return isinstance(node, Unary) and node.op == "-" and foldable(node.operand)


def shift(moment: exp.Expr, unit: TimeUnit, amount: int) -> exp.Expr:
    """``moment`` moved by ``amount`` units, months clamping the day like the interpreter."""
    if amount == 0:
        return moment
    name, size = _STEPS[unit]
    interval = exp.Interval(this=exp.Literal.string(str(abs(amount) * size)), unit=exp.var(name))
    step = exp.Add if amount > 0 else exp.Sub
    return exp.Paren(this=step(this=paren(moment), expression=interval))


def truncate(moment: exp.Expr, unit: TimeUnit) -> exp.Expr:
    """The start of the calendar ``unit`` holding ``moment`` (ISO weeks; decades, centuries and
    millennia at years divisible by 10, 100, 1000)."""
    return exp.TimestampTrunc(this=moment, unit=exp.var(unit.name))


class ScalarRules(Compiler):
    """``method_<name>`` / ``function_<name>`` rules for scalar values."""

    # --- dialect hooks --------------------------------------------------------------------------

    def regex_pattern(self, pattern: str) -> Re2Pattern:
        """A Java pattern in the dialect's regex syntax (RE2 here; Java engines keep it)."""
        return translate(pattern)

    def regex_find(self, text: exp.Expr, pattern: str) -> exp.Expr:
        """Whether ``pattern`` matches somewhere in ``text`` (null for a null text)."""
        return exp.RegexpLike(this=text, expression=exp.Literal.string(pattern))

    def regex_extract(self, text: exp.Expr, pattern: str, group: int) -> exp.Expr:
        """Group ``group`` of the first match; "" when nothing matched or it took no part."""
        return exp.RegexpExtract(
            this=text, expression=exp.Literal.string(pattern), group=exp.Literal.number(group)
        )

    def make_date(self, year: exp.Expr, month: exp.Expr, day: exp.Expr) -> exp.Expr:
        """The DATE of three integers; null when one is null or the day does not exist."""
        in_range = exp.Between(
            this=paren(year.copy()), low=exp.Literal.number(1), high=exp.Literal.number(9999)
        )
        built = exp.Try(this=exp.func("MAKE_DATE", year, month, day))
        return exp.Case(ifs=[exp.If(this=in_range, true=built)])

    # --- regular expressions (§7.4) -------------------------------------------------------------

    def visit_Binary(self, node: Binary) -> exp.Expr:
        if node.op == "matches":
            return self._matches(node.left, node.right)
        return super().visit_Binary(node)

    def method_matches(self, node: MethodCall) -> exp.Expr:
        if len(node.args) != 1:
            raise self.unsupported(node, f"matches() with {len(node.args)} arguments")
        return self._matches(node.target, node.args[0])

    def _matches(self, text: Expr, pattern: Expr) -> exp.Expr:
        self._require_scalar(text, "matches on this value")
        regex = self._regex(pattern)
        return never_null(self.regex_find(self.visit(text), regex.pattern))

    def method_regexGroup(self, node: MethodCall) -> exp.Expr:
        if len(node.args) not in (1, 2):
            raise self.unsupported(node, f"regexGroup() with {len(node.args)} arguments")
        self._require_scalar(node.target, "regexGroup() on this value")
        regex = self._regex(node.args[0])
        group = self._group_number(node, regex)
        return self._group_text(node, self.visit(node.target), regex, group)

    def _regex(self, pattern: Expr) -> Re2Pattern:
        if not (isinstance(pattern, Literal) and isinstance(pattern.value, str)):
            raise self.unsupported(pattern, "a regular expression that is not a string literal")
        try:
            return self.regex_pattern(pattern.value)
        except Re2Unsupported as error:
            what = f"{error.message} in the regular expression {pattern.value!r}"
            raise self.unsupported(pattern, what) from None
        except RegexUnsupported as error:
            raise _located(error, pattern) from None

    def _group_number(self, node: MethodCall, regex: Re2Pattern) -> int:
        if len(node.args) < 2:
            return 0
        group = node.args[1]
        if not (isinstance(group, Literal) and isinstance(group.value, int)):
            raise self.unsupported(group, "a regexGroup() group that is not an integer literal")
        java_groups = regex.groups - (regex.end_group is not None)
        if not 0 <= group.value <= java_groups:
            raise self.unsupported(group, f"regexGroup() group {group.value} of {java_groups}")
        return group.value

    def _group_text(
        self, node: MethodCall, text: exp.Expr, regex: Re2Pattern, group: int
    ) -> exp.Expr:
        """The group's text, null when nothing matched or the group took no part: ``NULLIF(…,
        '')`` when the group never captures "", else only when the pattern did not match."""
        found = self.regex_extract(text.copy(), regex.pattern, group)
        if regex.end_group is not None and (group == 0 or group in regex.around_end):
            newline = self.regex_extract(text.copy(), regex.pattern, regex.end_group)
            kept = exp.Sub(this=exp.Length(this=found.copy()), expression=exp.Length(this=newline))
            found = exp.Left(this=found, expression=kept)
        if group in regex.nonempty:
            return exp.Nullif(this=found, expression=exp.Literal.string(""))
        if group in regex.optional:
            what = f"regexGroup() of group {group}, which may be empty or take no part"
            raise self.unsupported(node, what)
        matched = self.regex_find(text.copy(), regex.pattern)
        return exp.Case(ifs=[exp.If(this=matched, true=found)])

    # --- calendar (§6.1) ------------------------------------------------------------------------

    def method_getYear(self, node: MethodCall) -> exp.Expr:
        return self._calendar_part(node)

    def method_getMonth(self, node: MethodCall) -> exp.Expr:
        return self._calendar_part(node)

    def method_getDayOfMonth(self, node: MethodCall) -> exp.Expr:
        return self._calendar_part(node)

    def _calendar_part(self, node: MethodCall) -> exp.Expr:
        if node.args:
            raise self.unsupported(node, f"{node.method}() with arguments")
        self._require_temporal(node.target, f"{node.method}()")
        part = exp.var(_CALENDAR_PARTS[node.method])
        return exp.Extract(this=part, expression=self.visit(node.target))

    def _require_temporal(self, node: Expr, what: str) -> ScalarType:
        value_type = self._require_scalar(node, f"{what} on this value")
        if value_type not in (DATE, DATETIME):
            raise self.unsupported(node, f"{what} on a {value_type} value")
        return value_type

    # --- if and date (§7.1, §6.1) ---------------------------------------------------------------

    def function_if(self, node: FunctionCall) -> exp.Expr:
        if len(node.args) != 3:
            raise self.unsupported(node, f"if() with {len(node.args)} arguments")
        test, then, otherwise = node.args
        result = self._require_scalar(node, "if() with branches of this type")
        chosen = exp.If(this=self.predicate(test), true=self._branch(then, result))
        return exp.Case(ifs=[chosen], default=self._branch(otherwise, result))

    def _branch(self, node: Expr, result: PQLType) -> exp.Expr:
        value = self.visit(node)
        if self.type_of(node) != result and result in _CASTS:
            return exp.cast(value, _CASTS[result])
        return value

    def function_date(self, node: FunctionCall) -> exp.Expr:
        if len(node.args) != 3:
            raise self.unsupported(node, f"date() with {len(node.args)} arguments")
        if foldable(node):
            return self._temporal_constant(node)
        parts = []
        for arg in node.args:
            if self._require_scalar(arg, "date() with this argument") != INTEGER:
                raise self.unsupported(arg, "date() with a part that is not an integer")
            parts.append(self.visit(arg))
        return self.make_date(*parts)

    def _temporal_constant(self, node: Expr) -> exp.Expr:
        found = self.constant(node)
        if found is None:
            return exp.cast(exp.Null(), exp.DataType.Type.DATE)
        return self.date_literal(found)

    def constant(self, node: Expr) -> date | None:
        """The value of a :func:`foldable` date expression at the job's ``now``."""
        found = interpreted_value(node, {}, [], self.now)
        if found is not None and not isinstance(found, date):
            raise self.unsupported(node, "a constant that is not a date here")
        return found

    # --- occurs relative to a value (§6.3) ------------------------------------------------------

    def visit_Occurs(self, node: Occurs) -> exp.Expr:
        target_type = node.target.type
        if isinstance(target_type, ArrayType) and target_type.projected:
            return self._occurs_in_projection(node, target_type)
        anchors = [node.anchor] if node.anchor2 is None else [node.anchor, node.anchor2]
        if all(is_fixed_anchor(anchor) for anchor in anchors):
            return super().visit_Occurs(node)
        target_type = self._require_temporal(node.target, "occurs")
        periods = [self._anchor(anchor) for anchor in anchors]
        known = [period for period in periods if isinstance(period, Period)]
        if len(known) == len(periods):
            return self._fixed_window(node, target_type, occurs_window(node, *known))
        if any(period is None for period in periods):
            return exp.false()
        moments = [_as_moments(period) for period in periods if period is not None]
        target = paren(self.visit(node.target))
        intervals = self._value_window(node, *moments)
        terms = [_inside(target, bounds, by_day=target_type == DATE) for bounds in intervals]
        return never_null(balanced(exp.Or, terms))

    def _occurs_in_projection(self, node: Occurs, target_type: ArrayType) -> exp.Expr:
        """``occurs`` on a projection (a path through an array): some item occurs (§4.2)."""
        name = self.fresh_name()
        item = VarRef(name, type=target_type.item)
        with self.bound([name], [ValueRow(exp.column(name, quoted=True))]):
            test = self.visit_Occurs(replace(node, target=item))
        return self.any_item(self.visit(node.target), name, test)

    def _anchor(self, anchor: Expr) -> Period | Moments | None:
        """A time word, a constant (null: no window) or a DATE/TIMESTAMP read per row."""
        if is_fixed_anchor(anchor):
            return reference_period(anchor, self.now)
        if foldable(anchor):
            found = self.constant(anchor)
            return None if found is None else value_period(found)
        anchor_type = self._require_temporal(anchor, "an occurs anchor")
        moment = paren(self.visit(anchor))
        if anchor_type == DATE:
            start = exp.cast(moment, exp.DataType.Type.TIMESTAMP)
            return Moments(start, shift(start.copy(), TimeUnit.DAY, 1), instant=False)
        return Moments(moment, moment.copy(), instant=True)

    def _fixed_window(self, node: Occurs, target_type: PQLType, window: OccursWindow) -> exp.Expr:
        """Literal bounds, as the base compiler emits them for time words."""
        target = paren(self.visit(node.target))
        if target_type == DATE:
            terms = [self._within(target, interval) for interval in window.by_day()]
        else:
            terms = [self._within(target, interval) for interval in window.intervals]
        if not terms:
            return exp.false()
        return never_null(balanced(exp.Or, terms))

    def _value_window(
        self, node: Occurs, anchor: Moments, anchor2: Moments | None = None
    ) -> list[Bounds]:
        """:func:`occurs_window` over SQL anchors."""
        if node.form == "direction" and node.direction == "before":
            return [Bounds(None, anchor.start)]
        if node.form == "direction" and node.direction in ("after", "from"):
            return [Bounds(anchor.end, None, lo_inclusive=not anchor.instant)]
        if node.form == "on":
            return [_on(anchor)]
        if node.form == "between" and anchor2 is not None:
            return [Bounds(anchor.start, anchor2.end, hi_inclusive=anchor2.instant)]
        if node.form == "relative":
            return self._relative(node, anchor)
        raise self.unsupported(node, f"this occurs form ({node.form} {node.direction or ''})")

    def _relative(self, node: Occurs, anchor: Moments) -> list[Bounds]:
        amount, unit, comparator = node.amount, node.unit, node.comparator
        if amount is None or unit is None or comparator is None or amount < 0:
            raise self.unsupported(node, "an occurs without an amount, a unit and a comparator")
        before = node.direction == "before"
        if node.direction not in ("before", "after", "from"):
            raise self.unsupported(node, f"the occurs direction {node.direction!r}")
        if comparator in ("=", "!="):
            start = shift(truncate(anchor.start, unit), unit, -amount if before else amount)
            end = shift(start.copy(), unit, 1)
            if comparator == "=":
                return [Bounds(start, end)]
            return [Bounds(None, start), Bounds(end, None)]
        if comparator not in ("<=", "<", ">=", ">"):
            raise self.unsupported(node, f"the occurs comparator {comparator!r}")
        if before:
            point = shift(anchor.start.copy(), unit, -amount)
            return [_before(anchor.start, point, comparator, amount)]
        return [_after(anchor.end, shift(anchor.end.copy(), unit, amount), comparator)]


def _as_moments(period: Period | Moments) -> Moments:
    if isinstance(period, Moments):
        return period
    return Moments(temporal_literal(period.start), temporal_literal(period.end), period.instant)


def _on(anchor: Moments) -> Bounds:
    if not anchor.instant:
        return Bounds(anchor.start, anchor.end)
    day = truncate(anchor.start, TimeUnit.DAY)
    return Bounds(day, shift(day.copy(), TimeUnit.DAY, 1))


def _before(anchor: exp.Expr, point: exp.Expr, comparator: str, amount: int) -> Bounds:
    """``anchor - T`` is positive and compares with ``amount`` units (``point = anchor - N``)."""
    if comparator == "<=":
        return Bounds(point, anchor)
    if comparator == "<":
        return Bounds(point, anchor, lo_inclusive=False)
    return Bounds(None, point, hi_inclusive=comparator == ">=" and amount > 0)


def _after(anchor: exp.Expr, point: exp.Expr, comparator: str) -> Bounds:
    """``T - anchor`` is >= 0 and compares with ``amount`` units (``point = anchor + N``)."""
    if comparator == "<=":
        return Bounds(anchor, point, hi_inclusive=True)
    if comparator == "<":
        return Bounds(anchor, point)
    return Bounds(point, None, lo_inclusive=comparator == ">=")


def _inside(target: exp.Expr, bounds: Bounds, *, by_day: bool) -> exp.Expr:
    """``target`` within ``bounds``; a DATE target compares with each bound's UTC day, and
    then needs the instants' interval itself to be non-empty, as the interpreter drops it."""

    def side(bound: exp.Expr) -> exp.Expr:
        return exp.cast(bound.copy(), exp.DataType.Type.DATE) if by_day else bound.copy()

    terms: list[exp.Expr] = []
    if bounds.lo is not None:
        lower = exp.GTE if bounds.lo_inclusive else exp.GT
        terms.append(lower(this=target.copy(), expression=side(bounds.lo)))
    if bounds.hi is not None:
        upper = exp.LTE if bounds.hi_inclusive else exp.LT
        terms.append(upper(this=target.copy(), expression=side(bounds.hi)))
    if by_day and bounds.lo is not None and bounds.hi is not None:
        both = bounds.lo_inclusive and bounds.hi_inclusive
        order = exp.LTE if both else exp.LT
        terms.append(order(this=bounds.lo.copy(), expression=bounds.hi.copy()))
    return exp.and_(*terms, copy=False)


def _located(error: PQLUnsupportedError, node: Expr) -> PQLUnsupportedError:
    span = node.span
    if span is None:
        return error
    return type(error)(
        error.message, line=span.line, column=span.column, length=span.end - span.start
    )
