"""Which evaluation methods fit a segment definition (pql.md §10): batch always; streaming (AEP
``continuous``) and edge (``synchronous``) only for the shapes of the current rules (§10.1,
§10.3), found by the classifier of §10.4. Works on parsed or checked trees alike.

* Event conditions are ``chain`` steps over ``xEvent`` and single-variable ``select``/``exists``/
  ``some`` over ``xEvent`` (a step without a time window unless its condition has a conjunct
  ``V.timestamp occurs …``). Any other use of event data (``xEvent[…]``, ``xEvent.…`` paths,
  ``forall``, several bindings, ``select`` used as a value, ``sum … over``, ``let``, lambdas,
  ``chain`` over anything but ``xEvent``) is batch only, and so is ``@{…}`` context data.
* Streaming: every event condition looks back at most 24 hours (``today``, ``<= 24 hours before
  now``, ``this hour`` …; not ``< 8 days before now``, ``yesterday``, ``before now`` or a fixed
  date), not every event condition is negated, and events are combined with ``inSegment`` only
  when each referenced audience is profile-only. The §10.1 contradiction on ``inSegment`` plus an
  event is resolved by that older, more specific rule. Profile-only definitions and segments of
  segments always qualify.
* Edge: the streaming conditions and at most one event condition (a ``COUNT(n)`` step is one).

"Ignore year" and multi-entity lookups have no published PQL spelling, so nothing detects them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta

from segmint.pql import ast
from segmint.pql.printer import format

WINDOW = timedelta(hours=24)
# Longest length of each unit, so that a window is never judged shorter than it can be.
UNIT_LENGTHS = {
    ast.TimeUnit.MILLISECOND: timedelta(milliseconds=1),
    ast.TimeUnit.SECOND: timedelta(seconds=1),
    ast.TimeUnit.MINUTE: timedelta(minutes=1),
    ast.TimeUnit.HOUR: timedelta(hours=1),
    ast.TimeUnit.DAY: timedelta(days=1),
    ast.TimeUnit.WEEK: timedelta(weeks=1),
    ast.TimeUnit.MONTH: timedelta(days=31),
    ast.TimeUnit.YEAR: timedelta(days=366),
    ast.TimeUnit.DECADE: timedelta(days=3653),
    ast.TimeUnit.CENTURY: timedelta(days=36525),
    ast.TimeUnit.MILLENNIUM: timedelta(days=365250),
}
BATCH_ONLY_CONSTRUCTS: dict[type, str] = {
    ast.Aggregate: "`sum`/`average`/`min`/`max … over` of event data",
    ast.Let: "`let` over event data",
    ast.Lambda: "a lambda over event data",
}

ProfileOnly = Callable[[str], bool]


@dataclass(frozen=True)
class EvaluationClasses:
    """The evaluation methods a definition qualifies for, and why streaming/edge do not fit."""

    batch: bool
    streaming: bool
    edge: bool
    reasons: tuple[str, ...] = ()


def classify(expr: ast.Expr, *, profile_only: ProfileOnly | None = None) -> EvaluationClasses:
    """Classify ``expr``; ``profile_only(id)`` tells whether an ``inSegment`` target audience
    uses profile attributes only (without it, no target is assumed to be)."""
    facts = _Facts()
    facts.collect(expr)
    reasons = facts.batch_only + _event_reasons(facts, profile_only)
    edge_reasons = _edge_reasons(facts)
    streaming = not reasons
    return EvaluationClasses(
        batch=True,
        streaming=streaming,
        edge=streaming and not edge_reasons,
        reasons=tuple(reasons + edge_reasons),
    )


def evaluation_info(classes: EvaluationClasses) -> dict[str, dict[str, bool]]:
    """AEP's ``evaluationInfo`` object for ``classes``."""
    return {
        "batch": {"enabled": classes.batch},
        "continuous": {"enabled": classes.streaming},
        "synchronous": {"enabled": classes.edge},
    }


# --- collecting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    """One event condition: what it is, its time window, and whether it sits under a `not`."""

    description: str
    window: ast.Occurs | None
    negated: bool


