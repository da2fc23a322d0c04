"""The identity graph of a sandbox: which identities belong to one person.

Every record (profile fragment or event) that carries two or more linking identities links
them (xdm.md §3). People are the connected components of those links, computed inside the
engine by label propagation: each identity starts with its own node number (or the label of the
previous version of the graph) and takes the smallest label among its neighbours, with pointer
jumping, until nothing changes. A graph over the cap loses identities first-in-first-out by
identity type, which may split it; the split parts are labelled again.

Files of one version: ``nodes.parquet`` (node, namespace, value, first_seen_ms, evicted, label),
``edges.parquet`` (a < b) and ``keys.parquet`` (identity ``Namespace:value``, its namespace and
value → person, the identity of the component's first node). Node numbers grow with first
appearance, so a person keeps its key when newer identities join it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from segmint.engine.runners.session import SqlSession, sql_template
from segmint.profiles.namespaces import MAX_IDENTITIES_PER_GRAPH, NamespaceCatalog
from segmint.xdm.arrow import PROFILE_ID_COLUMN

NODES, EDGES, KEYS = "nodes.parquet", "edges.parquet", "keys.parquet"
IDENTITY_MAP = "identityMap"
UNKNOWN_EVICTION_RANK = 3  # namespaces outside the catalogue go with the cross-device kinds
MAX_ITERATIONS = 200

NODE_SCHEMA = pa.schema(
    [
        ("node", pa.int64()),
        ("namespace", pa.string()),
        ("value", pa.string()),
        ("first_seen_ms", pa.int64()),
        ("evicted", pa.bool_()),
        ("label", pa.int64()),
    ]
)
EDGE_SCHEMA = pa.schema([("a", pa.int64()), ("b", pa.int64())])


@dataclass(frozen=True)
class SourceFile:
    """A committed lake file and the batch it belongs to."""

    path: Path
    dataset_id: str
    batch_id: str
    batch_ms: int


@dataclass(frozen=True)
class GraphStats:
    identities: int
    links: int
    graphs: int
    largest: int
    evicted: int
    iterations: int

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def _with(query: exp.Query, **values: Any) -> exp.Query:
    literals = {
        name: exp.Literal.number(value) if isinstance(value, int) else exp.Literal.string(value)
        for name, value in values.items()
    }
    result = exp.replace_placeholders(query.copy(), **literals)
    assert isinstance(result, exp.Query)
    return result


# Each record's identities: (record, namespace, value, batch_ms); a record is its file's
# number and its row in the file.
RECORD_IDENTITIES = sql_template(
    """
    SELECT record, namespace, item.id AS value, batch_ms
    FROM (
        SELECT record, e.key AS namespace, UNNEST(e.value) AS item, batch_ms
        FROM (
            SELECT f.file_index * 4294967296 + r.file_row_number AS record, f.batch_ms,
                   UNNEST(MAP_ENTRIES(r.identityMap)) AS e
            FROM records AS r JOIN record_files AS f ON f.filename = r.filename
        ) AS entries
    ) AS items
    """
)
NEW_NODES = sql_template(
    """
    SELECT (SELECT COALESCE(MAX(node), -1) FROM previous_nodes)
             + ROW_NUMBER() OVER (ORDER BY s.first_seen_ms, s.namespace, s.value) AS node,
           s.namespace, s.value, s.first_seen_ms, FALSE AS evicted, CAST(NULL AS BIGINT) AS label
    FROM (
        SELECT namespace, value, MIN(batch_ms) AS first_seen_ms
        FROM record_identities WHERE value IS NOT NULL GROUP BY namespace, value
    ) AS s
    LEFT JOIN previous_nodes AS p ON p.namespace = s.namespace AND p.value = s.value
    WHERE p.node IS NULL
    """
)
ALL_NODES = sql_template("SELECT * FROM previous_nodes UNION ALL SELECT * FROM new_nodes")
# The linking identities of each record that has two or more, as node numbers. Most events
# carry one identity: they are set aside before the join with the nodes.
RECORD_NODES = sql_template(
    """
    SELECT r.record, n.node
    FROM record_identities AS r
    JOIN (
        SELECT record FROM record_identities GROUP BY record HAVING COUNT(*) > 1
    ) AS several ON several.record = r.record
    JOIN nodes AS n ON n.namespace = r.namespace AND n.value = r.value
    LEFT JOIN namespace_types AS t ON t.code = r.namespace
    WHERE COALESCE(t.links, TRUE)
    """
)
# A record links each of its identities to its smallest one (a star spans the same graph).
NEW_EDGES = sql_template(
    """
    SELECT DISTINCT roots.root AS a, rn.node AS b
    FROM record_nodes AS rn
    JOIN (
        SELECT record, MIN(node) AS root FROM record_nodes
        GROUP BY record HAVING MIN(node) < MAX(node)
    ) AS roots ON roots.record = rn.record
    WHERE rn.node <> roots.root
    """
)
ALL_EDGES = sql_template("SELECT a, b FROM previous_edges UNION SELECT a, b FROM new_edges")
LIVE_EDGES = sql_template(
    """
    SELECT e.a, e.b FROM edges AS e
    JOIN nodes AS na ON na.node = e.a JOIN nodes AS nb ON nb.node = e.b
    WHERE NOT na.evicted AND NOT nb.evicted
    """
)
# Seeds: the previous label where there is one (edges are only ever added, so it is an upper
# bound of the new one), else the node's own number.
SEED_LABELS = sql_template(
    """
    SELECT ends.node, COALESCE(n.label, ends.node) AS label
    FROM (SELECT a AS node FROM live_edges UNION SELECT b FROM live_edges) AS ends
    JOIN nodes AS n ON n.node = ends.node
    """
)
PROPAGATE = sql_template(
    """
    SELECT node, MIN(label) AS label FROM (
        SELECT node, label FROM labels
        UNION ALL SELECT e.a AS node, l.label FROM live_edges AS e JOIN labels AS l ON l.node = e.b
        UNION ALL SELECT e.b AS node, l.label FROM live_edges AS e JOIN labels AS l ON l.node = e.a
    ) AS candidates GROUP BY node
    """
)
JUMP = sql_template(
    """
    SELECT s.node, LEAST(s.label, COALESCE(p.label, s.label)) AS label
    FROM step AS s LEFT JOIN step AS p ON p.node = s.label
    """
)
CHANGED = sql_template(
    "SELECT COUNT(*) FROM next_labels AS n JOIN labels AS l ON l.node = n.node "
    "WHERE n.label <> l.label"
)
OVERSIZED = sql_template(
    "SELECT label, COUNT(*) AS size FROM labels GROUP BY label HAVING COUNT(*) > :cap"
)
# First in, first out: by identity type (partner ids first), then the oldest.
EVICTIONS = sql_template(
    """
    SELECT node FROM (
        SELECT l.node, o.size,
               ROW_NUMBER() OVER (
                   PARTITION BY l.label
                   ORDER BY COALESCE(t.eviction_rank, :unknown_rank), n.first_seen_ms, l.node
               ) AS position
        FROM labels AS l
        JOIN oversized AS o ON o.label = l.label
        JOIN nodes AS n ON n.node = l.node
        LEFT JOIN namespace_types AS t ON t.code = n.namespace
    ) AS ranked
    WHERE position <= size - :cap
    """
)
MARK_EVICTED = sql_template(
    """
    SELECT n.node, n.namespace, n.value, n.first_seen_ms,
           n.evicted OR v.node IS NOT NULL AS evicted, n.label
    FROM nodes AS n LEFT JOIN evictions AS v ON v.node = n.node
    """
)
# After an eviction the rest of an oversized graph may fall apart: label it afresh.
RESEED_LABELS = sql_template(
    """
    SELECT s.node, CASE WHEN o.label IS NULL THEN COALESCE(l.label, s.label) ELSE s.node END
           AS label
    FROM seeds AS s
    LEFT JOIN labels AS l ON l.node = s.node
    LEFT JOIN oversized AS o ON o.label = l.label
    """
)
FINAL_NODES = sql_template(
    """
    SELECT n.node, n.namespace, n.value, n.first_seen_ms, n.evicted,
           CASE WHEN n.evicted THEN n.node ELSE COALESCE(l.label, n.node) END AS label
    FROM nodes AS n LEFT JOIN labels AS l ON l.node = n.node
    """
)
FINAL_KEYS = sql_template(
    """
    SELECT n.namespace || ':' || n.value AS identity, n.namespace, n.value,
           r.namespace || ':' || r.value AS person
    FROM final_nodes AS n JOIN final_nodes AS r ON r.node = n.label
    """
)
STATS = sql_template(
    """
    SELECT COUNT(*), COUNT(DISTINCT label), COUNT(*) FILTER (WHERE evicted),
           (SELECT COALESCE(MAX(size), 0) FROM (
               SELECT COUNT(*) AS size FROM final_nodes WHERE NOT evicted GROUP BY label
           ) AS sizes)
    FROM final_nodes
    """
)


def build_identity_graph(
    session: SqlSession,
    *,
    previous: Path | None,
    records: Sequence[SourceFile],
    namespaces: NamespaceCatalog,
    out_dir: Path,
    cap: int = MAX_IDENTITIES_PER_GRAPH,
) -> GraphStats:
    """Add the identities and links of ``records`` to the graph stored at ``previous`` (None:
    an empty graph) and write the new version's files into ``out_dir``."""
    _load_previous(session, previous)
    _load_namespaces(session, namespaces)
    _add_records(session, records)
    iterations = _label_components(session)
    iterations += _apply_cap(session, cap)
    return _write(session, out_dir, iterations)


