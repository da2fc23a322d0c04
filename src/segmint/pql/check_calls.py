"""Checker rules for method and function calls (pql.md §7): the families of the §7.0
catalogue, each typed from its receiver and arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any, ClassVar, TypeAlias

from segmint.pql import ast
from segmint.pql.check_base import (
    CheckerBase,
    Env,
    comparable,
    element,
    is_function,
    is_kind,
    result_of,
    sortable,
    suggest,
    type_of,
    unify,
)
from segmint.pql.errors import PQLNameError, PQLTypeError
from segmint.pql.functions import (
    AGGREGATES,
    CALENDAR_FUNCTIONS,
    CALENDAR_METHODS,
    FUNCTIONS,
    METHODS,
    RECEIVER_TEXT,
    SET_PREDICATES,
    STRING_PREDICATES,
    Signature,
    accepts,
)
from segmint.pql.types import (
    BOOLEAN,
    DATE,
    INTEGER,
    STRING,
    ArrayType,
    MapEntryType,
    MapType,
    PQLType,
    ScalarKind,
)

MethodRule: TypeAlias = Callable[[Any, ast.MethodCall, ast.Expr, Env], ast.Expr]
FunctionRule: TypeAlias = Callable[[Any, ast.FunctionCall, Env], ast.Expr]


def _array(target: ast.Expr) -> ArrayType:
    type_ = type_of(target)
    assert isinstance(type_, ArrayType), "the catalogue checked the receiver"
    return type_


def _map_type(target: ast.Expr) -> MapType:
    type_ = type_of(target)
    assert isinstance(type_, MapType), "the catalogue checked the receiver"
    return type_


class CallRules(CheckerBase):
    """``receiver.method(args)`` and ``function(args)``."""

    def method(self, node: ast.MethodCall, env: Env) -> ast.Expr:
        signature = METHODS.get(node.method)
        if signature is None:
            hint = suggest(node.method, sorted(METHODS))
            message = f"unknown method `.{node.method}()`{hint}"
            raise self.fail(PQLNameError, message, self._method_span(node))
        self._arity(node, signature)
        target = self.value(node.target, env)
        if not accepts(signature.receiver, type_of(target)):
            needed = RECEIVER_TEXT[signature.receiver]
            message = f"`.{node.method}()` needs {needed} receiver; got {target.type}"
            raise self.fail(PQLTypeError, message, target)
        return self._METHOD_RULES[node.method](self, node, target, env)

    def function(self, node: ast.FunctionCall, env: Env) -> ast.Expr:
        signature = FUNCTIONS.get(node.name)
        if signature is None:
            message = f"unknown function `{node.name}()`{suggest(node.name, sorted(FUNCTIONS))}"
            raise self.fail(PQLNameError, message, self._name_span(node))
        self._arity(node, signature)
        return self._FUNCTION_RULES[node.name](self, node, env)

    def _method_span(self, node: ast.MethodCall) -> ast.Span | None:
        after = node.target.span.end if node.target.span else 0
        return self.word_span(node.method, after, node.span)

    def _name_span(self, node: ast.FunctionCall) -> ast.Span | None:
        if node.span is None:
            return None
        return self.span_at(node.span.start, len(node.name), node.span)

    def _arity(self, node: ast.MethodCall | ast.FunctionCall, signature: Signature) -> None:
        count, low, high = len(node.args), signature.low, signature.high
        if low <= count <= high:
            return
        name = f".{node.method}()" if isinstance(node, ast.MethodCall) else f"{node.name}()"
        expected = str(low) if low == high else f"{low} or {high}"
        plural = "" if high == 1 else "s"
        message = f"`{name}` takes {expected} argument{plural}, got {count}"
        raise self.fail(PQLTypeError, message, node)

    # --- string (§7.4) -------------------------------------------------------------------------

    def _string_predicate(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        pattern = self._string_argument(node, node.args[0], env)
        flags = tuple(self._case_flag(node, flag) for flag in node.args[1:])
        return replace(node, target=target, args=(pattern, *flags), type=BOOLEAN)

    def _string_argument(self, node: ast.MethodCall, arg: ast.Expr, env: Env) -> ast.Expr:
        checked = self.value(arg, env)
        if not is_kind(element(type_of(checked)), ScalarKind.STRING):
            message = f"`.{node.method}()` needs a string argument; got {checked.type}"
            raise self.fail(PQLTypeError, message, checked)
        return checked

    def _case_flag(self, node: ast.MethodCall, flag: ast.Expr) -> ast.Expr:
        if not (isinstance(flag, ast.Literal) and flag.kind is ast.LiteralKind.BOOLEAN):
            message = f"the case-sensitivity flag of `.{node.method}()` must be true or false"
            raise self.fail(PQLTypeError, message, flag)
        return replace(flag, type=BOOLEAN)

    def _regex_group(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        pattern = self._string_argument(node, node.args[0], env)
        groups = tuple(self.value(arg, env) for arg in node.args[1:])
        for group in groups:
            if not is_kind(type_of(group), ScalarKind.INTEGER):
                message = f"`.regexGroup()` takes an integer group number; got {group.type}"
                raise self.fail(PQLTypeError, message, group)
        return replace(node, target=target, args=(pattern, *groups), type=STRING)

    # --- object and date (§7.8, §6.1) ----------------------------------------------------------

    def _null_test(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        return replace(node, target=target, type=BOOLEAN)

    def _calendar_part(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        return replace(node, target=target, type=INTEGER)

    # --- array, list and set (§7.5) ------------------------------------------------------------

    def _count(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        return replace(node, target=target, type=INTEGER)

    def _head(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        return replace(node, target=target, type=_array(target).item)

    def _distinct(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        return replace(node, target=target, type=_array(target))

    def _exists(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        predicate = self.item_relative(node.args[0], _array(target).item, env)
        return replace(node, target=target, args=(predicate,), type=BOOLEAN)

    def _filter_method(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        predicate = self.item_relative(node.args[0], _array(target).item, env)
        return replace(node, target=target, args=(predicate,), type=_array(target))

    def _group_by(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        array = _array(target)
        key = self.item_relative(node.args[0], array.item, env)
        groups = MapType(ArrayType(array.item), key=result_of(key))
        return replace(node, target=target, args=(key,), type=groups)

    def _map(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        receiver = type_of(target)
        if isinstance(receiver, MapType):
            return self._map_entries(node, target, receiver, env)
        assert isinstance(receiver, ArrayType)
        body = self.item_relative(node.args[0], receiver.item, env)
        return replace(node, target=target, args=(body,), type=ArrayType(result_of(body)))

    def _map_entries(
        self, node: ast.MethodCall, target: ast.Expr, receiver: MapType, env: Env
    ) -> ast.MethodCall:
        """``m.map((K, V) => mapEntry(…))`` builds a map; ``m.map(expr)`` one value per
        entry, with the entry's value (a group after ``groupBy``) as ``this``."""
        arg = node.args[0]
        if not isinstance(arg, ast.Lambda):
            body = self.value(arg, env.push(receiver.value))
            return replace(node, target=target, args=(body,), type=ArrayType(type_of(body)))
        if len(arg.params) != 2:
            message = "`.map()` on a map takes a `(key, value) => mapEntry(…)` lambda"
            raise self.fail(PQLTypeError, message, arg)
        function = self.lambda_argument(arg, (receiver.key, receiver.value), env)
        entry = result_of(function)
        if not isinstance(entry, MapEntryType):
            message = f"a `(key, value)` lambda must return `mapEntry(key, value)`; got {entry}"
            raise self.fail(PQLTypeError, message, arg.body)
        result = MapType(entry.fields["value"], key=entry.fields["key"])
        return replace(node, target=target, args=(function,), type=result)

    def _top(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        array = _array(target)
        key = self.item_relative(node.args[0], array.item, env)
        if not sortable(result_of(key)):
            message = f"`.{node.method}()` sorts by numbers, strings or dates; got {result_of(key)}"
            raise self.fail(PQLTypeError, message, node.args[0])
        count = self.value(node.args[1], env)
        if not is_kind(type_of(count), ScalarKind.INTEGER):
            message = f"`.{node.method}()` takes an integer count; got {count.type}"
            raise self.fail(PQLTypeError, message, count)
        return replace(node, target=target, args=(key, count), type=array)

    def _aggregate(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        item = _array(target).item
        args = tuple(self.item_relative(arg, item, env) for arg in node.args)
        value = result_of(args[0]) if args else item
        result = self.aggregate_type(node.method, value, args[0] if args else node)
        return replace(node, target=target, args=args, type=result)

    def _set_operation(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        array = _array(target)
        other = self.array_argument(node.args[0], array.item, env)
        other_type = type_of(other)
        if not isinstance(other_type, ArrayType):
            message = f"`.{node.method}()` needs an array argument; got {other_type}"
            raise self.fail(PQLTypeError, message, other)
        if not comparable(array.item, other_type.item):
            message = f"`.{node.method}()` cannot compare {array} with {other_type}"
            raise self.fail(PQLTypeError, message, node)
        result: PQLType = array if node.method == "intersection" else BOOLEAN
        return replace(node, target=target, args=(other,), type=result)

    def _includes(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        item = _array(target).item
        value = self.coerce(self.value(node.args[0], env), item)
        if not comparable(element(type_of(value)), item):
            message = f"cannot look for {value.type} in {target.type}"
            raise self.fail(PQLTypeError, message, value)
        return replace(node, target=target, args=(value,), type=BOOLEAN)

    # --- map (§7.7) ----------------------------------------------------------------------------

    def _get(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        map_type = _map_type(target)
        key = self.coerce(self.value(node.args[0], env), map_type.key)
        if not comparable(type_of(key), map_type.key):
            message = f"the keys of {map_type} are not {key.type}"
            raise self.fail(PQLTypeError, message, key)
        return replace(node, target=target, args=(key,), type=map_type.value)

    def _keys(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        return replace(node, target=target, type=ArrayType(_map_type(target).key))

    def _values(self, node: ast.MethodCall, target: ast.Expr, env: Env) -> ast.MethodCall:
        return replace(node, target=target, type=ArrayType(_map_type(target).value))

    # --- functions -----------------------------------------------------------------------------

    def _if(self, node: ast.FunctionCall, env: Env) -> ast.FunctionCall:
        test = self.condition(node.args[0], env)
        then, otherwise = (self.value(arg, env) for arg in node.args[1:])
        result = unify(type_of(then), type_of(otherwise))
        if result is None:
            message = (
                "the two branches of `if()` must have the same type; "
                f"got {then.type} and {otherwise.type}"
            )
            raise self.fail(PQLTypeError, message, node)
        return replace(node, args=(test, then, otherwise), type=result)

    def _in_segment(self, node: ast.FunctionCall, env: Env) -> ast.FunctionCall:
        segment = node.args[0]
        if not (isinstance(segment, ast.Literal) and segment.kind is ast.LiteralKind.STRING):
            message = "`inSegment()` takes a segment id as a string literal"
            raise self.fail(PQLTypeError, message, segment)
        return replace(node, args=(replace(segment, type=STRING),), type=BOOLEAN)

    def _map_entry(self, node: ast.FunctionCall, env: Env) -> ast.FunctionCall:
        key, value = (self.value(arg, env) for arg in node.args)
        for part in (key, value):
            if is_function(type_of(part)):
                raise self.fail(PQLTypeError, "a map entry cannot hold a lambda", part)
        return replace(node, args=(key, value), type=MapEntryType.of(type_of(key), type_of(value)))

    def _calendar(self, node: ast.FunctionCall, env: Env) -> ast.FunctionCall:
        return replace(node, type=INTEGER)

    def date_call(self, node: ast.FunctionCall, env: Env) -> ast.Expr:
        """``date(y, m, d)``; folded into a ``DATE`` literal when all three are literals."""
        args = tuple(self.value(arg, env) for arg in node.args)
        for arg in args:
            if type_of(arg) != INTEGER:
                message = f"`date()` takes integer year, month and day; got {arg.type}"
                raise self.fail(PQLTypeError, message, arg)
        if not all(isinstance(arg, ast.Literal) for arg in args):
            return replace(node, args=args, type=DATE)
        numbers = [arg.value for arg in args if isinstance(arg, ast.Literal)]
        try:
            day = date(*(int(number) for number in numbers if isinstance(number, int)))
        except (ValueError, OverflowError) as error:
            raise self.fail(PQLTypeError, f"invalid date: {error}", node) from None
        return ast.Literal(day, ast.LiteralKind.DATE, span=node.span, type=DATE)

    _METHOD_RULES: ClassVar[dict[str, MethodRule]] = {
        **dict.fromkeys(STRING_PREDICATES, _string_predicate),
        "matches": _string_predicate,
        "regexGroup": _regex_group,
        "isNull": _null_test,
        "isNotNull": _null_test,
        **dict.fromkeys(CALENDAR_METHODS, _calendar_part),
        "count": _count,
        "head": _head,
        "distinct": _distinct,
        "exists": _exists,
        "filter": _filter_method,
        "groupBy": _group_by,
        "map": _map,
        "topN": _top,
        "bottomN": _top,
        **dict.fromkeys(AGGREGATES, _aggregate),
        **dict.fromkeys((*SET_PREDICATES, "intersection"), _set_operation),
        "includes": _includes,
        "get": _get,
        "keys": _keys,
        "values": _values,
    }
    _FUNCTION_RULES: ClassVar[dict[str, FunctionRule]] = {
        "if": _if,
        "inSegment": _in_segment,
        "mapEntry": _map_entry,
        "date": date_call,
        **dict.fromkeys(CALENDAR_FUNCTIONS, _calendar),
    }