@dataclass
class _Facts:
    events: list[_Event] = field(default_factory=list)
    batch_only: list[str] = field(default_factory=list)
    segments: list[str | None] = field(default_factory=list)

    def collect(self, root: ast.Expr) -> None:
        """Walk the tree with an explicit stack: long `and`/`or` chains are common."""
        stack: list[tuple[ast.Node, bool, bool, ast.Node | None]] = [(root, False, True, None)]
        while stack:
            node, negated, boolean, parent = stack.pop()
            for child in self._visit(node, negated, boolean, parent):
                stack.append(child)

    def _visit(
        self, node: ast.Node, negated: bool, boolean: bool, parent: ast.Node | None
    ) -> Iterator[tuple[ast.Node, bool, bool, ast.Node | None]]:
        if isinstance(node, ast.Unary) and node.op == "not":
            yield node.operand, not negated, True, node
        elif isinstance(node, ast.Binary) and node.op in ("and", "or"):
            yield node.right, negated, True, node
            yield node.left, negated, True, node
        elif isinstance(node, ast.Chain):
            self._chain(node, negated)
        elif isinstance(node, ast.Select | ast.Quantified) and _over_events(node.bindings):
            self._event_binding(node, negated, boolean)
        elif isinstance(node, ast.XEvent):
            self.batch_only.append(_xevent_use(parent))
        elif isinstance(node, ast.ContextRef):
            self.batch_only.append("context data `@{…}` is only available to batch evaluation")
        elif isinstance(node, ast.FunctionCall) and node.name == "inSegment":
            self.segments.append(_segment_id(node))
        elif type(node) in BATCH_ONLY_CONSTRUCTS and _mentions_events(node):
            self.batch_only.append(f"{BATCH_ONLY_CONSTRUCTS[type(node)]} needs batch evaluation")
        else:
            yield from ((child, negated, False, node) for child in _children(node))

    def _chain(self, node: ast.Chain, negated: bool) -> None:
        if not isinstance(node.events, ast.XEvent):
            self.batch_only.append("`chain` over something other than `xEvent` needs batch")
            return
        for step in node.steps:
            if _mentions_events(step.what) or (step.where and _mentions_events(step.where)):
                self.batch_only.append(f"chain step `{step.label}` nests another event query")
                continue
            window = None if step.when is None else _named_target(step.when, node.timestamp_field)
            self.events.append(_Event(f"chain step `{step.label}`", window, negated))

    def _event_binding(
        self, node: ast.Select | ast.Quantified, negated: bool, boolean: bool
    ) -> None:
        construct = "select" if isinstance(node, ast.Select) else node.quantifier
        binding = node.bindings[0]
        if len(node.bindings) > 1:
            self.batch_only.append(f"`{construct}` with several bindings needs batch evaluation")
        elif construct == "forall":
            self.batch_only.append("`forall` over `xEvent` needs batch evaluation")
        elif not boolean and isinstance(node, ast.Select):
            self.batch_only.append("a `select` over `xEvent` used as a value (count, projection)")
        elif binding.condition is not None and _mentions_events(binding.condition):
            self.batch_only.append(f"`{construct} {binding.var}` nests another event query")
        else:
            window = _binding_window(binding)
            self.events.append(_Event(f"`{construct} {binding.var} from xEvent`", window, negated))


def _children(node: ast.Node) -> Iterator[ast.Node]:
    for item in dataclasses.fields(node):
        yield from _nodes_in(getattr(node, item.name))


def _nodes_in(value: object) -> Iterator[ast.Node]:
    if isinstance(value, ast.Node):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _nodes_in(item)


def _mentions_events(node: ast.Node) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.XEvent):
            return True
        stack.extend(_children(current))
    return False


def _over_events(bindings: tuple[ast.Binding, ...]) -> bool:
    return any(isinstance(binding.source, ast.XEvent) for binding in bindings)


def _xevent_use(parent: ast.Node | None) -> str:
    if isinstance(parent, ast.Filter):
        return "`xEvent[…]` (event filters, counts and sums) needs batch evaluation"
    if isinstance(parent, ast.FieldLookup):
        return "an `xEvent.…` path needs batch evaluation; use `chain` for streaming"
    if isinstance(parent, ast.MethodCall):
        return f"`xEvent.{parent.method}()` needs batch evaluation"
    return "`xEvent` used outside `chain`, `select` or `exists` needs batch evaluation"


def _segment_id(node: ast.FunctionCall) -> str | None:
    if len(node.args) == 1 and isinstance(node.args[0], ast.Literal):
        value = node.args[0].value
        return value if isinstance(value, str) else None
    return None


def _named_target(occurs: ast.Occurs, field_name: str) -> ast.Occurs:
    """``occurs`` with a plain ``field_name`` target, so it prints the same parsed or checked."""
    return replace(occurs, target=ast.Name(field_name))


