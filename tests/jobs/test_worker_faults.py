"""Workers under faults: a worker killed with SIGKILL mid-job loses nothing (its job is taken
over after the lease and finishes once), and cancelling interrupts a running evaluation and
leaves no visible output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq
import pytest

from segmint.api.app import make_worker, open_store
from segmint.engine import DuckDBRunner, MembershipStats, QueryCancelled
from segmint.jobs.executor import EngineSettings
from segmint.jobs.model import JobStatus, SegmentJob, Tenant
from segmint.jobs.service import JobRequest, cancel_job, create_job
from segmint.profiles.generate import generate
from segmint.settings import Settings
from segmint.store import BATCH_SUCCESS, Definition, Store
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS
from tests.support import make_settings

pytestmark = pytest.mark.slow

# Enough data that evaluating the definitions below takes seconds, not milliseconds.
PROFILES = 300_000
EVENT_TYPES = (
    "commerce.purchases",
    "commerce.productViews",
    "web.webpagedetails.pageViews",
    "commerce.checkouts",
    "commerce.productListAdds",
)
HEAVY = [
    f'(select X from xEvent where X.eventType = "{kind}" and X.timestamp occurs <= {days} days '
    f"before now).count() >= {k}"
    for kind in EVENT_TYPES
    for days in (7, 30, 90, 365)
    for k in (1, 3)
] + [
    f'personalEmail.address.contains("{c}", false) or person.name.lastName like "%{c}%"'
    for c in "aeiou"
]


@pytest.fixture(scope="module")
def lake_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faults-data")
    generate(
        out,
        profiles=PROFILES,
        seed=7,
        events_per_profile=10,
        now=datetime.now(UTC).replace(tzinfo=None),
    )
    return out


@pytest.fixture
def prepared(tmp_path: Path, lake_data: Path) -> Iterator[tuple[Settings, Store, Tenant]]:
    settings = make_settings(tmp_path / "home", lease_seconds=2, sample_profiles=0)
    store = open_store(settings)
    tenant = store.tenants.resolve(settings.org_id, "prod")
    assert tenant is not None
    for schema_name, sub in ((PROFILE_CLASS, "profiles"), (EXPERIENCE_EVENT_CLASS, "events")):
        dataset = store.catalog.create_dataset(tenant, sub, schema_name)
        target = store.catalog.batch_dir(tenant, dataset.id, f"b-{sub}")
        target.mkdir(parents=True)
        for file in (lake_data / sub).glob("*.parquet"):
            (target / file.name).symlink_to(file)
        store.catalog.record_batch(
            dataset.id,
            f"b-{sub}",
            status=BATCH_SUCCESS,
            records_read=0,
            records_written=0,
            errors=None,
        )
    policy = store.tenants.default_merge_policy(tenant)
    for i, expression in enumerate(HEAVY):
        store.definitions.create(
            tenant,
            Definition(
                id="",
                name=f"heavy {i}",
                description=None,
                expression_type="PQL",
                expression_format="pql/text",
                expression_value=expression,
                merge_policy_id=policy.id,
                schema_name=PROFILE_CLASS,
                ttl_in_days=None,
                evaluation_info={"batch": {"enabled": True}},
                profile_instance_id="ups",
                payload_schema=None,
                created_ms=0,
                updated_ms=0,
            ),
        )
    yield settings, store, tenant
    store.close()


def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def evaluating(store: Store, tenant: Tenant, job_id: str) -> bool:
    job = store.jobs.get(tenant.sandbox_id, job_id)
    assert job is not None
    return job.status is JobStatus.PROCESSING and (job.progress or {}).get("stage") == "evaluating"


def leftovers(store: Store, tenant: Tenant, job: SegmentJob) -> list[Path]:
    parent = store.catalog.membership_dir(tenant, job.batch_id).parent
    return sorted(parent.glob(".staging-*")) if parent.exists() else []


def worker_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "SEGMINT_HOME": str(settings.home),
        "SEGMINT_ORG_ID": settings.org_id,
        "SEGMINT_SANDBOXES": ",".join(settings.sandboxes),
        "SEGMINT_LEASE_SECONDS": str(settings.lease_seconds),
        "SEGMINT_SAMPLE_PROFILES": "0",
        "SEGMINT_DATABASE_URL": settings.resolved_database_url,
    }


def test_killed_worker_job_is_taken_over_and_finishes_once(
    prepared: tuple[Settings, Store, Tenant],
) -> None:
    settings, store, tenant = prepared
    job, _ = create_job(store.jobs, store.definitions, tenant, JobRequest(("*",)))
    process = subprocess.Popen(
        [sys.executable, "-m", "segmint", "worker", "--once"],
        env=worker_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: evaluating(store, tenant, job.id))
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        process.kill()
    orphan = store.jobs.get(tenant.sandbox_id, job.id)
    assert orphan is not None and orphan.status is JobStatus.PROCESSING and orphan.attempts == 1
    assert not store.catalog.membership_dir(tenant, job.batch_id).exists()

    rescuer = make_worker(store, settings)
    wait_for(rescuer.run_once, timeout=60)
    done = store.jobs.get(tenant.sandbox_id, job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED, done and done.errors
    assert done.attempts == 2 and done.evaluation_time_ms == orphan.evaluation_time_ms
    assert leftovers(store, tenant, job) == []
    rows = pq.read_table(store.catalog.membership_dir(tenant, job.batch_id))
    assert rows.num_rows == sum(done.metrics["segmentedProfileCounter"].values())
    assert done.metrics["totalProfiles"] == PROFILES
    previous = store.catalog.previous_memberships(tenant, job.segment_ids)
    assert len(previous) == 1 and sorted(previous[0][1]) == sorted(job.segment_ids)
    assert not rescuer.run_once()


class RecordingRunner(DuckDBRunner):
    """A real runner that remembers whether its evaluation ended by interruption."""

    interrupted_runs: ClassVar[list[bool]] = []

    def run_membership(self, **kwargs: Any) -> MembershipStats:
        try:
            stats = super().run_membership(**kwargs)
        except QueryCancelled:
            self.interrupted_runs.append(True)
            raise
        self.interrupted_runs.append(False)
        return stats


@dataclass(frozen=True)
class RecordingEngine(EngineSettings):
    def runner(self) -> DuckDBRunner:
        return RecordingRunner(threads=self.threads)


def test_cancel_interrupts_a_running_job_and_leaves_nothing(
    prepared: tuple[Settings, Store, Tenant],
) -> None:
    settings, store, tenant = prepared
    job, _ = create_job(store.jobs, store.definitions, tenant, JobRequest(("*",)))
    worker = make_worker(store, settings)
    worker.engine = RecordingEngine(threads=2)
    RecordingRunner.interrupted_runs.clear()
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(ran=worker.run_once()))
    thread.start()
    wait_for(lambda: evaluating(store, tenant, job.id))
    assert cancel_job(store.jobs, tenant, job.id) is JobStatus.CANCELLING
    thread.join(timeout=120)
    assert not thread.is_alive() and outcome["ran"]
    done = store.jobs.get(tenant.sandbox_id, job.id)
    assert done is not None and done.status is JobStatus.CANCELLED
    assert RecordingRunner.interrupted_runs == [True]  # the query itself was interrupted
    assert not store.catalog.membership_dir(tenant, job.batch_id).exists()
    assert leftovers(store, tenant, job) == []
    assert store.catalog.previous_memberships(tenant, job.segment_ids) == []
    assert "endTimeInMs" in done.metrics["totalTime"]


def test_a_failed_commit_unpublishes_the_batch(tmp_path: Path) -> None:
    from segmint.jobs.executor import Evaluation

    staging, final = tmp_path / ".staging-b-1-x", tmp_path / "b"
    staging.mkdir()
    (staging / "membership.parquet").write_bytes(b"rows")
    evaluation = Evaluation({}, staging, final, 0, {})
    evaluation.publish()
    assert final.exists() and not staging.exists()
    evaluation.discard()  # the transaction around publish() rolled back
    assert not final.exists()


def test_discarding_an_unpublished_evaluation_keeps_someone_elses_batch(tmp_path: Path) -> None:
    from segmint.jobs.executor import Evaluation

    staging, final = tmp_path / ".staging-b-1-x", tmp_path / "b"
    staging.mkdir()
    final.mkdir()  # published by the worker that took the job over
    Evaluation({}, staging, final, 0, {}).discard()
    assert final.exists() and not staging.exists()
