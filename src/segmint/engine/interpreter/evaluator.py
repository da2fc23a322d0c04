"""The reference evaluator: PQL semantics over one profile dict and its events (the oracle).

Values are what pyarrow's ``to_pylist()`` gives for the lake layout (``segmint.xdm.arrow``):
nested dicts for structs (a ``None`` struct is an absent object), lists, naive UTC datetimes,
dates. Null rules live in :mod:`segmint.engine.interpreter.runtime`; time windows in
:mod:`segmint.engine.timewindows`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

from segmint.engine.interpreter import runtime
from segmint.engine.interpreter.runtime import unsupported
from segmint.engine.timewindows import occurs_bounds, utc_naive
from segmint.pql.ast import (
    Binary,
    Binding,
    Expr,
    FieldLookup,
    FunctionCall,
    ImplicitScope,
    ListLiteral,
    Literal,
    MethodCall,
    Occurs,
    ParamRef,
    Select,
    Unary,
    VarRef,
    XEvent,
)

ENGINE = "the interpreter"

_CALENDAR_FUNCTIONS: dict[str, Callable[[datetime], int]] = {
    "currentYear": lambda now: now.year,
    "currentMonth": lambda now: now.month,
    "currentDayOfMonth": lambda now: now.day,
}
_COMPARISONS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_ARITHMETIC = frozenset({"+", "-", "*", "/", "%"})


def evaluate(
    expr: Expr, profile: Mapping[str, object], events: Sequence[Mapping[str, object]], now: datetime
) -> bool:
    """Whether ``profile`` (with its experience ``events``) satisfies the checked ``expr``."""
    return Interpreter(profile, events, now).test(expr)


class Interpreter:
    """``visit_<Node>`` returns a node's value; :meth:`test` its truth in a boolean position."""

    def __init__(
        self,
        profile: Mapping[str, object],
        events: Sequence[Mapping[str, object]],
        now: datetime,
    ) -> None:
        self.profile = profile
        self.events = events
        self.now = utc_naive(now)
        self.variables: dict[str, object] = {}

    def visit(self, node: Expr) -> object:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise unsupported(node, type(node).__name__, ENGINE)
        result: object = method(node)
        return result

    def test(self, node: Expr) -> bool:
        """The value of ``node`` coerced to a boolean (pql.md §1.4)."""
        if isinstance(node, Select):
            return len(self._selected(node)) > 0
        return runtime.truth(self.visit(node), node.type)

    # --- values and references ----------------------------------------------------------------

    def visit_Literal(self, node: Literal) -> object:
        return node.value

    def visit_ListLiteral(self, node: ListLiteral) -> object:
        return [self.visit(item) for item in node.items]

    def visit_ImplicitScope(self, node: ImplicitScope) -> object:
        if node.depth != 0:
            raise unsupported(node, "an outer scope (^)", ENGINE)
        return self.profile

    def visit_ParamRef(self, node: ParamRef) -> object:
        if node.position != 1:
            raise unsupported(node, f"the parameter ${node.position}", ENGINE)
        return self.profile

    def visit_VarRef(self, node: VarRef) -> object:
        if node.name not in self.variables:
            raise unsupported(node, f"the variable {node.name!r} here", ENGINE)
        return self.variables[node.name]

    def visit_FieldLookup(self, node: FieldLookup) -> object:
        target = self.visit(node.target)
        if target is None:
            return None
        if isinstance(target, Mapping):
            return target.get(node.field_name)
        raise unsupported(node, "a field lookup through an array or map", ENGINE)

    def visit_XEvent(self, node: XEvent) -> object:
        return list(self.events)

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
        if op in _COMPARISONS:
            return runtime.compare(op, left, right)
        if op in _ARITHMETIC:
            return runtime.arithmetic(op, left, right)
        if op == "in":
            return runtime.member(left, right)
        if op == "notIn":
            return runtime.not_member(left, right)
        if op == "like":
            return runtime.like(left, right)
        raise unsupported(node, f"the operator {op!r}", ENGINE)

    def _logical(self, node: Binary) -> bool:
        """A whole ``and``/``or`` chain in one loop, left to right, short-circuiting: ``or``
        stops at the first operand that holds, ``and`` at the first that does not."""
        decisive = node.op == "or"
        for operand in runtime.logical_operands(node):
            if self.test(operand) == decisive:
                return decisive
        return not decisive

    def visit_MethodCall(self, node: MethodCall) -> object:
        if node.method in runtime.STRING_METHODS:
            return self._string_method(node)
        if node.method in ("isNull", "isNotNull") and not node.args:
            return (self.visit(node.target) is None) == (node.method == "isNull")
        if node.method == "count" and not node.args:
            return self._count(node.target)
        raise unsupported(node, f"the method {node.method}()", ENGINE)

    def _string_method(self, node: MethodCall) -> bool:
        if len(node.args) not in (1, 2):
            raise unsupported(node, f"{node.method}() with {len(node.args)} arguments", ENGINE)
        case_sensitive = True
        if len(node.args) == 2:
            flag = node.args[1]
            if not (isinstance(flag, Literal) and isinstance(flag.value, bool)):
                raise unsupported(flag, "a case-sensitivity flag that is not true/false", ENGINE)
            case_sensitive = flag.value
        text, part = self.visit(node.target), self.visit(node.args[0])
        return runtime.string_test(node.method, text, part, case_sensitive)

    def _count(self, target: Expr) -> int:
        if isinstance(target, Select):
            return len(self._selected(target))
        if isinstance(target, XEvent):
            return len(self.events)
        raise unsupported(target, "count() of anything but xEvent or a select", ENGINE)

    def visit_FunctionCall(self, node: FunctionCall) -> object:
        function = _CALENDAR_FUNCTIONS.get(node.name)
        if function is None or node.args:
            raise unsupported(node, f"the function {node.name}()", ENGINE)
        return function(self.now)

    def visit_Occurs(self, node: Occurs) -> object:
        window = occurs_bounds(node, self.now)
        value = self.visit(node.target)
        if value is not None and not isinstance(value, date):
            raise unsupported(node.target, "occurs on a value that is not a date or time", ENGINE)
        return window.contains(value)

    # --- select ---------------------------------------------------------------------------------

    def visit_Select(self, node: Select) -> object:
        return self._selected(node)

    def _selected(self, node: Select) -> list[object]:
        if len(node.bindings) != 1:
            raise unsupported(node, "select with several bindings", ENGINE)
        binding = node.bindings[0]
        source = self.visit(binding.source)
        if not isinstance(source, list):
            return []
        return [item for item in source if self._binds(binding, item)]

    def _binds(self, binding: Binding, item: object) -> bool:
        if binding.condition is None:
            return True
        saved = self.variables.get(binding.var, _UNBOUND)
        self.variables[binding.var] = item
        try:
            return self.test(binding.condition)
        finally:
            if saved is _UNBOUND:
                del self.variables[binding.var]
            else:
                self.variables[binding.var] = saved


_UNBOUND = object()
