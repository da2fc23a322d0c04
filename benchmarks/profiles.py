"""Benchmark the identity graph and the merged profiles on people made of several fragments.

    python benchmarks/profiles.py                      # 1M people (about 3.4 fragments each)
    python benchmarks/profiles.py --people 10000000    # 10M people, about 100M events

Generates people with ``segmint generate --people`` (cached under --data-dir): CRM and loyalty
profile datasets, web and email event datasets, five batches. It then times, on DuckDB as the
service runs it:

* the identity graph over all five batches at once;
* the same graph grown incrementally: the first four batches, then the fifth on top;
* the merged profiles of a stitched (pdg) and an unstitched (none) timestamp-ordered policy.

The graph is checked against the generator's truth: every true graph of at most 50 identities
must be exactly one person, and no person may hold more than 50 identities. Exit status 1 on
any mismatch.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb

from segmint.engine.runners.session import DuckDBSession
from segmint.profiles.graph import KEYS, SourceFile, build_identity_graph
from segmint.profiles.merge import PROFILES, MergeInputs, PreviousMerge, merge_profiles
from segmint.profiles.namespaces import MAX_IDENTITIES_PER_GRAPH, NamespaceCatalog
from segmint.profiles.people import MANIFEST_NAME, generate_people
from segmint.profiles.policies import AttributeMergeType, IdentityGraphType, MergePolicy
from segmint.xdm import DEFAULT_SCHEMA, EXPERIENCE_EVENT_CLASS, PROFILE_CLASS


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    data = args.data_dir / f"people-{args.people}"
    if not (data / MANIFEST_NAME).exists():
        started = time.perf_counter()
        generate_people(data, people=args.people, seed=42, now=datetime(2026, 12, 1))
        print(f"generated {args.people:,} people in {time.perf_counter() - started:.1f} s")
    manifest = json.loads((data / MANIFEST_NAME).read_text())
    batches = _batches(data, manifest)
    config = {"threads": args.threads, "preserve_insertion_order": False}
    if args.memory_limit:
        config["memory_limit"] = args.memory_limit
    with tempfile.TemporaryDirectory(prefix="segmint-bench-", dir=args.data_dir) as scratch:
        return _run(Path(scratch), data, manifest, batches, config)


def _run(
    scratch: Path,
    data: Path,
    manifest: dict[str, Any],
    batches: list[tuple[str, list[SourceFile]]],
    config: dict[str, Any],
) -> int:
    def session() -> DuckDBSession:
        return DuckDBSession(config)

    every = [s for _, files in batches for s in files]
    figures: dict[str, float] = {}
    full = _timed(
        figures, "graph, all batches", lambda: _graph(session, None, every, scratch / "full")
    )
    base = [s for _, files in batches[:-1] for s in files]
    _timed(
        figures, "graph, first four batches", lambda: _graph(session, None, base, scratch / "base")
    )
    _timed(
        figures,
        "graph, fifth batch added",
        lambda: _graph(session, scratch / "base", batches[-1][1], scratch / "grown"),
    )
    merged = {}
    for graph_type in (IdentityGraphType.PDG, IdentityGraphType.NONE):
        merged[graph_type] = _timed(
            figures,
            f"merged profiles, {graph_type.value}",
            lambda g=graph_type: _merge(session, g, batches, scratch, manifest),
        )
    _timed(
        figures,
        "merged profiles, pdg, first four batches",
        lambda: _merge(session, IdentityGraphType.PDG, batches[:-1], scratch, manifest, "base"),
    )
    update = PreviousMerge(
        scratch / "merged-pdg-base" / PROFILES, scratch / "base" / KEYS, batches[-1][1]
    )
    _timed(
        figures,
        "merged profiles, pdg, fifth batch added",
        lambda: _merge(session, IdentityGraphType.PDG, batches, scratch, manifest, "grown", update),
    )
    _print(manifest, full, merged, figures)
    failures = _check(scratch / "full", scratch / "grown", data, manifest)
    full, grown = (scratch / name / PROFILES for name in ("merged-pdg", "merged-pdg-grown"))
    return failures or _same_rows(full, grown)


def _graph(
    session: Callable[[], DuckDBSession],
    previous: Path | None,
    records: list[SourceFile],
    out: Path,
) -> Any:
    with session() as s:
        stats = build_identity_graph(
            s, previous=previous, records=records, namespaces=NamespaceCatalog(), out_dir=out
        )
        _slowest(s)
        return stats


def _slowest(session: DuckDBSession, count: int = 4) -> None:
    """Where a step's time went: its slowest statements."""
    ranked = sorted(session.seconds.items(), key=lambda item: -item[1])[:count]
    print("    " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in ranked))


def _merge(
    session: Callable[[], DuckDBSession],
    graph_type: IdentityGraphType,
    batches: list[tuple[str, list[SourceFile]]],
    scratch: Path,
    manifest: dict[str, Any],
    name: str = "",
    update: PreviousMerge | None = None,
) -> Any:
    policy = MergePolicy(
        "bench", "bench", PROFILE_CLASS, graph_type, AttributeMergeType.TIMESTAMP_ORDERED
    )
    classes = {d["name"]: d["class"] for d in manifest["datasets"]}
    inputs = MergeInputs(
        policy=policy,
        profile=DEFAULT_SCHEMA.profile,
        fragments=[s for name, files in batches if classes[name] == PROFILE_CLASS for s in files],
        events=[
            s for name, files in batches if classes[name] == EXPERIENCE_EVENT_CLASS for s in files
        ],
        graph=(scratch / ("base" if name == "base" else "full")) if policy.stitches else None,
    )
    out = scratch / "-".join(filter(None, ("merged", graph_type.value, name)))
    with session() as s:
        stats = merge_profiles(s, inputs, out, update)
        _slowest(s)
        return stats


