"""The PQL type checker: resolves names against a ``Schema`` and types every node.

``check`` returns a resolved copy of a parsed tree (``Name`` → ``VarRef`` or ``FieldLookup`` on
``ImplicitScope``), coerces literals to field types (pql.md §1.7), and rejects what Segmint
does not evaluate yet with ``PQLUnsupportedError``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeAlias

from segmint.pql import ast
from segmint.pql.errors import (
    PQLError,
    PQLNameError,
    PQLTypeError,
    PQLUnsupportedError,
)
from segmint.pql.lexer import SourceMap
from segmint.pql.printer import format as format_pql
from segmint.pql.types import (
    ANY,
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    INTEGER,
    STRING,
    TIME_REF,
    ArrayType,
    MapType,
    ObjectType,
    PQLType,
    ScalarKind,
    ScalarType,
    Schema,
    is_numeric,
    is_temporal,
)

STRING_METHODS = frozenset(
    {
        "startsWith",
        "doesNotStartWith",
        "endsWith",
        "doesNotEndWith",
        "contains",
        "doesNotContain",
        "equals",
        "notEqualTo",
    }
)
NULL_METHODS = frozenset({"isNull", "isNotNull"})
LOGICAL = ("and", "or")
# Methods of pql.md §7.0 that Segmint does not evaluate yet.
LATER_METHODS = frozenset(
    {
        "matches", "regexGroup", "intersects", "subsetOf", "supersetOf", "intersection",
        "includes", "distinct", "groupBy", "filter", "map", "topN", "bottomN", "head", "exists",
        "sum", "average", "min", "max", "get", "keys", "values", "getMonth", "getYear",
        "getDayOfMonth",
    }
)  # fmt: skip
KNOWN_METHODS = STRING_METHODS | NULL_METHODS | LATER_METHODS | {"count"}
CALENDAR_FUNCTIONS = frozenset({"currentYear", "currentMonth", "currentDayOfMonth"})
LATER_FUNCTIONS = frozenset({"if", "inSegment", "mapEntry"})
KNOWN_FUNCTIONS = CALENDAR_FUNCTIONS | LATER_FUNCTIONS | {"date"}

LITERAL_TYPES: dict[ast.LiteralKind, PQLType] = {
    ast.LiteralKind.STRING: STRING,
    ast.LiteralKind.INTEGER: INTEGER,
    ast.LiteralKind.DOUBLE: DOUBLE,
    ast.LiteralKind.BOOLEAN: BOOLEAN,
    ast.LiteralKind.DATE: DATE,
    ast.LiteralKind.DATETIME: DATETIME,
}
UNSUPPORTED_NODES: dict[type, str] = {
    ast.Filter: "bracket filter `[…]`",
    ast.UpRef: "up-scope reference `^`",
    ast.Lambda: "lambda `(…) => …`",
    ast.Let: "`let`",
    ast.Chain: "`chain`",
    ast.ObjectLiteral: "object literal `{…}`",
    ast.ContextRef: "context-data reference `@{…}`",
}
INTEGER_TEXT = re.compile(r"[+-]?\d+")
DOUBLE_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def check(expr: ast.Expr, schema: Schema, *, source: str = "") -> ast.Expr:
    """Resolve and type ``expr`` against ``schema``; ``source`` (the pql/text) improves errors.

    Raises ``PQLNameError``, ``PQLTypeError`` or ``PQLUnsupportedError`` located at the fault.
    """
    return _Checker(schema, source).check_root(expr)


@dataclass(frozen=True)
class _Env:
    """Variables in scope; ``in_where`` inside a ``select`` condition (bare names refused)."""

    variables: Mapping[str, PQLType] = field(default_factory=dict)
    in_where: bool = False

    def bind(self, name: str, type_: PQLType) -> _Env:
        return _Env({**self.variables, name: type_}, in_where=True)


_Rule: TypeAlias = Callable[["_Checker", Any, _Env], ast.Expr]


def comparable(left: PQLType, right: PQLType) -> bool:
    """Whether ``=``/``!=``/``in`` may compare values of these types."""
    if ANY in (left, right):
        return True
    if isinstance(left, ScalarType) and isinstance(right, ScalarType):
        return (
            left.kind == right.kind
            or (is_numeric(left) and is_numeric(right))
            or (is_temporal(left) and is_temporal(right))
        )
    if isinstance(left, ArrayType) and isinstance(right, ArrayType):
        return comparable(left.item, right.item)
    if isinstance(left, MapType) and isinstance(right, MapType):
        return comparable(left.value, right.value)
    if isinstance(left, ObjectType) and isinstance(right, ObjectType):
        return left.name == right.name
    return False


def ordered(left: PQLType, right: PQLType) -> bool:
    """Whether ``<``/``<=``/``>``/``>=`` may compare values of these types."""
    if ANY in (left, right):
        return True
    return (
        (is_numeric(left) and is_numeric(right))
        or (left == STRING and right == STRING)
        or (is_temporal(left) and is_temporal(right))
    )


def _type_of(node: ast.Expr) -> PQLType:
    assert node.type is not None, "checked nodes are typed"
    return node.type


def _is_string_literal(node: ast.Expr) -> bool:
    return isinstance(node, ast.Literal) and node.kind is ast.LiteralKind.STRING


def _is_kind(type_: PQLType, kind: ScalarKind) -> bool:
    return type_ == ANY or (isinstance(type_, ScalarType) and type_.kind is kind)


def _suggest(name: str, candidates: Sequence[str]) -> str:
    same_case = [c for c in candidates if c.lower() == name.lower()]
    close = same_case + difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    matches = list(dict.fromkeys(close))[:3]
    return f"; did you mean {' or '.join(f'`{m}`' for m in matches)}?" if matches else ""


class _Checker:
    def __init__(self, schema: Schema, source: str) -> None:
        self._schema = schema
        self._source = source
        self._source_map = SourceMap(source) if source else None

    def check_root(self, expr: ast.Expr) -> ast.Expr:
        checked = self._condition(expr, _Env())
        constant = isinstance(checked, ast.ListLiteral) or (
            isinstance(checked, ast.Literal) and checked.kind is not ast.LiteralKind.BOOLEAN
        )
        if constant:
            raise self._fail(PQLTypeError, "a segment definition must be a condition", expr)
        return checked

    # --- errors --------------------------------------------------------------------------------

    def _fail(
        self, error: type[PQLError], message: str, where: ast.Node | ast.Span | None
    ) -> PQLError:
        span = where.span if isinstance(where, ast.Node) else where
        if span is None:
            return error(message, source=self._source)
        length = span.end - span.start
        return error(
            message, source=self._source, line=span.line, column=span.column, length=length
        )

    def _unsupported(self, node: ast.Node, construct: str, hint: str = "") -> PQLError:
        message = f"{construct} is not supported yet{hint}"
        return self._fail(PQLUnsupportedError, message, node)

    def _span_at(self, offset: int, length: int, near: ast.Span | None) -> ast.Span | None:
        """``length`` characters at ``offset``; without the source, assume ``near``'s line."""
        if near is None:
            return None
        if self._source_map is None:
            line, column = near.line, near.column + offset - near.start
        else:
            line, column = self._source_map.locate(offset)
        return ast.Span(offset, offset + length, line, column)

    def _field_span(self, node: ast.FieldLookup) -> ast.Span | None:
        if node.span is None:
            return None
        name = node.field_name
        return self._span_at(node.span.end - len(name), len(name), node.span)

    def _method_span(self, node: ast.MethodCall) -> ast.Span | None:
        target = node.target.span
        if node.span is None or target is None:
            return node.span
        found = self._source.find(node.method, target.end) if self._source else -1
        offset = found if found >= 0 else target.end + 1
        return self._span_at(offset, len(node.method), node.span)

    # --- positions -----------------------------------------------------------------------------

    def _condition(self, node: ast.Expr, env: _Env) -> ast.Expr:
        """A boolean position (§1.4): any type is accepted, and so are ``xEvent``/``select``."""
        if isinstance(node, ast.XEvent):
            return self._xevent(node)
        if isinstance(node, ast.Select):
            return self._select(node, env)
        return self._value(node, env)

    def _value(self, node: ast.Expr, env: _Env) -> ast.Expr:
        return self._VALUE_RULES[type(node)](self, node, env)

    def _receiver(self, node: ast.Expr, env: _Env) -> ast.Expr:
        """The target of ``.field`` or ``.count()``, where ``xEvent``/``select`` may appear."""
        return self._condition(node, env)

    # --- collections -----------------------------------------------------------------------------

    def _xevent(self, node: ast.XEvent) -> ast.XEvent:
        return replace(node, type=ArrayType(self._schema.event))

    def _select(self, node: ast.Select, env: _Env) -> ast.Select:
        if len(node.bindings) > 1:
            raise self._unsupported(node, "`select` with several bindings")
        binding = node.bindings[0]
        if not isinstance(binding.source, ast.XEvent):
            raise self._unsupported(binding.source, "`select` over anything but `xEvent`")
        event = self._schema.event
        condition = binding.condition
        if condition is not None:
            condition = self._condition(condition, env.bind(binding.var, event))
        source = self._xevent(binding.source)
        checked = replace(binding, source=source, condition=condition, type=event)
        return replace(node, bindings=(checked,), type=ArrayType(event))

    def _misplaced_collection(self, node: ast.XEvent | ast.Select, env: _Env) -> ast.Expr:
        construct = "`xEvent`" if isinstance(node, ast.XEvent) else "`select`"
        raise self._unsupported(node, f"{construct} outside a condition or `.count()`")

    # --- values and references -----------------------------------------------------------------

    def _literal(self, node: ast.Literal, env: _Env) -> ast.Literal:
        return replace(node, type=LITERAL_TYPES[node.kind])

    def _list(self, node: ast.ListLiteral, env: _Env) -> ast.ListLiteral:
        items = tuple(self._value(item, env) for item in node.items)
        return self._typed_list(node, items)

    def _typed_list(self, node: ast.ListLiteral, items: tuple[ast.Expr, ...]) -> ast.ListLiteral:
        item_type: PQLType = ANY
        for item in items:
            if not comparable(item_type, _type_of(item)):
                message = f"a list cannot mix {item_type} and {_type_of(item)} items"
                raise self._fail(PQLTypeError, message, item)
            item_type = _widen(item_type, _type_of(item))
        return replace(node, items=items, type=ArrayType(item_type))

    def _name(self, node: ast.Name, env: _Env) -> ast.Expr:
        if node.name in env.variables:
            return ast.VarRef(node.name, span=node.span, type=env.variables[node.name])
        if env.in_where:
            variable = list(env.variables)[-1]
            hint = f"; write `{variable}.{node.name}`"
            raise self._unsupported(node, "a bare name inside a `select` condition", hint)
        profile = self._schema.profile
        scope = ast.ImplicitScope(0, span=node.span, type=profile)
        return self._lookup(ast.FieldLookup(scope, node.name, span=node.span), profile)

    def _var_ref(self, node: ast.VarRef, env: _Env) -> ast.VarRef:
        if node.name not in env.variables:
            raise self._fail(PQLNameError, f"unknown variable `{node.name}`", node)
        return replace(node, type=env.variables[node.name])

    def _param(self, node: ast.ParamRef, env: _Env) -> ast.Expr:
        if node.position != 1:
            message = f"`${node.position}` is not defined: a segment has one input, `$1`"
            raise self._fail(PQLNameError, message, node)
        return ast.ImplicitScope(0, span=node.span, type=self._schema.profile)

    def _scope(self, node: ast.ImplicitScope, env: _Env) -> ast.Expr:
        if node.depth:
            raise self._unsupported(node, UNSUPPORTED_NODES[ast.UpRef])
        if env.in_where:
            raise self._unsupported(node, "`this` inside a `select` condition")
        return replace(node, type=self._schema.profile)

    def _field(self, node: ast.FieldLookup, env: _Env) -> ast.Expr:
        target = self._receiver(node.target, env)
        target_type = _type_of(target)
        if isinstance(target_type, ArrayType):
            construct = f"a field path through an array (`.{node.field_name}` on {target_type})"
            raise self._unsupported(node, construct)
        if not isinstance(target_type, ObjectType):
            message = f"cannot read field `{node.field_name}` of a {target_type}"
            raise self._fail(PQLTypeError, message, self._field_span(node))
        return self._lookup(replace(node, target=target), target_type)

    def _lookup(self, node: ast.FieldLookup, owner: ObjectType) -> ast.FieldLookup:
        field_type = owner.fields.get(node.field_name)
        if field_type is None:
            name = node.field_name
            message = f"unknown field `{name}` in {owner.name}{_suggest(name, list(owner.fields))}"
            raise self._fail(PQLNameError, message, self._field_span(node))
        return replace(node, type=field_type)

    # --- operators -----------------------------------------------------------------------------

    def _unary(self, node: ast.Unary, env: _Env) -> ast.Unary:
        if node.op == "not":
            return replace(node, operand=self._condition(node.operand, env), type=BOOLEAN)
        operand = self._value(node.operand, env)
        if not is_numeric(_type_of(operand)):
            message = f"unary `-` needs a number; got {_type_of(operand)}"
            raise self._fail(PQLTypeError, message, node)
        return replace(node, operand=operand, type=_type_of(operand))

    def _binary(self, node: ast.Binary, env: _Env) -> ast.Expr:
        if node.op == "matches":
            raise self._unsupported(node, "`matches`")
        return self._BINARY_RULES[node.op](self, node, env)

    def _logical(self, node: ast.Binary, env: _Env) -> ast.Binary:
        # A loop down the left spine, not recursion: long `or` chains are common.
        spine = [node]
        while isinstance(spine[-1].left, ast.Binary) and spine[-1].left.op in LOGICAL:
            spine.append(spine[-1].left)
        checked = self._condition(spine[-1].left, env)
        for part in reversed(spine):
            right = self._condition(part.right, env)
            checked = replace(part, left=checked, right=right, type=BOOLEAN)
        assert isinstance(checked, ast.Binary)
        return checked

    def _equality(self, node: ast.Binary, env: _Env) -> ast.Binary:
        left, right = self._operands(node, env)
        if not comparable(_type_of(left), _type_of(right)):
            message = f"cannot compare {_type_of(left)} with {_type_of(right)} using `{node.op}`"
            raise self._fail(PQLTypeError, message, node)
        return replace(node, left=left, right=right, type=BOOLEAN)

    def _ordering(self, node: ast.Binary, env: _Env) -> ast.Binary:
        left, right = self._operands(node, env)
        if not ordered(_type_of(left), _type_of(right)):
            message = (
                f"`{node.op}` needs two numbers, two strings or two dates; "
                f"got {_type_of(left)} and {_type_of(right)}"
            )
            raise self._fail(PQLTypeError, message, node)
        return replace(node, left=left, right=right, type=BOOLEAN)

    def _operands(self, node: ast.Binary, env: _Env) -> tuple[ast.Expr, ast.Expr]:
        """Both operands, a string literal coerced to the type of the other side (§1.7)."""
        left = self._value(node.left, env)
        right = self._value(node.right, env)
        if _is_string_literal(right) and not isinstance(left, ast.Literal):
            right = self._coerce(right, _type_of(left))
        elif _is_string_literal(left) and not isinstance(right, ast.Literal):
            left = self._coerce(left, _type_of(right))
        return left, right

    def _arithmetic(self, node: ast.Binary, env: _Env) -> ast.Binary:
        left = self._value(node.left, env)
        right = self._value(node.right, env)
        left_type, right_type = _type_of(left), _type_of(right)
        if not (is_numeric(left_type) and is_numeric(right_type)):
            message = f"`{node.op}` needs two numbers; got {left_type} and {right_type}"
            raise self._fail(PQLTypeError, message, node)
        both_integers = left_type == INTEGER and right_type == INTEGER
        result = INTEGER if both_integers and node.op != "/" else DOUBLE
        return replace(node, left=left, right=right, type=result)

    def _like(self, node: ast.Binary, env: _Env) -> ast.Binary:
        left = self._value(node.left, env)
        right = self._value(node.right, env)
        if not (_is_kind(_type_of(left), ScalarKind.STRING) and _type_of(right) == STRING):
            message = f"`like` needs two strings; got {_type_of(left)} and {_type_of(right)}"
            raise self._fail(PQLTypeError, message, node)
        return replace(node, left=left, right=right, type=BOOLEAN)

    def _membership(self, node: ast.Binary, env: _Env) -> ast.Binary:
        left = self._value(node.left, env)
        if isinstance(_type_of(left), ArrayType | ObjectType | MapType):
            message = f"the left side of `{node.op}` must be a single value; got {left.type}"
            raise self._fail(PQLTypeError, message, left)
        if isinstance(node.right, ast.ListLiteral):
            right: ast.Expr = self._member_list(node.right, left, env)
        else:
            right = self._value(node.right, env)
        right_type = _type_of(right)
        if not isinstance(right_type, ArrayType):
            message = f"the right side of `{node.op}` must be a list or an array; got {right_type}"
            raise self._fail(PQLTypeError, message, right)
        if _is_string_literal(left):
            left = self._coerce(left, right_type.item)
        if not comparable(_type_of(left), right_type.item):
            message = f"cannot look for {left.type} in {right_type}"
            raise self._fail(PQLTypeError, message, node)
        return replace(node, left=left, right=right, type=BOOLEAN)

    def _member_list(self, node: ast.ListLiteral, left: ast.Expr, env: _Env) -> ast.ListLiteral:
        items = tuple(self._value(item, env) for item in node.items)
        if not isinstance(left, ast.Literal):
            items = tuple(
                self._coerce(item, _type_of(left)) if _is_string_literal(item) else item
                for item in items
            )
        return self._typed_list(node, items)

    # --- literal coercion (§1.7) -----------------------------------------------------------------

    def _coerce(self, node: ast.Expr, target: PQLType) -> ast.Expr:
        """The string literal ``node`` as a literal of ``target``'s scalar type, if it has one."""
        if not isinstance(target, ScalarType) or target.kind not in _COERCIONS:
            return node
        assert isinstance(node, ast.Literal) and isinstance(node.value, str)
        parse_value, kind, expected = _COERCIONS[target.kind]
        value = parse_value(node.value)
        if value is None:
            message = f'cannot use "{node.value}" as a {target}: expected {expected}'
            raise self._fail(PQLTypeError, message, node)
        return ast.Literal(value, kind, span=node.span, type=target)

    # --- calls ---------------------------------------------------------------------------------

    def _method(self, node: ast.MethodCall, env: _Env) -> ast.Expr:
        name = node.method
        if name in STRING_METHODS:
            return self._string_method(node, env)
        if name in NULL_METHODS:
            self._arity(node, 0, 0)
            return replace(node, target=self._value(node.target, env), type=BOOLEAN)
        if name == "count":
            return self._count(node, env)
        if name in LATER_METHODS:
            raise self._unsupported(node, f"method `.{name}()`")
        message = f"unknown method `.{name}()`{_suggest(name, sorted(KNOWN_METHODS))}"
        raise self._fail(PQLNameError, message, self._method_span(node))

    def _arity(self, node: ast.MethodCall | ast.FunctionCall, low: int, high: int) -> None:
        count = len(node.args)
        if low <= count <= high:
            return
        name = f".{node.method}()" if isinstance(node, ast.MethodCall) else f"{node.name}()"
        expected = str(low) if low == high else f"{low} or {high}"
        plural = "" if high == 1 else "s"
        message = f"`{name}` takes {expected} argument{plural}, got {count}"
        raise self._fail(PQLTypeError, message, node)

    def _string_method(self, node: ast.MethodCall, env: _Env) -> ast.MethodCall:
        self._arity(node, 1, 2)
        target = self._value(node.target, env)
        if not _is_kind(_type_of(target), ScalarKind.STRING):
            message = f"`.{node.method}()` needs a string receiver; got {target.type}"
            raise self._fail(PQLTypeError, message, target)
        pattern = self._value(node.args[0], env)
        if not _is_kind(_type_of(pattern), ScalarKind.STRING):
            message = f"`.{node.method}()` needs a string argument; got {pattern.type}"
            raise self._fail(PQLTypeError, message, pattern)
        args = (pattern, *(self._case_flag(node, arg) for arg in node.args[1:]))
        return replace(node, target=target, args=args, type=BOOLEAN)

    def _case_flag(self, node: ast.MethodCall, flag: ast.Expr) -> ast.Expr:
        if not (isinstance(flag, ast.Literal) and flag.kind is ast.LiteralKind.BOOLEAN):
            message = f"the case-sensitivity flag of `.{node.method}()` must be true or false"
            raise self._fail(PQLTypeError, message, flag)
        return replace(flag, type=BOOLEAN)

    def _count(self, node: ast.MethodCall, env: _Env) -> ast.MethodCall:
        self._arity(node, 0, 0)
        target = self._receiver(node.target, env)
        if isinstance(target, ast.XEvent | ast.Select):
            return replace(node, target=target, type=INTEGER)
        if isinstance(target.type, ArrayType):
            raise self._unsupported(node, "`.count()` on anything but `xEvent` or `select`")
        message = f"`.count()` needs an array; got {target.type}"
        raise self._fail(PQLTypeError, message, target)

    def _function(self, node: ast.FunctionCall, env: _Env) -> ast.Expr:
        name = node.name
        if name == "date":
            return self._date(node, env)
        if name in CALENDAR_FUNCTIONS:
            self._arity(node, 0, 0)
            return replace(node, type=INTEGER)
        if name in LATER_FUNCTIONS:
            raise self._unsupported(node, f"`{name}()`")
        message = f"unknown function `{name}()`{_suggest(name, sorted(KNOWN_FUNCTIONS))}"
        name_span = self._span_at(node.span.start, len(name), node.span) if node.span else None
        raise self._fail(PQLNameError, message, name_span)

    def _date(self, node: ast.FunctionCall, env: _Env) -> ast.Expr:
        """``date(y, m, d)``; folded into a ``DATE`` literal when all three are literals."""
        self._arity(node, 3, 3)
        args = tuple(self._value(arg, env) for arg in node.args)
        for arg in args:
            if _type_of(arg) != INTEGER:
                message = f"`date()` takes integer year, month and day; got {arg.type}"
                raise self._fail(PQLTypeError, message, arg)
        if not all(isinstance(arg, ast.Literal) for arg in args):
            return replace(node, args=args, type=DATE)
        numbers = [arg.value for arg in args if isinstance(arg, ast.Literal)]
        try:
            day = date(*(int(number) for number in numbers if isinstance(number, int)))
        except (ValueError, OverflowError) as error:
            raise self._fail(PQLTypeError, f"invalid date: {error}", node) from None
        return ast.Literal(day, ast.LiteralKind.DATE, span=node.span, type=DATE)

    # --- time ----------------------------------------------------------------------------------

    def _occurs(self, node: ast.Occurs, env: _Env) -> ast.Occurs:
        target = self._value(node.target, env)
        if not is_temporal(_type_of(target)):
            message = f"`occurs` needs a date or date-time; got {target.type}"
            raise self._fail(PQLTypeError, message, target)
        anchor = self._anchor(node.anchor, env)
        anchor2 = None if node.anchor2 is None else self._anchor(node.anchor2, env)
        # `from` and `after` mean the same (pql.md §6.3); engines only see `after`.
        direction = "after" if node.direction == "from" else node.direction
        return replace(
            node, target=target, anchor=anchor, anchor2=anchor2, direction=direction, type=BOOLEAN
        )

    def _anchor(self, node: ast.Expr, env: _Env) -> ast.Expr:
        """An ``occurs`` reference: a time word or a literal date."""
        if isinstance(node, ast.TimeRef):
            return replace(node, type=TIME_REF)
        if isinstance(node, ast.FunctionCall) and node.name == "date":
            checked = self._date(node, env)
            if isinstance(checked, ast.Literal):
                return checked
        if isinstance(node, ast.Literal) and node.kind is ast.LiteralKind.DATE:
            return replace(node, type=DATE)
        construct = f"`occurs` relative to `{format_pql(node)}`"
        hint = "; use now, today, yesterday, tomorrow, this|last|next UNIT or date(y, m, d)"
        raise self._unsupported(node, construct, hint)

    def _misplaced_time_ref(self, node: ast.TimeRef, env: _Env) -> ast.Expr:
        message = f"`{format_pql(node)}` can only be used after `occurs`"
        raise self._fail(PQLTypeError, message, node)

    def _unsupported_node(self, node: ast.Expr, env: _Env) -> ast.Expr:
        if isinstance(node, ast.Quantified):
            raise self._unsupported(node, f"the `{node.quantifier}` quantifier")
        if isinstance(node, ast.Aggregate):
            raise self._unsupported(node, f"the `{node.function} … over …` aggregate")
        raise self._unsupported(node, UNSUPPORTED_NODES[type(node)])

    _VALUE_RULES: ClassVar[dict[type, _Rule]] = {
        ast.Literal: _literal,
        ast.ListLiteral: _list,
        ast.Name: _name,
        ast.VarRef: _var_ref,
        ast.ParamRef: _param,
        ast.ImplicitScope: _scope,
        ast.FieldLookup: _field,
        ast.Unary: _unary,
        ast.Binary: _binary,
        ast.MethodCall: _method,
        ast.FunctionCall: _function,
        ast.Occurs: _occurs,
        ast.TimeRef: _misplaced_time_ref,
        ast.XEvent: _misplaced_collection,
        ast.Select: _misplaced_collection,
        **dict.fromkeys((ast.Quantified, ast.Aggregate, *UNSUPPORTED_NODES), _unsupported_node),
    }
    _BINARY_RULES: ClassVar[dict[str, _Rule]] = {
        **dict.fromkeys(LOGICAL, _logical),
        **dict.fromkeys(("=", "!="), _equality),
        **dict.fromkeys(("<", "<=", ">", ">="), _ordering),
        **dict.fromkeys(("+", "-", "*", "/", "%"), _arithmetic),
        **dict.fromkeys(("in", "notIn"), _membership),
        "like": _like,
    }


