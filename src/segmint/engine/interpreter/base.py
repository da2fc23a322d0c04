"""The interpreter's state and dispatch, shared by the rule mix-ins (pql.md §12.0).

A ``Machine`` evaluates one profile: a stack of implicit scopes (the profile first; bracket
filters, item-relative arguments and chain steps push the current item, so ``ImplicitScope(k)``
is ``scopes[-1 - k]``) and a lexical environment of named variables searched before it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime

from segmint.engine.interpreter import runtime
from segmint.engine.interpreter.data import timestamp
from segmint.engine.interpreter.runtime import unsupported
from segmint.engine.timewindows import utc_naive
from segmint.pql.ast import Expr, Lambda

ENGINE = "the interpreter"
_UNBOUND = object()


def by_timestamp(events: Sequence[Mapping[str, object]], field: str) -> list[Mapping[str, object]]:
    """``events`` in ascending ``field`` order (stable; events without one come last)."""
    keyed = [(timestamp(event.get(field)), index) for index, event in enumerate(events)]
    order = sorted(keyed, key=lambda pair: (pair[0] is None, pair[0] or datetime.min, pair[1]))
    return [events[index] for _, index in order]


class Machine:
    """``visit`` returns a node's value; ``test`` its truth in a boolean position (§1.4)."""

    def __init__(
        self,
        profile: Mapping[str, object],
        events: Sequence[Mapping[str, object]],
        now: datetime,
        memberships: Mapping[str, str] | None = None,
    ) -> None:
        self.profile = profile
        self.events = by_timestamp(events, "timestamp")
        self.now = utc_naive(now)
        self.memberships = memberships
        self.scopes: list[object] = [profile]
        self.variables: dict[str, object] = {}

    def visit(self, node: Expr) -> object:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise unsupported(node, type(node).__name__, ENGINE)
        result: object = method(node)
        return result

    def test(self, node: Expr) -> bool:
        if isinstance(node, Lambda):  # the whole query `(Profile) => …`
            with self.bound(node.params[:1], (self.profile,)):
                return self.test(node.body)
        return runtime.truth(self.visit(node), node.type)

    # --- scopes and variables -------------------------------------------------------------------

    @contextmanager
    def scoped(self, item: object) -> Iterator[None]:
        """``item`` as the innermost implicit scope."""
        self.scopes.append(item)
        try:
            yield
        finally:
            self.scopes.pop()

    @contextmanager
    def bound(self, names: Sequence[str], values: Sequence[object]) -> Iterator[None]:
        """The variables ``names`` bound to ``values`` (shadowing, then restoring)."""
        saved = [self.variables.get(name, _UNBOUND) for name in names]
        self.variables.update(zip(names, values, strict=True))
        try:
            yield
        finally:
            for name, old in zip(names, saved, strict=True):
                if old is _UNBOUND:
                    del self.variables[name]
                else:
                    self.variables[name] = old

    def apply(self, argument: Expr, *items: object) -> object:
        """An item-relative argument for ``items``: a lambda's body with its parameters bound,
        or an expression with the (single) item as the innermost scope."""
        if isinstance(argument, Lambda):
            with self.bound(argument.params, items):
                return self.visit(argument.body)
        with self.scoped(items[0]):
            return self.visit(argument)

    def holds(self, argument: Expr, item: object) -> bool:
        """An item-relative predicate for ``item``, coerced to a boolean."""
        if isinstance(argument, Lambda):
            with self.bound(argument.params, (item,)):
                return self.test(argument.body)
        with self.scoped(item):
            return self.test(argument)