def _load_previous(session: SqlSession, previous: Path | None) -> None:
    if previous is None:
        session.arrow("previous_nodes", NODE_SCHEMA.empty_table())
        session.arrow("previous_edges", EDGE_SCHEMA.empty_table())
        return
    session.files("previous_nodes_files", [previous / NODES], NODE_SCHEMA.names)
    session.create("previous_nodes", exp.select(*NODE_SCHEMA.names).from_("previous_nodes_files"))
    session.files("previous_edges_files", [previous / EDGES], EDGE_SCHEMA.names)
    session.create("previous_edges", exp.select("a", "b").from_("previous_edges_files"))


def _load_namespaces(session: SqlSession, namespaces: NamespaceCatalog) -> None:
    catalogue = list(namespaces)
    session.arrow(
        "namespace_types",
        pa.table(
            {
                "code": pa.array([ns.code for ns in catalogue], pa.string()),
                "links": pa.array([ns.links for ns in catalogue], pa.bool_()),
                "eviction_rank": pa.array([ns.eviction_rank for ns in catalogue], pa.int32()),
            }
        ),
    )


def _add_records(session: SqlSession, records: Sequence[SourceFile]) -> None:
    if records:
        session.arrow("record_files", _record_files(records))
        session.files("records", [r.path for r in records], [PROFILE_ID_COLUMN, IDENTITY_MAP])
        session.create("record_identities", RECORD_IDENTITIES)
    else:
        empty = pa.schema(
            [("record", pa.int64()), ("namespace", pa.string()), ("value", pa.string())]
        ).append(pa.field("batch_ms", pa.int64()))
        session.arrow("record_identities", empty.empty_table())
    session.create("new_nodes", NEW_NODES)
    session.create("nodes", ALL_NODES)
    session.create("record_nodes", RECORD_NODES)
    session.create("new_edges", NEW_EDGES)
    session.create("edges", ALL_EDGES)


