"""Benchmark one segment job of 100 definitions through the real job code path.

    python benchmarks/segment_job.py                      # 1M profiles, 10M events
    python benchmarks/segment_job.py --profiles 10000000  # 10M profiles, 100M events

Generates data with the generator behind ``segmint generate`` (cached under --data-dir), loads it
into a fresh Segmint home as two datasets, defines the 100 benchmark definitions
(``benchmarks/definitions.py``) the engine accepts, runs one job with a worker exactly as the
service does, and prints where the time goes. In the same run and on the same files it times
(a) one planner query per definition and (b) the hand-written DuckDB SQL for the same
definitions, and checks that all three give every definition the same member count.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
from benchmarks.definitions import (
    BY_KEY,
    DEFINITIONS,
    KINDS,
    dependencies,
    hand_written_sql,
)
from sqlglot import exp

from segmint import pql
from segmint.api.app import make_worker, open_store
from segmint.api.segment_definitions import DEFAULT_EVALUATION_INFO
from segmint.api.wire import PROFILE_INSTANCE_ID
from segmint.clock import ms_to_datetime
from segmint.engine import check_supported, plan_segments
from segmint.engine.runners.duckdb import read_parquet
from segmint.engine.sql import segment_column
from segmint.jobs.model import JobStatus, Tenant
from segmint.jobs.service import JobRequest, create_job
from segmint.pql.ast import Expr
from segmint.profiles.generate import generate
from segmint.settings import Settings
from segmint.store import BATCH_SUCCESS, Definition, Store
from segmint.xdm import DEFAULT_SCHEMA, EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

DIALECT = "duckdb"


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    directory: Path
    generate_seconds: float  # 0 when reused

    @property
    def profile_files(self) -> list[Path]:
        return sorted((self.directory / "profiles").glob("*.parquet"))

    @property
    def event_files(self) -> list[Path]:
        return sorted((self.directory / "events").glob("*.parquet"))


def data_files(data_dir: Path, profiles: int, events_per_profile: float) -> Data:
    """The generated lake files for this scale, generated once and then reused."""
    target = data_dir / f"p{profiles}-e{events_per_profile:g}"
    if (target / "done").exists():
        return Data(target, 0.0)
    shutil.rmtree(target, ignore_errors=True)
    start = time.perf_counter()
    generate(
        target,
        profiles=profiles,
        seed=42,
        events_per_profile=events_per_profile,
        now=datetime.now(UTC).replace(tzinfo=None),
    )
    (target / "done").write_text("ok")
    return Data(target, time.perf_counter() - start)


# --- which definitions the engine runs ------------------------------------------------------


def placeholder_ids(keys: Sequence[str]) -> dict[str, str]:
    return {key: f"bench-{key}" for key in keys}


def checked(key: str, ids: dict[str, str]) -> Expr:
    text = BY_KEY[key].pql_with_ids(ids)
    return pql.check(pql.parse(text), DEFAULT_SCHEMA, source=text)


def triage() -> tuple[list[str], dict[str, str]]:
    """The keys the engine accepts (in definition order) and, for the others, why not. A
    definition whose ``inSegment`` target is rejected cannot be in the job either."""
    ids = placeholder_ids([d.key for d in DEFINITIONS])
    accepted: list[str] = []
    rejected: dict[str, str] = {}
    for definition in DEFINITIONS:
        missing = [r for r in definition.references() if r not in accepted]
        if missing:
            rejected[definition.key] = f"reads rejected definitions {', '.join(missing)}"
            continue
        try:
            check_supported(checked(definition.key, ids))
        except pql.PQLError as error:
            rejected[definition.key] = str(error).splitlines()[0]
            continue
        accepted.append(definition.key)
    return accepted, rejected


# --- the job --------------------------------------------------------------------------------


def load(store: Store, settings: Settings, data: Data, keys: Sequence[str]) -> dict[str, str]:
    """Two datasets whose batches link to the data files, and the definitions ``keys``; returns
    each key's definition id."""
    tenant = resolve(store, settings)
    for name, schema_name, files in (
        ("profiles", PROFILE_CLASS, data.profile_files),
        ("events", EXPERIENCE_EVENT_CLASS, data.event_files),
    ):
        dataset = store.catalog.create_dataset(tenant, name, schema_name)
        batch = f"bench-{name}"
        target = store.catalog.batch_dir(tenant, dataset.id, batch)
        target.mkdir(parents=True)
        for file in files:
            (target / file.name).symlink_to(file.resolve())
        store.catalog.record_batch(
            dataset.id, batch, status=BATCH_SUCCESS, records_read=0, records_written=0, errors=None
        )
    policy = store.tenants.default_merge_policy(tenant)
    ids: dict[str, str] = {}
    for key in dependencies(keys):
        definition = BY_KEY[key]
        stored = store.definitions.create(
            tenant,
            Definition(
                id="",
                name=f"{key} {definition.name}",
                description=f"benchmark definition {key} ({definition.kind})",
                expression_type="PQL",
                expression_format="pql/text",
                expression_value=definition.pql_with_ids(ids),
                merge_policy_id=policy.id,
                schema_name=PROFILE_CLASS,
                ttl_in_days=30,
                evaluation_info=dict(DEFAULT_EVALUATION_INFO),
                profile_instance_id=PROFILE_INSTANCE_ID,
                payload_schema=None,
                created_ms=0,
                updated_ms=0,
            ),
        )
        ids[key] = stored.id
    return ids


