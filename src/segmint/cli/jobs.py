"""``segmint jobs``: the same job service the API uses, on the local store."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from segmint.api import wire
from segmint.api.app import make_worker
from segmint.cli.context import CommandError, open_sandbox
from segmint.cli.main import dump, job_table
from segmint.jobs.model import JobStatus, Tenant
from segmint.jobs.service import (
    JobConflictError,
    JobRequest,
    JobRequestError,
    cancel_job,
    create_job,
)
from segmint.settings import Settings
from segmint.store import Store


def run_job(
    settings: Settings,
    segment_ids: list[str],
    all_segments: bool,
    sandbox: str,
    detach: bool,
    console: Console,
) -> int:
    with open_sandbox(settings, sandbox) as (store, tenant):
        ids = ("*",) if all_segments else tuple(segment_ids)
        try:
            job, _ = create_job(store.jobs, store.definitions, tenant, JobRequest(ids))
        except (JobRequestError, JobConflictError) as exc:
            raise CommandError(str(exc), exit_code=2) from exc
        console.print(f"created segment job {job.id} (batch {job.batch_id})")
        if detach:
            return 0
        return _run_here(store, settings, tenant, job.id, console)


def _run_here(
    store: Store, settings: Settings, tenant: Tenant, job_id: str, console: Console
) -> int:
    """Work as a worker until this job ends, showing its stage as it goes."""
    worker = make_worker(store, settings)
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("NEW", total=None)
            while True:
                job = store.jobs.get(tenant.sandbox_id, job_id)
                assert job is not None
                stage = (
                    (job.progress or {}).get("stage")
                    if job.status is JobStatus.PROCESSING
                    else job.status.value
                )
                progress.update(task, description=f"{job.status.value}: {stage}")
                if job.status.is_final:
                    break
                worker.stopped.wait(0.2)
    except KeyboardInterrupt:
        cancel_job(store.jobs, tenant, job_id)
        console.print("cancelling…")
    finally:
        worker.stop()
        thread.join()
    final = store.jobs.get(tenant.sandbox_id, job_id)
    assert final is not None
    dump(wire.segment_job(final))
    return 0 if final.status is JobStatus.SUCCEEDED else 1


def list_jobs(
    settings: Settings, sandbox: str, status: str | None, limit: int, console: Console
) -> int:
    try:
        wanted = JobStatus(status.upper()) if status else None
    except ValueError as exc:
        raise CommandError(f"unknown status {status!r}", exit_code=2) from exc
    with open_sandbox(settings, sandbox) as (store, tenant):
        jobs = store.jobs.list_for_sandbox(tenant.sandbox_id, wanted.value if wanted else None)
    newest = sorted(jobs, key=lambda j: j.created_ms, reverse=True)[:limit]
    console.print(job_table([wire.segment_job(j) for j in newest]))
    return 0


def get_job(settings: Settings, sandbox: str, job_id: str, console: Console) -> int:
    with open_sandbox(settings, sandbox) as (store, tenant):
        job = store.jobs.get(tenant.sandbox_id, job_id)
    if job is None:
        raise CommandError(f"segment job {job_id} not found")
    dump(wire.segment_job(job))
    return 0


def cancel(settings: Settings, sandbox: str, job_id: str, console: Console) -> int:
    with open_sandbox(settings, sandbox) as (store, tenant):
        try:
            status = cancel_job(store.jobs, tenant, job_id)
        except LookupError as exc:
            raise CommandError(f"segment job {job_id} not found") from exc
        except JobConflictError as exc:
            raise CommandError(str(exc)) from exc
    console.print(f"segment job {job_id}: {status.value}")
    return 0
