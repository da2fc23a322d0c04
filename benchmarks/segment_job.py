"""Benchmark one segment job through the real job code path.

    python benchmarks/segment_job.py --profiles 1000000

Generates data (cached under --data-dir), loads it into a fresh Segmint home as two
datasets, defines the sample segments, runs one job with a worker exactly as the service
does, and prints where the time goes, with the ratio against hand-written DuckDB SQL for the
same definitions on the same files.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from segmint.api.app import make_worker, open_store
from segmint.api.sample_data import SAMPLE_DEFINITIONS, load_sample_data
from segmint.clock import ms_to_datetime
from segmint.jobs.model import JobStatus
from segmint.jobs.service import JobRequest, create_job
from segmint.profiles.generate import generate
from segmint.settings import Settings
from segmint.store import BATCH_SUCCESS, Store
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

# The five sample definitions written by hand: what a data engineer would write in DuckDB.
HAND_WRITTEN = """
WITH ev AS (
  SELECT __profile_id,
         count(*) FILTER (WHERE eventType = 'commerce.purchases'
                          AND "timestamp" >= $now - INTERVAL 30 DAY AND "timestamp" < $now) AS buys,
         count(*) FILTER (WHERE eventType = 'web.webpagedetails.pageViews'
                          AND "timestamp" >= $now - INTERVAL 7 DAY AND "timestamp" < $now) AS views
  FROM events GROUP BY __profile_id
)
SELECT count(*) FILTER (WHERE p.homeAddress.countryCode = 'US'),
       count(*) FILTER (WHERE p.loyalty.tier IN ('gold', 'platinum')),
       count(*) FILTER (WHERE coalesce(ev.buys, 0) > 0),
       count(*) FILTER (WHERE coalesce(ev.views, 0) >= 3),
       count(*) FILTER (WHERE lower(p.personalEmail.address) LIKE '%@gmail.com')
FROM profiles p LEFT JOIN ev USING (__profile_id)
"""


def data_files(data_dir: Path, profiles: int, events_per_profile: float) -> tuple[Path, float]:
    target = data_dir / f"p{profiles}-e{events_per_profile:g}"
    if (target / "done").exists():
        return target, 0.0
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
    return target, time.perf_counter() - start


def load(store: Store, settings: Settings, data: Path) -> None:
    tenant = store.tenants.resolve(settings.org_id, "prod")
    assert tenant is not None
    for name, schema_name, sub in (
        ("profiles", PROFILE_CLASS, "profiles"),
        ("events", EXPERIENCE_EVENT_CLASS, "events"),
    ):
        dataset = store.catalog.create_dataset(tenant, name, schema_name)
        batch = f"bench-{sub}"
        target = store.catalog.batch_dir(tenant, dataset.id, batch)
        target.mkdir(parents=True)
        for file in sorted((data / sub).glob("*.parquet")):
            (target / file.name).symlink_to(file.resolve())
        store.catalog.record_batch(
            dataset.id, batch, status=BATCH_SUCCESS, records_read=0, records_written=0, errors=None
        )
    load_sample_data(store, tenant, settings.home, profiles=0)


def run_job(store: Store, settings: Settings) -> dict[str, float]:
    tenant = store.tenants.resolve(settings.org_id, "prod")
    assert tenant is not None
    job, _ = create_job(store.jobs, store.definitions, tenant, JobRequest(("*",)))
    stages: dict[str, float] = {}
    marks = [time.perf_counter()]

    def on_stage(_job: object, stage: str) -> None:
        marks.append(time.perf_counter())
        stages[stage] = marks[-1]

    worker = make_worker(store, settings)
    worker.on_stage = on_stage
    start = time.perf_counter()
    assert worker.run_once()
    total = time.perf_counter() - start
    done = store.jobs.get(tenant.sandbox_id, job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED, done and done.errors
    evaluation = done.metrics["profileSegmentationTime"]["totalTimeInMs"] / 1000
    stage_ms = (done.progress or {}).get("stageMs", {})
    return {
        "job total": total,
        "claim+compile": stages.get("evaluating", start) - start,
        "  evaluate": stage_ms.get("evaluate", 0.0) / 1000,
        "  write": stage_ms.get("write", 0.0) / 1000,
        "evaluate+write": evaluation,
        "commit": total - (stages.get("evaluating", start) - start) - evaluation,
        "now": done.evaluation_time_ms or 0,
    }


def hand_written(store: Store, settings: Settings, now_ms: int, threads: int) -> float:
    tenant = store.tenants.resolve(settings.org_id, "prod")
    assert tenant is not None
    conn = duckdb.connect(config={"threads": threads})
    conn.read_parquet([str(f) for f in store.catalog.profile_files(tenant)]).create_view("profiles")
    conn.read_parquet([str(f) for f in store.catalog.event_files(tenant)]).create_view("events")
    start = time.perf_counter()
    conn.execute(HAND_WRITTEN, {"now": ms_to_datetime(now_ms)}).fetchall()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--events-per-profile", type=float, default=10.0)
    parser.add_argument("--data-dir", type=Path, default=Path("bench-data"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    data, generate_seconds = data_files(args.data_dir, args.profiles, args.events_per_profile)
    print(
        f"data: {args.profiles:,} profiles, ~{args.events_per_profile:g} events each "
        f"({'cached' if not generate_seconds else f'generated in {generate_seconds:.1f} s'})"
    )
    runs, baselines = [], []
    for _ in range(args.repeat):
        home = Path(tempfile.mkdtemp(prefix="segmint-bench-"))
        settings = Settings(home=home, sample_profiles=0, workers=0, duckdb_threads=args.threads)
        store = open_store(settings)
        try:
            load(store, settings, data)
            runs.append(run_job(store, settings))
            baselines.append(hand_written(store, settings, int(runs[-1]["now"]), args.threads))
        finally:
            store.close()
            shutil.rmtree(home, ignore_errors=True)
    print(f"{len(SAMPLE_DEFINITIONS)} definitions, one job, median of {args.repeat} runs:")
    for stage in (
        "claim+compile",
        "evaluate+write",
        "  evaluate",
        "  write",
        "commit",
        "job total",
    ):
        print(f"  {stage:<16} {statistics.median(r[stage] for r in runs):8.3f} s")
    job_total = statistics.median(r["job total"] for r in runs)
    baseline = statistics.median(baselines)
    print(f"  hand-written SQL (counts only) {baseline:8.3f} s")
    print(f"  ratio job / hand-written       {job_total / baseline:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