def resolve(store: Store, settings: Settings) -> Tenant:
    tenant = store.tenants.resolve(settings.org_id, "prod")
    assert tenant is not None
    return tenant


@dataclass
class JobRun:
    stages: dict[str, float]
    now: datetime
    counts: dict[str, int]  # definition key → members


def run_job(store: Store, settings: Settings, ids: dict[str, str]) -> JobRun:
    """One job over every definition, run by a worker as the service runs it."""
    tenant = resolve(store, settings)
    job, _ = create_job(store.jobs, store.definitions, tenant, JobRequest(("*",)))
    marks: dict[str, float] = {}

    def on_stage(_job: object, stage: str) -> None:
        marks[stage] = time.perf_counter()

    worker = make_worker(store, settings)
    worker.on_stage = on_stage
    start = time.perf_counter()
    assert worker.run_once()
    total = time.perf_counter() - start
    done = store.jobs.get(tenant.sandbox_id, job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED, done and done.errors
    stage_ms = (done.progress or {}).get("stageMs", {})
    evaluate, write = stage_ms.get("evaluate", 0.0) / 1000, stage_ms.get("write", 0.0) / 1000
    compiled = marks.get("evaluating", start) - start
    by_id = {definition_id: key for key, definition_id in ids.items()}
    qualified = done.metrics["segmentedProfileCounter"]
    return JobRun(
        stages={
            "claim + compile": compiled,
            "evaluate": evaluate,
            "write": write,
            "commit + other": total - compiled - evaluate - write,
            "job total": total,
        },
        now=ms_to_datetime(done.evaluation_time_ms or 0),
        counts={by_id[sid]: int(n) for sid, n in qualified.items()},
    )


# --- the baselines --------------------------------------------------------------------------


def connect(threads: int, data: Data) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(config={"threads": threads, "preserve_insertion_order": False})
    for name, files in (("profiles", data.profile_files), ("events", data.event_files)):
        connection.read_parquet([str(f) for f in files]).create_view(name)
    return connection


def planner_counts(
    connection: duckdb.DuckDBPyConnection,
    data: Data,
    keys: Sequence[str],
    now: datetime,
    counted: Sequence[str],
) -> list[int]:
    """Members of ``counted`` by one planner query over ``keys`` (which include them)."""
    ids = placeholder_ids(keys)
    plan = plan_segments(
        [(ids[key], checked(key, ids)) for key in keys],
        now,
        profiles=read_parquet(data.profile_files),
        events=read_parquet(data.event_files),
    )
    index = {key: i for i, key in enumerate(keys)}
    counts = [
        exp.Filter(
            this=exp.Count(this=exp.Star()),
            expression=exp.Where(this=exp.column(segment_column(index[key]), quoted=True)),
        )
        for key in counted
    ]
    query = exp.select(*counts).from_(
        exp.Subquery(this=plan, alias=exp.TableAlias(this=exp.to_identifier("plan")))
    )
    row = connection.execute(query.sql(dialect=DIALECT)).fetchone()
    assert row is not None
    return [int(n) for n in row]


def one_pass(
    connection: duckdb.DuckDBPyConnection, data: Data, keys: Sequence[str], now: datetime
) -> dict[str, int]:
    """The planner's one-pass query over ``keys``, members counted instead of written."""
    counts = planner_counts(connection, data, keys, now, keys)
    return dict(zip(keys, counts, strict=True))


def one_query_per_definition(
    connection: duckdb.DuckDBPyConnection, data: Data, keys: Sequence[str], now: datetime
) -> dict[str, int]:
    """Mode (a): each definition alone (with the segments it reads) as its own query."""
    return {
        key: planner_counts(connection, data, dependencies([key]), now, [key])[0] for key in keys
    }


def hand_written(
    connection: duckdb.DuckDBPyConnection, keys: Sequence[str], now: datetime
) -> dict[str, int]:
    """Mode (b): the hand-written SQL for ``keys``, one query."""
    row = connection.execute(hand_written_sql(keys, now)).fetchone()
    assert row is not None
    return dict(zip(keys, (int(n) for n in row), strict=True))


def timed(action: Callable[[], dict[str, int]]) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


# --- one round ------------------------------------------------------------------------------


@dataclass
class Round:
    stages: dict[str, float] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # mode → key → members


def one_round(data: Data, accepted: Sequence[str], threads: int) -> Round:
    result = Round()
    everything = [d.key for d in DEFINITIONS]
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    if accepted:
        home = Path(tempfile.mkdtemp(prefix="segmint-bench-"))
        settings = Settings(home=home, sample_profiles=0, workers=0, duckdb_threads=threads)
        store = open_store(settings)
        try:
            ids = load(store, settings, data, accepted)
            job = run_job(store, settings, ids)
        finally:
            store.close()
            shutil.rmtree(home, ignore_errors=True)
        result.stages.update(job.stages)
        result.counts["job"] = job.counts
        now = job.now
        result.stages["peak RSS after job (GB)"] = peak_rss_gb()
    connection = connect(threads, data)
    try:
        if accepted:
            seconds, counts = timed(lambda: one_pass(connection, data, accepted, now))
            result.stages["one-pass plan, counts only"] = seconds
            result.counts["plan"] = counts
            seconds, counts = timed(
                lambda: one_query_per_definition(connection, data, accepted, now)
            )
            result.stages["(a) one query per definition"] = seconds
            result.counts["per definition"] = counts
            seconds, counts = timed(lambda: hand_written(connection, accepted, now))
            result.stages["(b) hand-written SQL, same definitions"] = seconds
            result.counts["hand-written"] = counts
        seconds, counts = timed(lambda: hand_written(connection, everything, now))
        result.stages["hand-written SQL, all 100"] = seconds
        result.counts["hand-written, all"] = counts
    finally:
        connection.close()
    return result


def peak_rss_gb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9


# --- report ---------------------------------------------------------------------------------


def mismatches(round_: Round, accepted: Sequence[str]) -> list[str]:
    """Every definition whose member count differs between the modes of this round."""
    problems: list[str] = []
    reference = round_.counts["hand-written, all"]
    for mode, counts in round_.counts.items():
        if mode == "hand-written, all":
            continue
        for key in accepted:
            if counts.get(key) != reference[key]:
                problems.append(
                    f"{key} ({BY_KEY[key].name}): {mode} {counts.get(key)} "
                    f"!= hand-written {reference[key]}"
                )
    return problems


def print_report(
    args: argparse.Namespace,
    data: Data,
    accepted: Sequence[str],
    rejected: dict[str, str],
    rounds: Sequence[Round],
) -> None:
    last = rounds[-1]
    total_profiles = args.profiles
    print()
    print(
        f"{len(DEFINITIONS)} definitions: {len(accepted)} run by the engine, "
        f"{len(rejected)} rejected"
    )
    if rejected:
        print("rejected by the engine (not in the job, nor in (a); still in 'hand-written, all'):")
        for key, reason in rejected.items():
            print(f"  {key} {BY_KEY[key].kind:<9} {BY_KEY[key].name}: {reason}")
    print()
    print("members per definition (hand-written SQL, all 100):")
    counts = last.counts["hand-written, all"]
    for kind in KINDS:
        keys = [d.key for d in DEFINITIONS if d.kind == kind]
        shares = sorted(counts[k] / max(total_profiles, 1) for k in keys)
        ran = sum(k in accepted for k in keys)
        print(
            f"  {kind:<9} {len(keys):>3} definitions, {ran:>3} in the job; members "
            f"min {shares[0]:7.3%}  median {statistics.median(shares):7.3%}  "
            f"max {shares[-1]:7.3%}"
        )
    empty = [k for k in counts if counts[k] == 0]
    if empty:
        print(f"  no members at this scale: {', '.join(empty)}")
    if args.show_counts:
        for definition in DEFINITIONS:
            job = last.counts.get("job", {}).get(definition.key)
            print(
                f"    {definition.key} {counts[definition.key]:>10,} "
                f"{'job ' + format(job, ',') if job is not None else 'rejected':>16}  "
                f"{definition.name}"
            )
    print()
    generated = f"{data.generate_seconds:8.1f} s" if data.generate_seconds else "   reused (cached)"
    print(
        f"median of {len(rounds)} run(s) after {args.warmup} warm-up run(s), "
        f"{args.threads} DuckDB threads:"
    )
    print(f"  {'generate data':<40} {generated}")
    names = list(last.stages)
    for name in names:
        values = [r.stages[name] for r in rounds if name in r.stages]
        unit = "" if "GB" in name else " s"
        print(f"  {name:<40} {statistics.median(values):8.3f}{unit}")
    print(f"  {'peak RSS of the process':<40} {peak_rss_gb():8.3f} GB")

    def median(name: str) -> float:
        return statistics.median(r.stages[name] for r in rounds)

    if accepted:
        evaluate = median("evaluate")
        per_definition = median("(a) one query per definition")
        hand = median("(b) hand-written SQL, same definitions")
        plan = median("one-pass plan, counts only")
        print(f"ratios over the {len(accepted)} definitions the engine runs:")
        print(
            f"  (a) one query per definition / job evaluate   {per_definition / evaluate:7.2f}x"
            "   (target >= 10x)"
        )
        print(f"  (a) one query per definition / one-pass plan  {per_definition / plan:7.2f}x")
        print(
            f"  job evaluate / (b) hand-written SQL           {evaluate / hand:7.2f}x"
            "   (target <= 1.3x)"
        )
        print(f"  one-pass plan / (b) hand-written SQL          {plan / hand:7.2f}x")
        print(f"  job total / (b) hand-written SQL              {median('job total') / hand:7.2f}x")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events-per-profile", type=float, default=10.0)
    parser.add_argument("--data-dir", type=Path, default=Path("bench-data"))
    parser.add_argument("--repeat", type=int, default=3, help="measured runs (median)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--show-counts", action="store_true", help="list every definition")
    args = parser.parse_args(argv)
    data = data_files(args.data_dir, args.profiles, args.events_per_profile)
    how = f"generated in {data.generate_seconds:.1f} s" if data.generate_seconds else "reused"
    print(
        f"data: {args.profiles:,} profiles, ~{args.events_per_profile:g} events each in "
        f"{data.directory} ({how})"
    )
    accepted, rejected = triage()
    print(f"the engine accepts {len(accepted)} of {len(DEFINITIONS)} definitions")
    rounds: list[Round] = []
    failed = False
    for index in range(args.warmup + args.repeat):
        round_ = one_round(data, accepted, args.threads)
        problems = mismatches(round_, accepted)
        for problem in problems:
            print(f"MISMATCH: {problem}", file=sys.stderr)
        failed = failed or bool(problems)
        label = "warm-up" if index < args.warmup else "run"
        print(
            f"  {label} {index + 1}: "
            + ", ".join(
                f"{name} {seconds:.2f}"
                for name, seconds in round_.stages.items()
                if "GB" not in name
            )
        )
        if index >= args.warmup:
            rounds.append(round_)
    print_report(args, data, accepted, rejected, rounds)
    if failed:
        print("FAILED: member counts differ between the job and the baselines", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
