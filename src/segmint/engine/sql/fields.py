"""Which event fields a job reads: its event lists carry only those, not whole event rows.

Listing every event of a profile with all its nested fields (``identityMap``,
``productListItems``, ``web``…) costs far more than listing the few fields the segments look
at. The walk is conservative: any field name looked up anywhere counts, and a job that uses an
event as a whole value (compares, de-duplicates or groups events) gets whole rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from segmint.pql.ast import FieldLookup, ImplicitScope, MethodCall, Node, VarRef, XEvent
from segmint.pql.types import ArrayType, ObjectType
from segmint.pql.walk import descendants

_WHOLE_VALUE_METHODS = frozenset(
    {"distinct", "intersection", "intersects", "subsetOf", "supersetOf", "includes", "groupBy"}
)
ORDER_FIELD = "timestamp"


def event_fields_used(expressions: Iterable[Node]) -> frozenset[str] | None:
    """The top-level event fields the expressions may read, or None for whole rows."""
    names: set[str] = set()
    event_fields: set[str] = set()
    for node, parent in descendants(expressions):
        if isinstance(node, FieldLookup):
            names.add(node.field_name)
        elif isinstance(node, XEvent) and isinstance(node.type, ArrayType):
            item = node.type.item
            if isinstance(item, ObjectType):
                event_fields.update(item.fields)
        elif (isinstance(node, VarRef | ImplicitScope) and not _looked_up(node, parent)) or (
            isinstance(node, MethodCall) and node.method in _WHOLE_VALUE_METHODS
        ):
            return None
    return frozenset((names & event_fields) | {ORDER_FIELD})


def _looked_up(node: Node, parent: Node | None) -> bool:
    return isinstance(parent, FieldLookup) and parent.target is node
