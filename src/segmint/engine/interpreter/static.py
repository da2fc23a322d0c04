"""What the interpreter checks once per expression, before any profile: every regular
expression written as a literal translates to Python (pql.md §7.4), and every literal
``regexGroup`` number names a group of its pattern. A dynamic pattern is checked when it is
evaluated."""

from __future__ import annotations

import weakref
from dataclasses import fields

from segmint.engine.interpreter.regex import RegexUnsupported, compile_java
from segmint.pql.ast import Binary, Expr, Literal, MethodCall, Node, Span
from segmint.pql.errors import PQLError, PQLTypeError, PQLUnsupportedError

_META = ("span", "type")
_PREPARED: dict[int, weakref.ref[Node]] = {}


def prepare(expr: Expr) -> None:
    """Raise ``PQLUnsupportedError``/``PQLTypeError`` for what ``expr`` cannot run; cached."""
    known = _PREPARED.get(id(expr))
    if known is not None and known() is expr:
        return
    pending: list[object] = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, Node):
            _check(node)
            pending += [getattr(node, f.name) for f in fields(node) if f.name not in _META]
        elif isinstance(node, tuple):
            pending += list(node)
    _PREPARED[id(expr)] = weakref.ref(expr, lambda _: _PREPARED.pop(id(expr), None))


def _check(node: Node) -> None:
    if isinstance(node, Binary) and node.op == "matches":
        _pattern(node.right)
    elif isinstance(node, MethodCall) and node.method in ("matches", "regexGroup") and node.args:
        groups = _pattern(node.args[0])
        group = node.args[1] if node.method == "regexGroup" and len(node.args) > 1 else None
        number = group.value if isinstance(group, Literal) else None
        if groups is not None and isinstance(number, int) and not 0 <= number <= groups:
            message = f"regexGroup asks for group {number} of a pattern with {groups} group(s)"
            raise _located(PQLTypeError(message), group.span if group else None)


def _pattern(node: Expr) -> int | None:
    """The number of groups of a literal pattern (``None`` when it is not a literal)."""
    if not (isinstance(node, Literal) and isinstance(node.value, str)):
        return None
    try:
        return compile_java(node.value).groups
    except RegexUnsupported as error:
        raise _located(PQLUnsupportedError(error.message), node.span) from None


def _located(error: PQLError, span: Span | None) -> PQLError:
    if span is not None:
        error.line, error.column, error.length = span.line, span.column, span.end - span.start
    return error