def _binding_window(binding: ast.Binding) -> ast.Occurs | None:
    """The shortest ``V.timestamp occurs …`` conjunct of the binding's condition, if any."""
    windows = [
        _named_target(conjunct, f"{binding.var}.timestamp")
        for conjunct in _conjuncts(binding.condition)
        if isinstance(conjunct, ast.Occurs) and _is_timestamp_of(conjunct.target, binding.var)
    ]
    bounded = [(lookback, w) for w in windows if (lookback := _lookback(w)) is not None]
    if bounded:
        return min(bounded, key=lambda pair: pair[0])[1]
    return windows[0] if windows else None


def _conjuncts(node: ast.Expr | None) -> Iterator[ast.Expr]:
    stack = [] if node is None else [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Binary) and current.op == "and":
            stack += [current.right, current.left]
        else:
            yield current


def _is_timestamp_of(node: ast.Expr, variable: str) -> bool:
    if not isinstance(node, ast.FieldLookup) or node.field_name != "timestamp":
        return False
    target = node.target
    return isinstance(target, ast.Name | ast.VarRef) and target.name == variable


# --- deciding ------------------------------------------------------------------------------


def _event_reasons(facts: _Facts, profile_only: ProfileOnly | None) -> list[str]:
    if not facts.events:
        return []
    reasons = [reason for event in facts.events if (reason := _window_reason(event))]
    if all(event.negated for event in facts.events):
        reasons.append(
            "every event condition is negated; streaming and edge need at least one event "
            "that is not"
        )
    reasons += [_segment_reason(segment, profile_only) for segment in facts.segments]
    return [reason for reason in reasons if reason]


def _window_reason(event: _Event) -> str:
    if event.window is None:
        return f"{event.description} has no time window; streaming and edge need one of 24 hours"
    lookback = _lookback(event.window)
    if lookback is None or lookback > WINDOW:
        window = _describe(event.window)
        return f"{event.description} is not limited to the last 24 hours (`{window}`)"
    return ""


def _segment_reason(segment: str | None, profile_only: ProfileOnly | None) -> str:
    if segment is None:
        return "`inSegment` with a computed id cannot be combined with events"
    if profile_only is None:
        return (
            f'cannot tell whether audience "{segment}" is profile-only; only profile-only '
            "audiences can be combined with events"
        )
    if profile_only(segment):
        return ""
    return f'audience "{segment}" is not profile-only, so it cannot be combined with events'


def _edge_reasons(facts: _Facts) -> list[str]:
    if len(facts.events) <= 1:
        return []
    names = ", ".join(event.description for event in facts.events)
    count = len(facts.events)
    return [f"edge evaluates at most one event condition; this definition has {count} ({names})"]


def _describe(occurs: ast.Occurs) -> str:
    try:
        return format(occurs)
    except ValueError:
        return "occurs …"


# --- time windows --------------------------------------------------------------------------


def _lookback(occurs: ast.Occurs) -> timedelta | None:
    """How far before now the window can reach; None when unbounded or not relative to now."""
    anchor = occurs.anchor
    if not isinstance(anchor, ast.TimeRef):
        return None
    if occurs.form in ("on", "between"):
        if occurs.form == "between" and not isinstance(occurs.anchor2, ast.TimeRef):
            return None
        return _start_lookback(anchor)
    if occurs.direction != "before":
        return _end_lookback(anchor)
    if occurs.form == "direction" or occurs.comparator not in ("<", "<=", "="):
        return None
    start = timedelta(0) if anchor.kind == "now" else _start_lookback(anchor)
    assert occurs.unit is not None and occurs.amount is not None
    units = occurs.amount + (1 if occurs.comparator == "=" else 0)
    return None if start is None else start + units * UNIT_LENGTHS[occurs.unit]


def _start_lookback(ref: ast.TimeRef) -> timedelta | None:
    """How long before now the period ``ref`` can start (None: it lies in the future)."""
    day = UNIT_LENGTHS[ast.TimeUnit.DAY]
    fixed = {"now": day, "today": day, "yesterday": 2 * day}
    if ref.kind in fixed:
        return fixed[ref.kind]  # `occurs on now` is the UTC day of now
    if ref.unit is None or ref.kind not in ("this", "last"):
        return None
    return UNIT_LENGTHS[ref.unit] * (1 if ref.kind == "this" else 2)


def _end_lookback(ref: ast.TimeRef) -> timedelta:
    """How long before now the period ``ref`` ends: ``after``/``from`` windows start there."""
    if ref.kind == "yesterday":
        return UNIT_LENGTHS[ast.TimeUnit.DAY]
    if ref.kind == "last" and ref.unit is not None:
        return UNIT_LENGTHS[ref.unit]
    return timedelta(0)
