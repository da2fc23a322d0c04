"""Constructs that bind variables (pql.md §7.6, §7.10-7.13): ``select``, ``exists``/``some``/
``forall``, legacy ``sum … over …``, ``let`` and the whole-query lambda.

A binding list ``V1 from A1 where C1, V2 from A2 where C2, …`` is walked depth first: each
source is evaluated with the earlier variables bound, each condition with its own too.
"""

from __future__ import annotations

from collections.abc import Iterator

from segmint.engine.interpreter import runtime
from segmint.engine.interpreter.base import Machine
from segmint.pql.ast import Aggregate, Binding, Lambda, Let, Quantified, Select
from segmint.pql.types import INTEGER

Row = tuple[object, ...]


class BindingRules(Machine):
    def rows(self, bindings: tuple[Binding, ...]) -> Iterator[Row]:
        """Every combination of items satisfying the binding conditions, left to right."""
        yield from self._rows(bindings, 0, ())

    def _rows(self, bindings: tuple[Binding, ...], index: int, row: Row) -> Iterator[Row]:
        if index == len(bindings):
            yield row
            return
        names = [binding.var for binding in bindings[:index]]
        with self.bound(names, row):
            binding = bindings[index]
            source = self.visit(binding.source)
            items = source if isinstance(source, list) else []
        for item in items:
            if self._accepts(bindings, index, row, item):
                yield from self._rows(bindings, index + 1, (*row, item))

    def _accepts(self, bindings: tuple[Binding, ...], index: int, row: Row, item: object) -> bool:
        condition = bindings[index].condition
        if condition is None:
            return True
        names = [binding.var for binding in bindings[: index + 1]]
        with self.bound(names, (*row, item)):
            return self.test(condition)

    def visit_Select(self, node: Select) -> object:
        """One item per row for a single binding, else a tuple object keyed by variable."""
        names = [binding.var for binding in node.bindings]
        if len(names) == 1:
            return [row[0] for row in self.rows(node.bindings)]
        return [dict(zip(names, row, strict=True)) for row in self.rows(node.bindings)]

    def visit_Quantified(self, node: Quantified) -> bool:
        if node.quantifier.lower() in ("exists", "some"):
            return any(True for _ in self.rows(node.bindings))
        return self._for_all(node.bindings, 0, ())

    def _for_all(self, bindings: tuple[Binding, ...], index: int, row: Row) -> bool:
        """``forall``: every item of each source satisfies its condition, for every choice of
        the earlier variables (nested left to right); an empty or null source holds."""
        if index == len(bindings):
            return True
        names = [binding.var for binding in bindings[:index]]
        with self.bound(names, row):
            source = self.visit(bindings[index].source)
        items = source if isinstance(source, list) else []
        return all(
            self._accepts(bindings, index, row, item)
            and self._for_all(bindings, index + 1, (*row, item))
            for item in items
        )

    def visit_Aggregate(self, node: Aggregate) -> object:
        """``AGG value over bindings`` (the value per row) or ``AGG V from …`` (the items)."""
        names = [binding.var for binding in node.bindings]
        value = node.value
        values: list[object] = []
        for row in self.rows(node.bindings):
            if value is None:
                values.append(row[0])
                continue
            with self.bound(names, row):
                values.append(self.visit(value))
        return runtime.aggregate(node.function, values, node.type == INTEGER)

    def visit_Let(self, node: Let) -> object:
        with self.bound((node.name,), (self.visit(node.value),)):
            return self.visit(node.body)

    def visit_Lambda(self, node: Lambda) -> object:
        """A whole-query lambda ``(Profile) => …``: its parameter is the profile."""
        with self.bound(node.params[:1], (self.profile,)):
            return self.visit(node.body)