def _widen(current: PQLType, new: PQLType) -> PQLType:
    """The item type of a list holding ``current`` items and now a ``new`` one."""
    if current == ANY:
        return new
    if is_numeric(current) and is_numeric(new) and current != new:
        return DOUBLE
    return current


def _parse_boolean(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.strip().lower())


def _parse_integer(text: str) -> int | None:
    return int(text) if INTEGER_TEXT.fullmatch(text.strip()) else None


def _parse_double(text: str) -> float | None:
    if not DOUBLE_TEXT.fullmatch(text.strip()):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _parse_date(text: str) -> date | None:
    if not DATE_TEXT.fullmatch(text.strip()):
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _parse_datetime(text: str) -> datetime | None:
    """An ISO-8601 date or date-time as a naive UTC ``datetime`` (no offset means UTC)."""
    if not DATE_TEXT.match(text.strip()):
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


_COERCIONS: dict[ScalarKind, tuple[Callable[[str], Any], ast.LiteralKind, str]] = {
    ScalarKind.BOOLEAN: (_parse_boolean, ast.LiteralKind.BOOLEAN, '"true" or "false"'),
    ScalarKind.INTEGER: (_parse_integer, ast.LiteralKind.INTEGER, "a whole number"),
    ScalarKind.DOUBLE: (_parse_double, ast.LiteralKind.DOUBLE, "a number"),
    ScalarKind.DATE: (_parse_date, ast.LiteralKind.DATE, "an ISO-8601 date like 2020-03-14"),
    ScalarKind.DATETIME: (
        _parse_datetime,
        ast.LiteralKind.DATETIME,
        "an ISO-8601 date-time like 2020-03-14T10:00:00Z",
    ),
}
