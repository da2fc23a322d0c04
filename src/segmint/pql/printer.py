"""The PQL printer: renders an ``ast.Expr`` as canonical pql/text.

Keywords in lower case (chain steps upper case), one space around operators, parentheses only
where precedence needs them; ``parse(format(e)) == e`` for every tree ``parse`` can build.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, ClassVar

from segmint.pql import ast

# Precedence levels of pql.md §5.1, lowest first.
LOWEST, OR, AND, NOT, COMPARISON, ADDITIVE, MULTIPLICATIVE, UNARY, POSTFIX, PRIMARY = range(10)

COMPARISON_OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "notIn", "like", "matches")
BINARY_LEVELS = {
    "or": OR,
    "and": AND,
    **dict.fromkeys(COMPARISON_OPERATORS, COMPARISON),
    "+": ADDITIVE,
    "-": ADDITIVE,
    "*": MULTIPLICATIVE,
    "/": MULTIPLICATIVE,
    "%": MULTIPLICATIVE,
}
EXTENDING = (ast.Lambda, ast.Let, ast.Select, ast.Quantified, ast.Aggregate)
POSTFIX_NODES = (ast.FieldLookup, ast.MethodCall, ast.Filter)
STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
IRREGULAR_PLURALS = {ast.TimeUnit.CENTURY: "centuries", ast.TimeUnit.MILLENNIUM: "millennia"}


def format(expr: ast.Expr) -> str:
    """The canonical pql/text of ``expr``."""
    return _Printer().render(expr)


def quote(value: str) -> str:
    """A double-quoted PQL string literal for ``value``."""
    return '"' + "".join(_escape(char) for char in value) + '"'


def _escape(char: str) -> str:
    if char in STRING_ESCAPES:
        return STRING_ESCAPES[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\u{ord(char):04x}"
    return char


def unit_word(unit: ast.TimeUnit, amount: int) -> str:
    if amount == 1:
        return unit.value
    return IRREGULAR_PLURALS.get(unit, unit.value + "s")


def precedence(node: ast.Expr) -> int:
    """The §5.1 level of ``node``: it needs parentheses where a higher level is required."""
    if isinstance(node, EXTENDING):
        return LOWEST
    if isinstance(node, ast.Binary):
        return BINARY_LEVELS[node.op]
    if isinstance(node, ast.Unary):
        return NOT if node.op == "not" else UNARY
    if isinstance(node, ast.Occurs):
        return COMPARISON
    if isinstance(node, POSTFIX_NODES):
        return POSTFIX
    if isinstance(node, ast.Literal) and _is_negative(node):
        return UNARY
    return PRIMARY


def _is_negative(node: ast.Literal) -> bool:
    if node.kind not in (ast.LiteralKind.INTEGER, ast.LiteralKind.DOUBLE):
        return False
    assert isinstance(node.value, int | float)
    return math.copysign(1, node.value) < 0


class _Printer:
    def render(self, node: ast.Expr, level: int = LOWEST) -> str:
        text = self._RULES[type(node)](self, node)
        return f"({text})" if precedence(node) < level else text

    def _join(self, nodes: Iterable[ast.Expr]) -> str:
        return ", ".join(self.render(node) for node in nodes)

    # --- values and references ---------------------------------------------------------------

    def _literal(self, node: ast.Literal) -> str:
        value = node.value
        if node.kind is ast.LiteralKind.BOOLEAN:
            return "true" if value else "false"
        if isinstance(value, str):
            return quote(value)
        if isinstance(value, datetime):
            return quote(value.isoformat() + "Z")
        if isinstance(value, date):
            return f"date({value.year}, {value.month}, {value.day})"
        if node.kind is ast.LiteralKind.DOUBLE:
            return _double(float(value))
        return str(int(value))

    def _list(self, node: ast.ListLiteral) -> str:
        return f"[{self._join(node.items)}]"

    def _object(self, node: ast.ObjectLiteral) -> str:
        entries = ", ".join(f"{quote(key)}: {self.render(value)}" for key, value in node.entries)
        return f"{{{entries}}}"

    def _name(self, node: ast.Name | ast.VarRef) -> str:
        return node.name

    def _param(self, node: ast.ParamRef) -> str:
        return f"${node.position}"

    def _scope(self, node: ast.ImplicitScope) -> str:
        if node.depth:
            raise ValueError("an outer implicit scope has no pql/text form without a field")
        return "this"

    def _xevent(self, node: ast.XEvent) -> str:
        return "xEvent"

    def _context(self, node: ast.ContextRef) -> str:
        return f"@{{{node.schema_id}}}"

    def _up_ref(self, node: ast.UpRef) -> str:
        return "^" * node.levels + "." + node.name

    def _field(self, node: ast.FieldLookup) -> str:
        target = node.target
        if isinstance(target, ast.ImplicitScope) and target.depth:
            return "^" * target.depth + "." + node.field_name
        return f"{self.render(target, POSTFIX)}.{node.field_name}"

    def _filter(self, node: ast.Filter) -> str:
        return f"{self.render(node.target, POSTFIX)}[{self.render(node.condition)}]"

    # --- operators and calls -------------------------------------------------------------------

    def _unary(self, node: ast.Unary) -> str:
        if node.op == "not":
            return f"not {self.render(node.operand, NOT)}"
        return f"-{self.render(node.operand, UNARY)}"

    def _binary(self, node: ast.Binary) -> str:
        # Walk down the left operands that need no parentheses in a loop, not by recursion:
        # long `or` chains (hundreds of values) are common.
        tails: list[str] = []
        while True:
            level = BINARY_LEVELS[node.op]
            tails.append(f" {node.op} {self.render(node.right, level + 1)}")
            left = node.left
            if level == COMPARISON or not isinstance(left, ast.Binary):
                break
            if BINARY_LEVELS[left.op] < level:
                break
            node = left
        left_level = level + 1 if level == COMPARISON else level
        return self.render(node.left, left_level) + "".join(reversed(tails))

    def _method(self, node: ast.MethodCall) -> str:
        return f"{self.render(node.target, POSTFIX)}.{node.method}({self._join(node.args)})"

    def _call(self, node: ast.FunctionCall) -> str:
        return f"{node.name}({self._join(node.args)})"

    # --- time ----------------------------------------------------------------------------------

    def _time_ref(self, node: ast.TimeRef) -> str:
        return node.kind if node.unit is None else f"{node.kind} {node.unit.value}"

    def _occurs(self, node: ast.Occurs) -> str:
        return f"{self.render(node.target, ADDITIVE)} occurs {self.occurs_tail(node)}"

    def occurs_tail(self, node: ast.Occurs) -> str:
        """What follows ``occurs`` (also the argument of a chain step's ``WHEN``)."""
        anchor = self._anchor(node.anchor)
        if node.form == "relative":
            assert node.amount is not None and node.unit is not None
            unit = unit_word(node.unit, node.amount)
            return f"{node.comparator} {node.amount} {unit} {node.direction} {anchor}"
        if node.form == "direction":
            return f"{node.direction} {anchor}"
        if node.form == "between":
            assert node.anchor2 is not None
            return f"between {anchor} and {self._anchor(node.anchor2)}"
        return anchor if isinstance(node.anchor, ast.TimeRef) else f"on {anchor}"

    def _anchor(self, node: ast.Expr) -> str:
        return self.render(node, POSTFIX)

    # --- binding constructs --------------------------------------------------------------------

    def _bindings(self, bindings: Iterable[ast.Binding]) -> str:
        return ", ".join(self._binding(binding) for binding in bindings)

    def _binding(self, node: ast.Binding) -> str:
        text = f"{node.var} from {self.render(node.source, ADDITIVE)}"
        if node.condition is not None:
            text += f" where {self.render(node.condition, OR)}"
        return text

    def _select(self, node: ast.Select) -> str:
        return f"select {self._bindings(node.bindings)}"

    def _quantified(self, node: ast.Quantified) -> str:
        return f"{node.quantifier} {self._bindings(node.bindings)}"

    def _aggregate(self, node: ast.Aggregate) -> str:
        if node.value is None:
            return f"{node.function} {self._bindings(node.bindings)}"
        value = self.render(node.value, ADDITIVE)
        return f"{node.function} {value} over {self._bindings(node.bindings)}"

    def _let(self, node: ast.Let) -> str:
        value = self.render(node.value, ADDITIVE)
        return f"let {node.name} = {value} in {self.render(node.body)}"

    def _lambda(self, node: ast.Lambda) -> str:
        return f"({', '.join(node.params)}) => {self.render(node.body)}"

    def _chain(self, node: ast.Chain) -> str:
        steps = ", ".join(self._step(step) for step in node.steps)
        events = self.render(node.events, ADDITIVE)
        return f"chain({events}, {node.timestamp_field}, [{steps}])"

    def _step(self, node: ast.ChainStep) -> str:
        text = f"{node.label}: WHAT({self.render(node.what)})"
        if node.when is not None:
            text += f" WHEN({self.occurs_tail(node.when)})"
        if node.where is not None:
            text += f" WHERE({self.render(node.where)})"
        if node.count is not None:
            text += f" COUNT({node.count})"
        return text

    _RULES: ClassVar[dict[type, Callable[[_Printer, Any], str]]] = {
        ast.Literal: _literal,
        ast.ListLiteral: _list,
        ast.ObjectLiteral: _object,
        ast.Name: _name,
        ast.VarRef: _name,
        ast.ParamRef: _param,
        ast.ImplicitScope: _scope,
        ast.XEvent: _xevent,
        ast.ContextRef: _context,
        ast.UpRef: _up_ref,
        ast.FieldLookup: _field,
        ast.Filter: _filter,
        ast.Unary: _unary,
        ast.Binary: _binary,
        ast.MethodCall: _method,
        ast.FunctionCall: _call,
        ast.TimeRef: _time_ref,
        ast.Occurs: _occurs,
        ast.Select: _select,
        ast.Quantified: _quantified,
        ast.Aggregate: _aggregate,
        ast.Let: _let,
        ast.Lambda: _lambda,
        ast.Chain: _chain,
    }


def _double(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"{value} has no pql/text form")
    return repr(value)
