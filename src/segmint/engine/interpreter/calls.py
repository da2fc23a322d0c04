"""Function calls (pql.md §6.1, §7.1, §7.7, §7.14): ``if``, ``inSegment``, ``date``,
``mapEntry`` and the ``current*`` calendar functions (UTC, from the run's ``now``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import ClassVar

from segmint.engine.interpreter import runtime
from segmint.engine.interpreter.base import ENGINE, Machine
from segmint.engine.interpreter.data import conform, field
from segmint.engine.interpreter.runtime import is_null, unsupported
from segmint.pql.ast import FunctionCall
from segmint.xdm.fieldgroups import SEGMENT_MEMBERSHIP

Function = Callable[["CallRules", FunctionCall], object]

QUALIFYING_STATUSES = frozenset({"realized", "existing"})
SEGMENT_NAMESPACE = "ups"


class CallRules(Machine):
    def visit_FunctionCall(self, node: FunctionCall) -> object:
        rule = self._FUNCTIONS.get(node.name)
        if rule is None:
            raise unsupported(node, f"the function {node.name}()", ENGINE)
        return rule(self, node)

    def _if(self, node: FunctionCall) -> object:
        """``if(test, a, b)``: ``a`` when the test holds; ``b`` otherwise, a null test included."""
        test, then, otherwise = node.args
        return self.visit(then if self.test(test) else otherwise)

    def _in_segment(self, node: FunctionCall) -> bool:
        """The profile's status for the segment is ``realized`` or ``existing`` (§7.14): from
        the ``memberships`` passed in, else ``segmentMembership.ups[id].status``."""
        segment = self.visit(node.args[0])
        if not isinstance(segment, str):
            return False
        if self.memberships is not None:
            return self.memberships.get(segment) in QUALIFYING_STATUSES
        return self._stored_status(segment) in QUALIFYING_STATUSES

    def _stored_status(self, segment: str) -> object:
        memberships = conform(field(self.profile, "segmentMembership"), SEGMENT_MEMBERSHIP)
        if not isinstance(memberships, Mapping):
            return None
        namespace = memberships.get(SEGMENT_NAMESPACE)
        entry = namespace.get(segment) if isinstance(namespace, Mapping) else None
        return field(entry, "status")

    def _date(self, node: FunctionCall) -> object:
        """``date(y, m, d)`` computed at run time; null when a part is null or the day does
        not exist (``date(currentYear(), 2, 29)`` in a common year)."""
        parts = [self.visit(arg) for arg in node.args]
        if any(is_null(part) or not isinstance(part, int) for part in parts):
            return None
        year, month, day = (int(part) for part in parts if isinstance(part, int))
        try:
            return date(year, month, day)
        except ValueError:
            return None

    def _map_entry(self, node: FunctionCall) -> object:
        key, value = (self.visit(arg) for arg in node.args)
        return {"key": runtime.output(key), "value": value}

    def _current(self, node: FunctionCall) -> int:
        parts = {
            "currentYear": self.now.year,
            "currentMonth": self.now.month,
            "currentDayOfMonth": self.now.day,
        }
        return parts[node.name]

    _FUNCTIONS: ClassVar[dict[str, Function]] = {
        "if": _if,
        "inSegment": _in_segment,
        "date": _date,
        "mapEntry": _map_entry,
        **dict.fromkeys(("currentYear", "currentMonth", "currentDayOfMonth"), _current),
    }
