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
        events = self._chain_events(node)
        return self._match(node.steps, 0, None, events, exhaustive)

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
        tests.append(self._holds(step, row))
        candidates = self.list_filter(
            events.copy(), self.lambda_([candidate], exp.and_(*tests, copy=False))
        )
        need = step.count or 1
        chosen = self.list_slice(candidates, need, None if exhaustive else need)
        picked = self.fresh_name()
        picked_row = ValueRow(exp.column(picked, quoted=True))
        with self.bound([step.label], [picked_row]):
            rest = self._match(steps, index + 1, picked_row.field(TIMESTAMP), events, exhaustive)
        found = self.list_filter(chosen, self.lambda_([picked], rest))
        size = exp.Coalesce(this=self.list_size(found), expressions=[exp.Literal.number(0)])
        return exp.GT(this=size, expression=exp.Literal.number(0))


def _not_null(value: exp.Expr) -> exp.Expr:
    return exp.Not(this=exp.Paren(this=exp.Is(this=paren(value), expression=exp.Null())))