def _batches(data: Path, manifest: dict[str, Any]) -> list[tuple[str, list[SourceFile]]]:
    """The batches in ingestion order, each as its dataset's name and its files."""
    found = []
    for dataset in manifest["datasets"]:
        for batch in dataset["batches"]:
            moment = datetime.fromisoformat(batch["ingestedAt"].replace("Z", "+00:00"))
            batch_ms = int(moment.astimezone(UTC).timestamp() * 1000)
            files = [
                SourceFile(data / f, dataset["name"], batch["id"], batch_ms) for f in batch["files"]
            ]
            found.append((batch["sequence"], dataset["name"], files))
    return [(name, files) for _, name, files in sorted(found, key=lambda b: b[0])]


def _timed(figures: dict[str, float], name: str, run: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = run()
    figures[name] = time.perf_counter() - started
    print(f"  {name}: {figures[name]:.1f} s", flush=True)
    return result


def _print(
    manifest: dict[str, Any], graph: Any, merged: dict[Any, Any], figures: dict[str, float]
) -> None:
    records = sum(d["records"] for d in manifest["datasets"])
    datasets = len(manifest["datasets"])
    print(f"\n{manifest['people']:,} people, {records:,} records in {datasets} datasets")
    print(
        f"graph: {graph.identities:,} identities, {graph.links:,} links, {graph.graphs:,} graphs, "
        f"largest {graph.largest}, {graph.evicted:,} evicted, {graph.iterations} rounds"
    )
    for graph_type, stats in merged.items():
        print(
            f"merged ({graph_type.value}): {stats.profiles:,} profiles from {stats.fragments:,} "
            f"fragments, {stats.event_only:,} known only from events"
        )
    print("\n| step | seconds |\n|---|---|")
    for name, seconds in figures.items():
        print(f"| {name} | {seconds:.1f} |")
    incremental = figures["graph, fifth batch added"] / figures["graph, all batches"]
    print(f"\nincremental graph step / full build: {incremental:.2f}")
    step = figures["merged profiles, pdg, fifth batch added"] / figures["merged profiles, pdg"]
    print(f"incremental merge step / full merge: {step:.2f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(f"peak RSS: {peak:.1f} GB")


def _check(full: Path, grown: Path, data: Path, manifest: dict[str, Any]) -> int:
    """Graphs against the truth, and the incremental graph against the full one."""
    truth = [str(data / f) for f in manifest["truth"]["files"]]
    connection = duckdb.connect()
    connection.execute(
        "CREATE TABLE truth AS SELECT DISTINCT namespace || ':' || id AS identity, graph "
        "FROM read_parquet(?)",
        [truth],
    )
    connection.execute("CREATE TABLE keys AS SELECT * FROM read_parquet(?)", [str(full / KEYS)])
    split = connection.execute(
        "SELECT COUNT(*) FROM (SELECT t.graph FROM truth t JOIN keys k USING (identity) "
        "GROUP BY t.graph HAVING COUNT(*) <= ? AND COUNT(DISTINCT k.person) > 1)",
        [MAX_IDENTITIES_PER_GRAPH],
    ).fetchone()[0]
    joined = connection.execute(
        "SELECT COUNT(*) FROM (SELECT k.person FROM keys k JOIN truth t USING (identity) "
        "JOIN (SELECT graph FROM truth GROUP BY graph HAVING COUNT(*) <= ?) small USING (graph) "
        "GROUP BY k.person HAVING COUNT(DISTINCT t.graph) > 1)",
        [MAX_IDENTITIES_PER_GRAPH],
    ).fetchone()[0]
    oversized = connection.execute(
        "SELECT COUNT(*) FROM (SELECT person FROM keys GROUP BY person HAVING COUNT(*) > ?)",
        [MAX_IDENTITIES_PER_GRAPH],
    ).fetchone()[0]
    differ = connection.execute(
        "SELECT COUNT(*) FROM read_parquet(?) a FULL JOIN read_parquet(?) b USING (identity) "
        "WHERE a.person IS DISTINCT FROM b.person",
        [str(full / KEYS), str(grown / KEYS)],
    ).fetchone()[0]
    print(
        f"\ncheck against the truth: {split} true graphs split, {joined} persons joining true "
        f"graphs, {oversized} persons over {MAX_IDENTITIES_PER_GRAPH} identities; "
        f"incremental vs full: {differ} identities keyed differently"
    )
    return 1 if split or joined or oversized or differ else 0


SAME_ROWS = """
    WITH a AS (SELECT * EXCLUDE (identityMap), LIST_SORT(FLATTEN(MAP_VALUES(identityMap))) AS ids
               FROM read_parquet($full)),
         b AS (SELECT * EXCLUDE (identityMap), LIST_SORT(FLATTEN(MAP_VALUES(identityMap))) AS ids
               FROM read_parquet($grown))
    SELECT (SELECT COUNT(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b))
         + (SELECT COUNT(*) FROM (SELECT * FROM b EXCEPT ALL SELECT * FROM a))
"""


def _same_rows(full: Path, grown: Path) -> int:
    """The view updated in place against the one merged from scratch (a map's entries may
    come in any order: identities are compared as sorted lists)."""
    connection = duckdb.connect()
    row = connection.execute(SAME_ROWS, {"full": str(full), "grown": str(grown)}).fetchone()
    differ = row[0] if row else -1
    print(f"merged view updated in place vs merged from scratch: {differ} rows differ")
    return 1 if differ else 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=Path("bench-data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 20GB")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
