"""Method calls ``receiver.method(args)`` (pql.md §7.4-7.8, §6.1), one family per section.

Predicates over a projected receiver or argument (a path through an array) are existential;
the null rules are :mod:`runtime`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from datetime import date
from typing import ClassVar

from segmint.engine.interpreter import runtime
from segmint.engine.interpreter.base import ENGINE, Machine
from segmint.engine.interpreter.data import conform
from segmint.engine.interpreter.regex import compile_java
from segmint.engine.interpreter.runtime import is_null, unsupported
from segmint.pql.ast import Expr, Lambda, MethodCall
from segmint.pql.types import INTEGER, ArrayType, MapType

Method = Callable[["MethodRules", MethodCall], object]


def projected(node: Expr) -> bool:
    """Whether ``node``'s value is a projected array (predicates over it are existential)."""
    return isinstance(node.type, ArrayType) and node.type.projected


def _items(value: object) -> list[object] | None:
    return value if isinstance(value, list) else None


def _group_key(node: Expr, key: object) -> Hashable:
    if is_null(key):
        return None
    if isinstance(key, list | dict):
        raise unsupported(node, "groupBy on an array or object key", ENGINE)
    assert isinstance(key, Hashable)
    return key


class MethodRules(Machine):
    def visit_MethodCall(self, node: MethodCall) -> object:
        rule = self._METHODS.get(node.method)
        if rule is None:
            raise unsupported(node, f"the method {node.method}()", ENGINE)
        return rule(self, node)

    # --- strings (§7.4) ------------------------------------------------------------------------

    def _string_predicate(self, node: MethodCall) -> bool:
        flag = node.args[1] if len(node.args) > 1 else None
        case_sensitive = True if flag is None else self.visit(flag) is True
        text, part = self.visit(node.target), self.visit(node.args[0])

        def test(one: object, other: object) -> bool:
            return runtime.string_test(node.method, one, other, case_sensitive)

        flags = (projected(node.target), projected(node.args[0]))
        return runtime.existential(test, (text, part), flags)

    def _matches(self, node: MethodCall) -> bool:
        text, pattern = self.visit(node.target), self.visit(node.args[0])

        def test(one: object, regex: object) -> bool:
            return runtime.matches(one, compile_java(regex) if isinstance(regex, str) else None)

        flags = (projected(node.target), projected(node.args[0]))
        return runtime.existential(test, (text, pattern), flags)

    def _regex_group(self, node: MethodCall) -> object:
        text, pattern = self.visit(node.target), self.visit(node.args[0])
        group = self.visit(node.args[1]) if len(node.args) > 1 else 0
        regex = compile_java(pattern) if isinstance(pattern, str) else None
        return runtime.regex_group(text, regex, group)

    # --- objects and dates (§7.8, §6.1) --------------------------------------------------------

    def _null_test(self, node: MethodCall) -> bool:
        """``isNull()``/``isNotNull()``; on a projected array: whether any value was found."""
        value = self.visit(node.target)
        absent = (not value) if projected(node.target) else is_null(value)
        return absent == (node.method == "isNull")

    def _calendar_part(self, node: MethodCall) -> object:
        value = conform(self.visit(node.target), node.target.type)
        if is_null(value):
            return None
        if not isinstance(value, date):
            raise unsupported(node.target, f"{node.method}() of a non-date value", ENGINE)
        parts = {"getYear": value.year, "getMonth": value.month, "getDayOfMonth": value.day}
        return parts[node.method]

    # --- arrays and sets (§7.5) ----------------------------------------------------------------

    def _count(self, node: MethodCall) -> int:
        return runtime.count(self.visit(node.target))

    def _head(self, node: MethodCall) -> object:
        return runtime.head(self.visit(node.target))

    def _distinct(self, node: MethodCall) -> object:
        items = _items(self.visit(node.target))
        return None if items is None else runtime.distinct(items)

    def _exists(self, node: MethodCall) -> bool:
        items = _items(self.visit(node.target)) or []
        return any(self.holds(node.args[0], item) for item in items)

    def _filter(self, node: MethodCall) -> object:
        items = _items(self.visit(node.target))
        if items is None:
            return None
        return [item for item in items if self.holds(node.args[0], item)]

    def _group_by(self, node: MethodCall) -> object:
        items = _items(self.visit(node.target))
        if items is None:
            return None
        groups: dict[Hashable, list[object]] = {}
        for item in items:
            key = _group_key(node, self.apply(node.args[0], item))
            groups.setdefault(key, []).append(item)
        return groups

    def _map(self, node: MethodCall) -> object:
        receiver = self.visit(node.target)
        if isinstance(node.target.type, MapType):
            return self._map_entries(node, receiver)
        items = _items(receiver)
        if items is None:
            return None
        return [runtime.output(self.apply(node.args[0], item)) for item in items]

    def _map_entries(self, node: MethodCall, receiver: object) -> object:
        if not isinstance(receiver, Mapping):
            return None
        argument = node.args[0]
        if not isinstance(argument, Lambda):
            return [runtime.output(self.apply(argument, value)) for value in receiver.values()]
        built: dict[Hashable, object] = {}
        for key, value in receiver.items():
            entry = self.apply(argument, key, value)
            if isinstance(entry, Mapping):
                built[_group_key(node, entry["key"])] = runtime.output(entry["value"])
        return built

    def _ranked(self, node: MethodCall) -> object:
        items = _items(self.visit(node.target))
        if items is None:
            return None
        keys = [self.apply(node.args[0], item) for item in items]
        return runtime.ranked(items, keys, self.visit(node.args[1]), node.method == "topN")

    def _aggregate(self, node: MethodCall) -> object:
        items = _items(self.visit(node.target)) or []
        values = [self.apply(node.args[0], item) for item in items] if node.args else items
        return runtime.aggregate(node.method, values, node.type == INTEGER)

    def _set_operation(self, node: MethodCall) -> object:
        left, right = self.visit(node.target), self.visit(node.args[0])
        if node.method == "intersection":
            return runtime.intersection(left, right)
        if node.method == "intersects":
            return runtime.intersects(left, right)
        if node.method == "subsetOf":
            return runtime.subset(left, right)
        return runtime.subset(right, left)

    def _includes(self, node: MethodCall) -> bool:
        items, value = self.visit(node.target), self.visit(node.args[0])
        flags = (projected(node.args[0]), False)
        return runtime.existential(runtime.member, (value, items), flags)

    # --- maps (§7.7) ---------------------------------------------------------------------------

    def _get(self, node: MethodCall) -> object:
        mapping, key = self.visit(node.target), self.visit(node.args[0])
        if not isinstance(mapping, Mapping) or is_null(key):
            return runtime.MISSING
        assert isinstance(key, Hashable)
        return mapping.get(key, runtime.MISSING)

    def _keys(self, node: MethodCall) -> object:
        mapping = self.visit(node.target)
        return list(mapping.keys()) if isinstance(mapping, Mapping) else None

    def _values(self, node: MethodCall) -> object:
        mapping = self.visit(node.target)
        return list(mapping.values()) if isinstance(mapping, Mapping) else None

    _METHODS: ClassVar[dict[str, Method]] = {
        **dict.fromkeys(runtime.STRING_METHODS, _string_predicate),
        "matches": _matches,
        "regexGroup": _regex_group,
        "isNull": _null_test,
        "isNotNull": _null_test,
        **dict.fromkeys(("getYear", "getMonth", "getDayOfMonth"), _calendar_part),
        "count": _count,
        "head": _head,
        "distinct": _distinct,
        "exists": _exists,
        "filter": _filter,
        "groupBy": _group_by,
        "map": _map,
        "topN": _ranked,
        "bottomN": _ranked,
        **dict.fromkeys(("sum", "average", "min", "max"), _aggregate),
        **dict.fromkeys(("intersects", "subsetOf", "supersetOf", "intersection"), _set_operation),
        "includes": _includes,
        "get": _get,
        "keys": _keys,
        "values": _values,
    }
