"""The job repository's compare-and-set transitions, leases and claims, on SQLite and on a
real PostgreSQL (``SEGMINT_TEST_DATABASE_URL``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from segmint.clock import now_ms
from segmint.jobs.model import JobSource, JobStatus, SegmentSnapshot, Tenant
from segmint.jobs.ports import Finish, NewJob
from segmint.store import Store
from segmint.store.tables import metadata

ORG = "TESTORG@AdobeOrg"
LEASE = 60_000


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(database_url, tmp_path)
    yield opened
    opened.close()


def sandbox(store: Store, name: str) -> Tenant:
    store.tenants.ensure_sandboxes(ORG, (name,))
    tenant = store.tenants.resolve(ORG, name)
    assert tenant is not None
    return tenant


def new_job(store: Store, tenant: Tenant, request_id: str | None = None) -> str:
    snapshot = SegmentSnapshot("seg-1", "PQL", "pql/text", 'person.gender = "x"', "mp-1", 1)
    job, created = store.jobs.create(
        NewJob(
            tenant=tenant,
            source=JobSource.API,
            schema_name="_xdm.context.profile",
            all_segments=False,
            segments=(snapshot,),
            request_id=request_id or "r",
            client_request_id=request_id,
        )
    )
    assert created
    return job.id


def finish(store: Store, job_id: str, worker: str, status: JobStatus) -> bool:
    return store.jobs.finish(
        job_id,
        worker,
        Finish(status, {"totalTime": {}}, evaluated_segment_ids=["seg-1"]),
        lambda: None,
    )


def test_migrations_match_the_table_definitions(store: Store) -> None:
    with store.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_claim_moves_new_to_processing_once(store: Store) -> None:
    tenant = sandbox(store, "prod")
    job_id = new_job(store, tenant)
    claimed = store.jobs.claim("w1", now_ms(), LEASE, 3)
    assert claimed is not None and claimed.id == job_id
    assert claimed.status is JobStatus.PROCESSING and claimed.attempts == 1
    assert claimed.worker_id == "w1" and claimed.evaluation_time_ms is not None
    assert store.jobs.claim("w2", now_ms(), LEASE, 3) is None


def test_jobs_of_one_sandbox_run_one_at_a_time(store: Store) -> None:
    tenant = sandbox(store, "prod")
    first, second = new_job(store, tenant), new_job(store, tenant)
    assert store.jobs.claim("w1", now_ms(), LEASE, 3).id == first  # type: ignore[union-attr]
    assert store.jobs.claim("w2", now_ms(), LEASE, 3) is None
    assert store.jobs.get(tenant.sandbox_id, second).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert finish(store, first, "w1", JobStatus.SUCCEEDED)
    assert store.jobs.claim("w2", now_ms(), LEASE, 3).id == second  # type: ignore[union-attr]


def test_expired_lease_is_taken_over_and_old_worker_is_locked_out(store: Store) -> None:
    tenant = sandbox(store, "prod")
    job_id = new_job(store, tenant)
    start = now_ms()
    assert store.jobs.claim("w1", start, 1_000, 3) is not None
    assert store.jobs.claim("w2", start + 500, LEASE, 3) is None  # lease still valid
    taken = store.jobs.claim("w2", start + 2_000, LEASE, 3)
    assert taken is not None and taken.id == job_id and taken.attempts == 2
    assert store.jobs.heartbeat(job_id, "w1", start + 2_001, LEASE) is None
    assert not finish(store, job_id, "w1", JobStatus.SUCCEEDED)
    assert store.jobs.heartbeat(job_id, "w2", start + 2_001, LEASE) is JobStatus.PROCESSING
    assert finish(store, job_id, "w2", JobStatus.SUCCEEDED)


def test_job_fails_after_max_attempts(store: Store) -> None:
    tenant = sandbox(store, "prod")
    job_id = new_job(store, tenant)
    t = now_ms()
    for attempt in range(2):
        assert store.jobs.claim(f"w{attempt}", t + attempt * 10_000, 1_000, 2) is not None
    assert store.jobs.claim("w9", t + 50_000, 1_000, 2) is None
    job = store.jobs.get(tenant.sandbox_id, job_id)
    assert job is not None and job.status is JobStatus.FAILED
    assert job.errors and job.errors[0]["code"] == "SEG-5002"


def test_cancel_transitions(store: Store) -> None:
    tenant = sandbox(store, "prod")
    waiting = new_job(store, tenant)
    assert store.jobs.request_cancel(tenant.sandbox_id, waiting, now_ms()) is JobStatus.CANCELLED
    running = new_job(store, tenant)
    assert store.jobs.claim("w1", now_ms(), LEASE, 3) is not None
    assert store.jobs.request_cancel(tenant.sandbox_id, running, now_ms()) is JobStatus.CANCELLING
    assert store.jobs.heartbeat(running, "w1", now_ms(), LEASE) is JobStatus.CANCELLING
    assert not finish(store, running, "w1", JobStatus.SUCCEEDED)
    assert finish(store, running, "w1", JobStatus.CANCELLED)
    assert store.jobs.request_cancel(tenant.sandbox_id, running, now_ms()) is JobStatus.CANCELLED


def test_expired_cancelling_job_ends_cancelled(store: Store) -> None:
    tenant = sandbox(store, "prod")
    job_id = new_job(store, tenant)
    t = now_ms()
    store.jobs.claim("w1", t, 1_000, 3)
    store.jobs.request_cancel(tenant.sandbox_id, job_id, t)
    store.jobs.claim("w2", t + 5_000, LEASE, 3)
    assert store.jobs.get(tenant.sandbox_id, job_id).status is JobStatus.CANCELLED  # type: ignore[union-attr]


def test_request_id_is_unique_per_sandbox(store: Store) -> None:
    prod, dev = sandbox(store, "prod"), sandbox(store, "dev")
    first = new_job(store, prod, request_id="same")
    snapshot = SegmentSnapshot("seg-1", "PQL", "pql/text", "x", "mp-1", 1)
    again, created = store.jobs.create(
        NewJob(prod, JobSource.API, "_xdm.context.profile", False, (snapshot,), "same", "same")
    )
    assert (again.id, created) == (first, False)
    assert new_job(store, dev, request_id="same") != first


def test_finish_publishes_inside_the_transaction(store: Store) -> None:
    tenant = sandbox(store, "prod")
    job_id = new_job(store, tenant)
    store.jobs.claim("w1", now_ms(), LEASE, 3)

    def explode() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        store.jobs.finish(
            job_id, "w1", Finish(JobStatus.SUCCEEDED, {}, evaluated_segment_ids=["seg-1"]), explode
        )
    assert store.jobs.get(tenant.sandbox_id, job_id).status is JobStatus.PROCESSING  # type: ignore[union-attr]
    assert store.catalog.previous_memberships(tenant, ["seg-1"]) == []


def test_two_workers_never_claim_a_job_twice(database_url: str, tmp_path: Path) -> None:
    setup = Store.open(database_url, tmp_path)
    tenants = [sandbox(setup, f"s{i}") for i in range(6)]
    expected = {new_job(setup, t) for t in tenants for _ in range(3)}
    claims: list[str] = []
    active: dict[str, str] = {}
    lock = threading.Lock()
    violations: list[str] = []

    def work(worker_id: str) -> None:
        mine = Store.open(database_url, tmp_path)
        idle_since = time.monotonic()
        try:
            while time.monotonic() - idle_since < 1.0:
                job = mine.jobs.claim(worker_id, now_ms(), LEASE, 3)
                if job is None:
                    time.sleep(0.01)
                    continue
                idle_since = time.monotonic()
                with lock:
                    claims.append(job.id)
                    if job.tenant.sandbox_id in active:
                        violations.append(job.tenant.sandbox_id)
                    active[job.tenant.sandbox_id] = job.id
                time.sleep(0.005)
                with lock:
                    del active[job.tenant.sandbox_id]
                assert finish(mine, job.id, worker_id, JobStatus.SUCCEEDED)
        finally:
            mine.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    setup.close()
    assert sorted(claims) == sorted(expected)
    assert violations == []
