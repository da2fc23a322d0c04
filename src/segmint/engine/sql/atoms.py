"""Identical sub-expressions of a grouped pass computed once per event.

The conditions of a job's event aggregates repeat the same atoms: ``eventType = 'purchase'``
in a dozen of them, the same time-window bounds in many. DuckDB evaluates every ``FILTER``
clause on its own, so each repetition is paid per event. :func:`share_atoms` computes every
atom used more than once as a boolean column of a projection under the grouping, and the
conditions read that column instead (a NULL atom stays NULL, so nothing changes meaning).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from sqlglot import exp


def share_atoms(query: exp.Select, alias: str) -> exp.Select:
    """``query`` (``… FROM source AS alias … GROUP BY …``) with its repeated condition atoms
    computed once in ``(SELECT *, atom AS __a0, … FROM source AS alias) AS alias``."""
    conditions = _conditions(query)
    counts = Counter(atom for condition in conditions for atom in _atoms(condition))
    shared = [atom for atom, count in counts.items() if count > 1]
    if not shared:
        return query
    names = {atom: f"__a{index}" for index, atom in enumerate(shared)}
    for condition in conditions:
        _replace(condition, names, alias)
    source = query.args["from_"].this
    projected = exp.select(
        exp.Star(), *(exp.alias_(atom.copy(), name, quoted=True) for atom, name in names.items())
    ).from_(source.copy())
    query.args["from_"].set(
        "this",
        exp.Subquery(
            this=projected, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))
        ),
    )
    return query


def _conditions(query: exp.Select) -> list[exp.Where]:
    """The ``WHERE`` clauses of the FILTERs (edited in place). The query's own ``WHERE`` stays
    on the source columns, so the scan can still prune on it."""
    found = [node.expression for node in query.find_all(exp.Filter)]
    return [clause for clause in found if isinstance(clause, exp.Where)]


def _is_connective(node: exp.Expr) -> bool:
    if isinstance(node, exp.Coalesce):
        return node.expressions == [exp.false()]
    return isinstance(node, exp.And | exp.Or | exp.Not | exp.Paren)


def _children(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.And | exp.Or):
        return [node.this, node.expression]
    return [node.this]


def _atoms(where: exp.Where) -> Iterator[exp.Expr]:
    pending = [where.this]
    while pending:
        node = pending.pop()
        if _is_connective(node):
            pending += _children(node)
        else:
            yield node


def _replace(where: exp.Where, names: dict[exp.Expr, str], alias: str) -> None:
    pending: list[tuple[exp.Expr, str, exp.Expr]] = [(where, "this", where.this)]
    while pending:
        parent, key, node = pending.pop()
        name = names.get(node)
        if name is not None:
            parent.set(key, exp.column(name, table=alias, quoted=True))
        elif _is_connective(node):
            keys = ["this", "expression"] if isinstance(node, exp.And | exp.Or) else ["this"]
            pending += [(node, k, node.args[k]) for k in keys]
