"""Fragments and events written as lake files, the graph and merge built on them, and an
independent pure-Python reading of xdm.md §3-§4 to check the engine against."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from segmint.engine.runners.session import DuckDBSession
from segmint.pql.types import Schema
from segmint.profiles.graph import GraphStats, SourceFile, build_identity_graph
from segmint.profiles.merge import PROFILES, MergeInputs, MergeStats, merge_profiles
from segmint.profiles.namespaces import NamespaceCatalog
from segmint.profiles.policies import AttributeMergeType, IdentityGraphType, MergePolicy
from segmint.xdm import DEFAULT_SCHEMA, event_schema, profile_schema

Identity = tuple[str, str]


def record(identities: Sequence[Identity], **attributes: Any) -> dict[str, Any]:
    """A lake row: the first identity is primary."""
    identity_map: dict[str, list[dict[str, Any]]] = {}
    for position, (namespace, value) in enumerate(identities):
        identity_map.setdefault(namespace, []).append({"id": value, "primary": position == 0})
    namespace, value = identities[0]
    return {"__profile_id": f"{namespace}:{value}", "identityMap": identity_map, **attributes}


_event_ids = itertools.count()


def event(identities: Sequence[Identity], **attributes: Any) -> dict[str, Any]:
    attributes.setdefault("_id", f"event-{next(_event_ids)}")
    attributes.setdefault("timestamp", datetime(2026, 1, 1))
    return record(identities, **attributes)


@dataclass
class Lake:
    """Batches written under ``root``; each batch gets the next ingestion time."""

    root: Path
    schema: Schema = DEFAULT_SCHEMA
    profiles: list[SourceFile] = field(default_factory=list)
    events: list[SourceFile] = field(default_factory=list)
    clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1000, 1000))

    def profile_batch(self, dataset: str, rows: Iterable[Mapping[str, Any]]) -> SourceFile:
        source = self._write(dataset, rows, profile_schema(self.schema))
        self.profiles.append(source)
        return source

    def event_batch(self, dataset: str, rows: Iterable[Mapping[str, Any]]) -> SourceFile:
        source = self._write(dataset, rows, event_schema(self.schema))
        self.events.append(source)
        return source

    def _write(
        self, dataset: str, rows: Iterable[Mapping[str, Any]], schema: pa.Schema
    ) -> SourceFile:
        batch_ms = next(self.clock)
        batch_id = f"batch-{batch_ms}"
        path = self.root / dataset / batch_id / "part-00000.parquet"
        path.parent.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(list(rows), schema=schema), path)
        return SourceFile(path, dataset, batch_id, batch_ms)

    @property
    def sources(self) -> list[SourceFile]:
        return sorted([*self.profiles, *self.events], key=lambda s: s.batch_ms)


def build_graph(
    lake: Lake,
    out_dir: Path,
    *,
    previous: Path | None = None,
    records: Sequence[SourceFile] | None = None,
    namespaces: NamespaceCatalog | None = None,
    cap: int = 50,
) -> GraphStats:
    with DuckDBSession() as session:
        return build_identity_graph(
            session,
            previous=previous,
            records=lake.sources if records is None else records,
            namespaces=namespaces or NamespaceCatalog(),
            out_dir=out_dir,
            cap=cap,
        )


def components(graph_dir: Path) -> set[frozenset[str]]:
    """The identity graph as sets of ``Namespace:value`` identities."""
    people: dict[str, set[str]] = {}
    for row in pq.read_table(graph_dir / "keys.parquet").to_pylist():
        people.setdefault(row["person"], set()).add(row["identity"])
    return {frozenset(identities) for identities in people.values()}


def policy(
    graph: str = "none", merge: str = "timestampOrdered", order: Sequence[str] = ()
) -> MergePolicy:
    return MergePolicy(
        id="policy",
        name="policy",
        schema_name="_xdm.context.profile",
        identity_graph=IdentityGraphType(graph),
        attribute_merge=AttributeMergeType(merge),
        order=tuple(order),
    )


def merge(
    lake: Lake, chosen: MergePolicy, out_dir: Path, graph_dir: Path | None = None
) -> tuple[dict[str, dict[str, Any]], MergeStats]:
    """Merged profiles by ``__profile_id`` (null fields left out), and the stats."""
    if chosen.stitches and graph_dir is None:
        graph_dir = out_dir / "graph"
        build_graph(lake, graph_dir)
    inputs = MergeInputs(
        policy=chosen,
        profile=lake.schema.profile,
        fragments=[s for s in lake.profiles if chosen.merges_dataset(s.dataset_id)],
        events=[s for s in lake.events if chosen.merges_dataset(s.dataset_id)],
        graph=graph_dir if chosen.stitches else None,
    )
    with DuckDBSession() as session:
        stats = merge_profiles(session, inputs, out_dir / "merged")
    rows = pq.read_table(out_dir / "merged" / PROFILES).to_pylist()
    return {row["__profile_id"]: _compact(row) for row in rows}, stats


def _compact(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {k: _compact(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None}
    if isinstance(value, list):
        if value and isinstance(value[0], tuple):  # an Arrow map
            return {k: _compact(v) for k, v in value}
        return [_compact(v) for v in value]
    return value


def identities_of(profile: Mapping[str, Any]) -> set[str]:
    return {
        f"{namespace}:{item['id']}"
        for namespace, items in profile["identityMap"].items()
        for item in items
    }


# --- the independent reading of the rules ---------------------------------------------------------


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def expected_components(records: Iterable[Sequence[Identity]]) -> set[frozenset[str]]:
    """Every identity of every record, linked with the others of its record."""
    forest = UnionFind()
    for identities in records:
        names = [f"{ns}:{value}" for ns, value in identities]
        for name in names:
            forest.find(name)
        for other in names[1:]:
            forest.union(names[0], other)
    groups: dict[str, set[str]] = {}
    for name in list(forest.parent):
        groups.setdefault(forest.find(name), set()).add(name)
    return {frozenset(g) for g in groups.values()}


@dataclass(frozen=True)
class Fragment:
    """One record of the oracle: where it was ingested and its flat attributes."""

    dataset: str
    batch_ms: int
    row: int
    identities: tuple[Identity, ...]
    attributes: Mapping[str, Any]

    @property
    def primary(self) -> str:
        return f"{self.identities[0][0]}:{self.identities[0][1]}"


def expected_merge(
    fragments: Sequence[Fragment],
    chosen: MergePolicy,
    person_of: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    """Per person, each attribute from the highest-ranked fragment holding a value: the latest
    record of each (dataset, primary identity) is that identity's fragment in the dataset."""
    latest: dict[tuple[str, str], Fragment] = {}
    for fragment in sorted(fragments, key=lambda f: (f.batch_ms, f.row)):
        if chosen.merges_dataset(fragment.dataset):
            latest[(fragment.dataset, fragment.primary)] = fragment

    def rank(f: Fragment) -> tuple[int, int, int]:
        precedence = (
            chosen.dataset_rank(f.dataset)
            if chosen.attribute_merge is AttributeMergeType.DATASET_PRECEDENCE
            else 0
        )
        return (precedence, f.batch_ms, f.row)

    people: dict[str, dict[str, Any]] = {}
    for fragment in sorted(latest.values(), key=rank):
        person = people.setdefault(person_of.get(fragment.primary, fragment.primary), {})
        person.update({k: v for k, v in fragment.attributes.items() if v is not None})
    return people
