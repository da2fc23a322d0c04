"""``chain(xEvent, ts, [steps])``: sequential event matching (pql.md §9).

A step matches an event when ``WHAT``, ``WHEN`` (an ``occurs`` on the event's ``ts``) and
``WHERE`` hold with the event as the implicit scope and the step's label bound to it. The chain
holds when there are events for the steps in order with strictly increasing ``ts``; a step with
``COUNT(n)`` needs ``n`` matching events (ties allowed among them), all after the previous
step's event, and the next step must come after the last of the ``n``, which its label then
names for later steps. Events without a ``ts`` match no step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime

from segmint.engine.interpreter.base import Machine, by_timestamp
from segmint.engine.interpreter.data import timestamp
from segmint.pql.ast import Chain, ChainStep, Node, VarRef

Event = Mapping[str, object]
Timed = tuple[datetime, Event]


def _mentions(node: object, names: frozenset[str]) -> bool:
    """Whether ``node`` reads any of the variables ``names`` (iteratively, deep trees)."""
    pending: list[object] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, VarRef) and current.name in names:
            return True
        if isinstance(current, Node):
            pending += [getattr(current, f.name) for f in fields(current)]
        elif isinstance(current, tuple):
            pending += list(current)
    return False


class ChainRules(Machine):
    def visit_Chain(self, node: Chain) -> bool:
        events = self.visit(node.events)
        if not isinstance(events, list):
            return False
        timed = [
            (moment, event)
            for event in by_timestamp(events, node.timestamp_field)
            if (moment := timestamp(event.get(node.timestamp_field))) is not None
        ]
        labels = frozenset(step.label for step in node.steps)
        # Later steps that read no label are monotone: the earliest match is always best.
        exhaustive = any(_mentions(step, labels) for step in node.steps[1:])
        return self._match(node.steps, 0, None, timed, exhaustive)

    def _match(
        self,
        steps: Sequence[ChainStep],
        index: int,
        after: datetime | None,
        timed: list[Timed],
        exhaustive: bool,
    ) -> bool:
        if index == len(steps):
            return True
        step = steps[index]
        candidates = [
            (moment, event)
            for moment, event in timed
            if (after is None or moment > after) and self._step_holds(step, event)
        ]
        need = step.count or 1
        for moment, event in candidates[need - 1 :]:
            with self.bound((step.label,), (event,)):
                if self._match(steps, index + 1, moment, timed, exhaustive):
                    return True
            if not exhaustive:
                return False
        return False

    def _step_holds(self, step: ChainStep, event: Event) -> bool:
        with self.bound((step.label,), (event,)), self.scoped(event):
            return all(
                self.test(part) for part in (step.what, step.when, step.where) if part is not None
            )
