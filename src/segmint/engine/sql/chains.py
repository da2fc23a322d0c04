"""``chain(xEvent, timestamp, [steps])`` in SQL (pql.md §9), over the ordered event list.

The rule is the interpreter's (:mod:`segmint.engine.interpreter.chain`): a step's candidates are
the events after the previous step's event (strictly later ``timestamp``) where its ``WHAT``,
``WHEN`` and ``WHERE`` hold; with ``COUNT(n)`` the step takes the ``n``-th candidate or a later
one. Each step is a ``LIST_FILTER`` over the profile's events; the next step is tested inside a
lambda over the chosen candidates. When no later step reads a label, the earliest candidate is
always the best choice, so only that one is tried (a one-item slice); otherwise every candidate
is. The events come from the grouped pass already narrowed to those matching some step, when the
steps read nothing but the event.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from segmint.engine.interpreter.chain import _mentions
from segmint.engine.sql.collections import CollectionRules
from segmint.engine.sql.compiler import (
    NotAggregable,
    OutOfReach,
    TableRow,
    ValueRow,
    never_null,
    paren,
)
from segmint.engine.sql.fields import event_fields_used
from segmint.pql.ast import Chain, ChainStep, Expr

TIMESTAMP = "timestamp"


class ChainRules(CollectionRules):
    """Sequential event matching."""

    def visit_Chain(self, node: Chain) -> exp.Expr:
        if node.timestamp_field != TIMESTAMP:
            what = f"chain ordered by {node.timestamp_field!r} (only by {TIMESTAMP!r})"
            raise self.unsupported(node, what)
        labels = frozenset(step.label for step in node.steps)
        exhaustive = any(_mentions(step, labels) for step in node.steps[1:])
        if not exhaustive:
            shared = self._shared_chain(node)
            if shared is not None:
                return shared
        flagged = self._flagged_events(node)
        if flagged is not None:
            return self._match(node.steps, 0, None, flagged, exhaustive, flags=True)
        events = self._chain_events(node)
        return self._match(node.steps, 0, None, events, exhaustive)

    def _shared_chain(self, node: Chain) -> exp.Expr | None:
        """One step, or two steps without ``COUNT``, over conditions on the event alone, as
        shared aggregates: ``count(A) >= n``, or "the earliest A is before the latest B"
        (the greedy rule takes the earliest A; some B must come strictly later)."""
        steps = node.steps
        counted = [step.count or 1 for step in steps]
        if len(steps) > 2 or (len(steps) == 2 and counted != [1, 1]):
            return None
        if self.in_isolation or self.event_parts(node.events) != []:
            return None
        conditions = self._steps_on_event(steps)
        if conditions is None:
            return None
        moment = exp.column(TIMESTAMP, table=self.EVENT_ALIAS, quoted=True)
        timed = [never_null(exp.and_(_not_null(moment.copy()), c, copy=False)) for c in conditions]
        if len(steps) == 1:
            count = self.events.aggregate("count", None, timed[0])
            return exp.GTE(this=count, expression=exp.Literal.number(counted[0]))
        first = self.events.aggregate("min", moment.copy(), timed[0])
        last = self.events.aggregate("max", moment.copy(), timed[1])
        return never_null(exp.LT(this=first, expression=last))

    def _flagged_events(self, node: Chain) -> exp.Expr | None:
        """When every step reads only its event: the events some step matches, each as
        ``{timestamp, s0, s1, …}`` with whether step ``i`` matches it (computed once, in the
        grouped pass)."""
        if self.in_isolation or self.event_parts(node.events) != []:
            return None
        conditions = self._steps_on_event(node.steps)
        if conditions is None:
            return None
        moment = exp.column(TIMESTAMP, table=self.EVENT_ALIAS, quoted=True)
        flags = [(_flag(i), never_null(condition)) for i, condition in enumerate(conditions)]
        items = ((TIMESTAMP, moment), *flags)
        matching = exp.or_(*conditions, copy=False) if len(conditions) > 1 else conditions[0]
        timed = exp.and_(_not_null(moment.copy()), never_null(matching), copy=False)
        return self.events.events(timed, items)

    def _chain_events(self, node: Chain) -> exp.Expr:
        """The profile's events, narrowed in the grouped pass to those some step can match
        when every step reads only its event."""
        parts = self.event_parts(node.events)
        if parts is not None and not self.in_isolation:
            steps = self._steps_on_event(node.steps)
            if steps is not None:
                compiled = self.aggregable(parts)
                if compiled is not None:
                    any_step = exp.or_(*steps, copy=False) if len(steps) > 1 else steps[0]
                    narrowed = [c for c in (compiled[0], never_null(any_step)) if c is not None]
                    condition = (
                        exp.and_(*narrowed, copy=False) if len(narrowed) > 1 else narrowed[0]
                    )
                    return self.events.events(condition, event_fields_used([node]))
        return self.visit(node.events)

    def _steps_on_event(self, steps: Sequence[ChainStep]) -> list[exp.Expr] | None:
        event = TableRow(self.EVENT_ALIAS)
        labels = [step.label for step in steps]
        try:
            with self.isolated(), self.bound(labels, [OutOfReach() for _ in labels]):
                return [self._holds(step, event) for step in steps]
        except NotAggregable:
            return None

    def _holds(self, step: ChainStep, event: TableRow | ValueRow) -> exp.Expr:
        with self.bound([step.label], [event]), self.scoped(event):
            parts: list[Expr] = [p for p in (step.what, step.when, step.where) if p is not None]
            tests = [self.predicate(part) for part in parts]
        return exp.and_(*tests, copy=False) if len(tests) > 1 else tests[0]

    def _match(
        self,
        steps: Sequence[ChainStep],
        index: int,
        after: exp.Expr | None,
        events: exp.Expr,
        exhaustive: bool,
        flags: bool = False,
    ) -> exp.Expr:
        if index == len(steps):
            return exp.true()
        step = steps[index]
        candidate = self.fresh_name()
        row = ValueRow(exp.column(candidate, quoted=True))
        moment = row.field(TIMESTAMP)
        tests = [_not_null(moment.copy())]
        if after is not None:
            tests.append(exp.GT(this=moment.copy(), expression=after))
        tests.append(row.field(_flag(index)) if flags else self._holds(step, row))
        candidates = self.list_filter(
            events.copy(), self.lambda_([candidate], exp.and_(*tests, copy=False))
        )
        need = step.count or 1
        chosen = self.list_slice(candidates, need, None if exhaustive else need)
        picked = self.fresh_name()
        picked_row = ValueRow(exp.column(picked, quoted=True))
        with self.bound([step.label], [picked_row]):
            after_this = picked_row.field(TIMESTAMP)
            rest = self._match(steps, index + 1, after_this, events, exhaustive, flags)
        found = self.list_filter(chosen, self.lambda_([picked], rest))
        size = exp.Coalesce(this=self.list_size(found), expressions=[exp.Literal.number(0)])
        return exp.GT(this=size, expression=exp.Literal.number(0))


def _flag(index: int) -> str:
    return f"__step{index}"


def _not_null(value: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.Paren(this=exp.Is(this=paren(value), expression=exp.Null())))
