"""Walking checked or parsed PQL trees without recursion (trees can be thousands deep)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import fields

from segmint.pql.ast import FunctionCall, Literal, Node


def descendants(roots: Iterable[Node]) -> Iterator[tuple[Node, Node | None]]:
    """Every node under ``roots`` (the roots included) with its parent node."""
    pending: list[tuple[object, Node | None]] = [(root, None) for root in roots]
    while pending:
        current, parent = pending.pop()
        if isinstance(current, Node):
            yield current, parent
            pending += [(getattr(current, f.name), current) for f in fields(current)]
        elif isinstance(current, tuple):
            pending += [(item, parent) for item in current]


def segment_references(root: Node) -> set[str]:
    """The segment ids named by ``inSegment("…")`` anywhere in ``root``."""
    return {
        node.args[0].value
        for node, _ in descendants([root])
        if isinstance(node, FunctionCall)
        and node.name == "inSegment"
        and len(node.args) == 1
        and isinstance(node.args[0], Literal)
        and isinstance(node.args[0].value, str)
    }