def _record_files(records: Sequence[SourceFile]) -> pa.Table:
    return pa.table(
        {
            "filename": pa.array([str(r.path) for r in records], pa.string()),
            "file_index": pa.array(range(len(records)), pa.int64()),
            "batch_ms": pa.array([r.batch_ms for r in records], pa.int64()),
        }
    )


def _label_components(session: SqlSession) -> int:
    session.create("live_edges", LIVE_EDGES)
    session.create("seeds", SEED_LABELS)
    session.create("labels", exp.select("node", "label").from_("seeds"))
    return _propagate(session)


def _propagate(session: SqlSession) -> int:
    """Smallest label over neighbours, then over the label's own label, until stable."""
    for iteration in range(1, MAX_ITERATIONS + 1):
        session.create("step", PROPAGATE)
        session.create("next_labels", JUMP)
        changed = session.fetch(CHANGED)[0][0]
        session.create("labels", exp.select("node", "label").from_("next_labels"))
        if not changed:
            return iteration
    raise RuntimeError(f"identity graph labels did not settle in {MAX_ITERATIONS} rounds")


def _apply_cap(session: SqlSession, cap: int) -> int:
    """Evict identities from graphs over ``cap`` and label what remains of them again."""
    session.create("oversized", _with(OVERSIZED, cap=cap))
    if not session.fetch(exp.select("COUNT(*)").from_("oversized"))[0][0]:
        return 0
    session.create("evictions", _with(EVICTIONS, cap=cap, unknown_rank=UNKNOWN_EVICTION_RANK))
    session.create("nodes", MARK_EVICTED)
    session.create("live_edges", LIVE_EDGES)
    session.create("seeds", SEED_LABELS)
    session.create("labels", RESEED_LABELS)
    return _propagate(session)


def _write(session: SqlSession, out_dir: Path, iterations: int) -> GraphStats:
    session.create("final_nodes", FINAL_NODES)
    out_dir.mkdir(parents=True, exist_ok=True)
    session.write(exp.select(*NODE_SCHEMA.names).from_("final_nodes"), out_dir / NODES)
    session.write(exp.select("a", "b").from_("edges"), out_dir / EDGES)
    session.write(FINAL_KEYS, out_dir / KEYS)
    identities, graphs, evicted, largest = session.fetch(STATS)[0]
    links = session.fetch(exp.select("COUNT(*)").from_("edges"))[0][0]
    return GraphStats(
        identities=identities,
        links=links,
        graphs=graphs,
        largest=largest,
        evicted=evicted,
        iterations=iterations,
    )
