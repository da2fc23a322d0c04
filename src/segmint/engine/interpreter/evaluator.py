"""The reference evaluator: PQL semantics over one profile dict and its events (the oracle).

    evaluate(expr, profile, events, now, memberships=None) -> bool   segment membership
    value(expr, profile, events, now, memberships=None) -> object    the raw value (computed
                                                                     attributes, tests)

``expr`` is a tree checked by :func:`segmint.pql.check`. Values are plain dicts/lists or what
pyarrow's ``to_pylist()`` gives for the lake layout (:mod:`.data` conforms them on read);
``xEvent`` is ordered by ascending ``timestamp``. Null rules live in :mod:`.runtime`, time
windows in :mod:`segmint.engine.timewindows`; each construct family has its own mix-in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from functools import partial

from segmint.engine.interpreter import runtime
from segmint.engine.interpreter.base import ENGINE
from segmint.engine.interpreter.bindings import BindingRules
from segmint.engine.interpreter.calls import CallRules
from segmint.engine.interpreter.chain import ChainRules
from segmint.engine.interpreter.data import conform, field
from segmint.engine.interpreter.methods import MethodRules, projected
from segmint.engine.interpreter.regex import compile_java
from segmint.engine.interpreter.runtime import is_null, unsupported
from segmint.engine.interpreter.static import prepare
from segmint.engine.timewindows import (
    Period,
    is_fixed_anchor,
    occurs_window,
    reference_period,
    value_period,
)
from segmint.pql.ast import (
    Binary,
    Expr,
    FieldLookup,
    Filter,
    ImplicitScope,
    ListLiteral,
    Literal,
    ObjectLiteral,
    Occurs,
    ParamRef,
    Unary,
    VarRef,
    XEvent,
)
from segmint.pql.types import ArrayType, ObjectType

__all__ = ["Interpreter", "evaluate", "prepare", "value"]

_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})


def _matches_text(text: object, pattern: object) -> bool:
    return runtime.matches(text, compile_java(pattern) if isinstance(pattern, str) else None)


_PREDICATES: dict[str, Callable[[object, object], bool]] = {
    "in": runtime.member,
    "notIn": runtime.not_member,
    "like": runtime.like,
    "matches": _matches_text,
}


def evaluate(
    expr: Expr,
    profile: Mapping[str, object],
    events: Sequence[Mapping[str, object]],
    now: datetime,
    *,
    memberships: Mapping[str, str] | None = None,
) -> bool:
    """Whether ``profile`` (with its experience ``events``) satisfies the checked ``expr``.

    ``memberships`` maps segment ids to statuses for ``inSegment``; without it the profile's
    ``segmentMembership.ups`` is read.
    """
    prepare(expr)
    return Interpreter(profile, events, now, memberships).test(expr)


def value(
    expr: Expr,
    profile: Mapping[str, object],
    events: Sequence[Mapping[str, object]],
    now: datetime,
    *,
    memberships: Mapping[str, str] | None = None,
) -> object:
    """The value of the checked ``expr`` for ``profile`` (``None`` for null or missing)."""
    prepare(expr)
    return runtime.output(Interpreter(profile, events, now, memberships).visit(expr))


class Interpreter(CallRules, MethodRules, BindingRules, ChainRules):
    """Literals, references, paths, filters, operators and ``occurs``; the mix-ins add calls,
    methods, binding constructs and ``chain``."""

    # --- values and references ----------------------------------------------------------------

    def visit_Literal(self, node: Literal) -> object:
        return node.value

    def visit_ListLiteral(self, node: ListLiteral) -> object:
        return [runtime.output(self.visit(item)) for item in node.items]

    def visit_ObjectLiteral(self, node: ObjectLiteral) -> object:
        return {key: runtime.output(self.visit(item)) for key, item in node.entries}

    def visit_ImplicitScope(self, node: ImplicitScope) -> object:
        if not 0 <= node.depth < len(self.scopes):
            raise unsupported(node, f"an outer scope {node.depth} levels up", ENGINE)
        return self.scopes[-1 - node.depth]

    def visit_ParamRef(self, node: ParamRef) -> object:
        if node.position != 1:
            raise unsupported(node, f"the parameter ${node.position}", ENGINE)
        return self.profile

    def visit_VarRef(self, node: VarRef) -> object:
        if node.name not in self.variables:
            raise unsupported(node, f"the variable {node.name!r} here", ENGINE)
        return self.variables[node.name]

    def visit_XEvent(self, node: XEvent) -> object:
        return self.events

    # --- paths and filters (§4.2-4.4) ---------------------------------------------------------

    def visit_FieldLookup(self, node: FieldLookup) -> object:
        """A field of an object; through an array, the field of every item, one level
        flattened, nulls dropped (§4.2)."""
        target = self.visit(node.target)
        if isinstance(target, list):
            return self._projection(node, target)
        return conform(field(target, node.field_name), node.type)

    def _projection(self, node: FieldLookup, items: list[object]) -> list[object]:
        owner = node.target.type
        declared = owner.item if isinstance(owner, ArrayType) else None
        field_type = None
        if isinstance(declared, ObjectType):
            field_type = declared.fields.get(node.field_name)
        flatten = isinstance(field_type, ArrayType) or field_type is None
        item_type = node.type.item if isinstance(node.type, ArrayType) else None
        found: list[object] = []
        for item in items:
            found_value = field(item, node.field_name)
            if is_null(found_value):
                continue
            if flatten and isinstance(found_value, list):
                found += [v for v in found_value if not is_null(v)]
            else:
                found.append(found_value)
        return [conform(v, item_type) for v in found]

    def visit_Filter(self, node: Filter) -> object:
        target = self.visit(node.target)
        if not isinstance(target, list):
            return None
        return [item for item in target if self.holds(node.condition, item)]

    # --- operators ----------------------------------------------------------------------------

    def visit_Unary(self, node: Unary) -> object:
        if node.op == "not":
            return not self.test(node.operand)
        if node.op == "-":
            return runtime.negate(self.visit(node.operand))
        raise unsupported(node, f"the operator {node.op!r}", ENGINE)

    def visit_Binary(self, node: Binary) -> object:
        op = node.op
        if op in ("and", "or"):
            return self._logical(node)
        left, right = self.visit(node.left), self.visit(node.right)
        if op in _ARITHMETIC:
            return runtime.arithmetic(op, left, right)
        test = self._predicate(op, node)
        flags = (projected(node.left), projected(node.right))
        if op in ("in", "notIn"):
            flags = (flags[0], False)  # the right side is the list itself
        if not any(flags):
            return test(left, right)
        return runtime.existential(test, (left, right), flags)

    def _predicate(self, op: str, node: Binary) -> Callable[[object, object], bool]:
        if op in _COMPARISONS:
            return partial(runtime.compare, op)
        predicate = _PREDICATES.get(op)
        if predicate is None:
            raise unsupported(node, f"the operator {op!r}", ENGINE)
        return predicate

    def _logical(self, node: Binary) -> bool:
        """A whole ``and``/``or`` chain in one loop, left to right, short-circuiting: ``or``
        stops at the first operand that holds, ``and`` at the first that does not."""
        decisive = node.op == "or"
        for operand in runtime.logical_operands(node):
            if self.test(operand) == decisive:
                return decisive
        return not decisive

    # --- time (§6) ----------------------------------------------------------------------------

    def visit_Occurs(self, node: Occurs) -> bool:
        anchor = self._anchor(node.anchor)
        anchor2 = None if node.anchor2 is None else self._anchor(node.anchor2)
        if anchor is None or (node.anchor2 is not None and anchor2 is None):
            return False
        window = occurs_window(node, anchor, anchor2)
        target = self.visit(node.target)
        moments = target if projected(node.target) and isinstance(target, list) else [target]
        return any(window.contains(self._temporal(node, moment)) for moment in moments)

    def _anchor(self, anchor: Expr) -> Period | None:
        """A time word or date literal, or a date/date-time value (null: no window)."""
        if is_fixed_anchor(anchor):
            return reference_period(anchor, self.now)
        moment = self.visit(anchor)
        if is_null(moment):
            return None
        if not isinstance(moment, date):
            raise unsupported(anchor, "an occurs anchor that is not a date or time", ENGINE)
        return value_period(moment)

    @staticmethod
    def _temporal(node: Occurs, moment: object) -> date | None:
        if is_null(moment):
            return None
        if not isinstance(moment, date):
            raise unsupported(node.target, "occurs on a value that is not a date or time", ENGINE)
        return moment
