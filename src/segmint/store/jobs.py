"""Segment jobs in the metadata database. Every status change is a compare-and-set
``UPDATE … WHERE status IN (…)``; claims serialise per sandbox so that each job's
realized/existing/exited diff is against a well-defined previous run."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from segmint.clock import now_ms
from segmint.jobs.model import (
    ACTIVE_STATUSES,
    WAITING_STATUSES,
    JobStatus,
    SegmentJob,
    Tenant,
    initial_metrics,
)
from segmint.jobs.ports import Finish, NewJob
from segmint.store.database import Database
from segmint.store.rows import job_from_row
from segmint.store.tables import membership_snapshots, sandboxes, segment_jobs

_FINISH_FROM: dict[JobStatus, tuple[str, ...]] = {
    JobStatus.SUCCEEDED: (JobStatus.PROCESSING.value,),
    JobStatus.FAILED: (JobStatus.PROCESSING.value,),
    JobStatus.CANCELLED: (JobStatus.PROCESSING.value, JobStatus.CANCELLING.value),
}
_ACTIVE = [s.value for s in ACTIVE_STATUSES]
_WAITING = [s.value for s in WAITING_STATUSES]
CLAIM_CANDIDATES = 20
ERROR_LEASE_EXHAUSTED = "SEG-5002"


def _held_by(job_id: str, worker_id: str) -> ColumnElement[bool]:
    """The job is running (or being cancelled) under this worker's lease."""
    return and_(
        segment_jobs.c.id == job_id,
        segment_jobs.c.worker_id == worker_id,
        segment_jobs.c.status.in_(_ACTIVE),
    )


def _job_select() -> Select[Any]:
    return select(
        segment_jobs,
        sandboxes.c.org_id,
        sandboxes.c.name.label("sandbox_name"),
        sandboxes.c.type.label("sandbox_type"),
        sandboxes.c.is_default.label("sandbox_default"),
    ).join(sandboxes, sandboxes.c.id == segment_jobs.c.sandbox_id)


def _to_job(row: Any) -> SegmentJob:
    m = row._mapping
    tenant = Tenant(
        org_id=m["org_id"],
        sandbox_id=m["sandbox_id"],
        sandbox_name=m["sandbox_name"],
        sandbox_type=m["sandbox_type"],
        sandbox_default=m["sandbox_default"],
    )
    return job_from_row(row, tenant)


class SqlJobRepository:
    """``segmint.jobs.ports.JobRepository`` on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- reads ---------------------------------------------------------------------------

    def get(self, sandbox_id: str, job_id: str) -> SegmentJob | None:
        query = _job_select().where(
            segment_jobs.c.id == job_id, segment_jobs.c.sandbox_id == sandbox_id
        )
        return self._one(query)

    def get_any(self, job_id: str) -> SegmentJob | None:
        return self._one(_job_select().where(segment_jobs.c.id == job_id))

    def find_by_request_id(self, sandbox_id: str, client_request_id: str) -> SegmentJob | None:
        query = _job_select().where(
            segment_jobs.c.sandbox_id == sandbox_id,
            segment_jobs.c.client_request_id == client_request_id,
        )
        return self._one(query)

    def list_for_sandbox(self, sandbox_id: str, status: str | None = None) -> list[SegmentJob]:
        query = _job_select().where(segment_jobs.c.sandbox_id == sandbox_id)
        if status is not None:
            query = query.where(segment_jobs.c.status == status)
        query = query.order_by(segment_jobs.c.created_ms, segment_jobs.c.seq)
        with self.db.engine.connect() as conn:
            return [_to_job(row) for row in conn.execute(query)]

    def many(self, sandbox_id: str, job_ids: Sequence[str]) -> dict[str, SegmentJob]:
        query = _job_select().where(
            segment_jobs.c.sandbox_id == sandbox_id, segment_jobs.c.id.in_(list(job_ids))
        )
        with self.db.engine.connect() as conn:
            return {job.id: job for job in map(_to_job, conn.execute(query))}

    def _one(self, query: Select[Any]) -> SegmentJob | None:
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        return _to_job(row) if row is not None else None

    # --- create --------------------------------------------------------------------------

    def create(self, job: NewJob) -> tuple[SegmentJob, bool]:
        job_id = str(uuid.uuid4())
        created = now_ms()
        values = {
            "id": job_id,
            "sandbox_id": job.tenant.sandbox_id,
            "status": JobStatus.NEW.value,
            "source": job.source.value,
            "batch_id": str(uuid.uuid4()),
            "compute_gateway_job_id": str(uuid.uuid4()),
            "request_id": job.request_id,
            "client_request_id": job.client_request_id,
            "schema_name": job.schema_name,
            "all_segments": job.all_segments,
            "segments": [s.to_wire() for s in job.segments],
            "segment_ids": [s.segment_id for s in job.segments],
            "metrics": initial_metrics(),
            "properties": job.properties,
            "attempts": 0,
            "created_ms": created,
            "updated_ms": created,
        }
        try:
            with self.db.transaction() as conn:
                conn.execute(segment_jobs.insert().values(**values))
        except IntegrityError:
            if job.client_request_id is None:
                raise
            existing = self.find_by_request_id(job.tenant.sandbox_id, job.client_request_id)
            if existing is None:
                raise
            return existing, False
        stored = self.get(job.tenant.sandbox_id, job_id)
        assert stored is not None
        return stored, True

    # --- claim and lease -----------------------------------------------------------------

    def claim(
        self, worker_id: str, now: int, lease_ms: int, max_attempts: int
    ) -> SegmentJob | None:
        with self.db.transaction() as conn:
            self._recover_expired(conn, now, max_attempts)
            for job_id, sandbox_id in self._candidates(conn):
                if self._try_claim(conn, job_id, sandbox_id, worker_id, now, lease_ms):
                    claimed_id = job_id
                    break
            else:
                return None
        return self.get_any(claimed_id)

    def _candidates(self, conn: Connection) -> list[tuple[str, str]]:
        query = (
            select(segment_jobs.c.id, segment_jobs.c.sandbox_id)
            .where(segment_jobs.c.status.in_(_WAITING))
            .order_by(segment_jobs.c.created_ms, segment_jobs.c.seq)
            .limit(CLAIM_CANDIDATES)
        )
        if not self.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        return [(row.id, row.sandbox_id) for row in conn.execute(query)]

    def _try_claim(
        self,
        conn: Connection,
        job_id: str,
        sandbox_id: str,
        worker_id: str,
        now: int,
        lease_ms: int,
    ) -> bool:
        if not self.db.is_sqlite:
            # One claim at a time per sandbox: jobs of a sandbox run one after the other.
            conn.execute(
                select(sandboxes.c.id).where(sandboxes.c.id == sandbox_id).with_for_update()
            )
        if self._sandbox_busy(conn, sandbox_id):
            conn.execute(
                update(segment_jobs)
                .where(segment_jobs.c.id == job_id, segment_jobs.c.status == JobStatus.NEW.value)
                .values(status=JobStatus.QUEUED.value, updated_ms=now)
            )
            return False
        result = conn.execute(
            update(segment_jobs)
            .where(segment_jobs.c.id == job_id, segment_jobs.c.status.in_(_WAITING))
            .values(
                status=JobStatus.PROCESSING.value,
                worker_id=worker_id,
                lease_expires_ms=now + lease_ms,
                attempts=segment_jobs.c.attempts + 1,
                evaluation_time_ms=func.coalesce(segment_jobs.c.evaluation_time_ms, now),
                updated_ms=now,
            )
        )
        return result.rowcount == 1

    def _sandbox_busy(self, conn: Connection, sandbox_id: str) -> bool:
        query = select(
            exists().where(
                segment_jobs.c.sandbox_id == sandbox_id, segment_jobs.c.status.in_(_ACTIVE)
            )
        )
        return bool(conn.execute(query).scalar())

    def _recover_expired(self, conn: Connection, now: int, max_attempts: int) -> None:
        """Jobs whose worker stopped heart-beating: run again, or give up after
        ``max_attempts``; an expired CANCELLING job is simply CANCELLED."""
        expired = segment_jobs.c.lease_expires_ms < now
        conn.execute(
            update(segment_jobs)
            .where(segment_jobs.c.status == JobStatus.CANCELLING.value, expired)
            .values(status=JobStatus.CANCELLED.value, worker_id=None, updated_ms=now)
        )
        processing = and_(segment_jobs.c.status == JobStatus.PROCESSING.value, expired)
        conn.execute(
            update(segment_jobs)
            .where(processing, segment_jobs.c.attempts >= max_attempts)
            .values(
                status=JobStatus.FAILED.value,
                worker_id=None,
                updated_ms=now,
                errors=[
                    {
                        "code": ERROR_LEASE_EXHAUSTED,
                        "msg": f"the job's worker stopped responding {max_attempts} times",
                    }
                ],
            )
        )
        conn.execute(
            update(segment_jobs)
            .where(processing)
            .values(status=JobStatus.QUEUED.value, worker_id=None, updated_ms=now)
        )

    def heartbeat(self, job_id: str, worker_id: str, now: int, lease_ms: int) -> JobStatus | None:
        with self.db.transaction() as conn:
            result = conn.execute(
                update(segment_jobs)
                .where(_held_by(job_id, worker_id))
                .values(lease_expires_ms=now + lease_ms)
            )
            if result.rowcount != 1:
                return None
            status = conn.execute(
                select(segment_jobs.c.status).where(segment_jobs.c.id == job_id)
            ).scalar_one()
        return JobStatus(status)

    def record_progress(
        self, job_id: str, worker_id: str, progress: dict[str, Any], metrics: dict[str, Any]
    ) -> bool:
        with self.db.transaction() as conn:
            result = conn.execute(
                update(segment_jobs)
                .where(_held_by(job_id, worker_id))
                .values(progress=progress, metrics=metrics, updated_ms=now_ms())
            )
        return result.rowcount == 1

    # --- finish and cancel ---------------------------------------------------------------

    def finish(
        self, job_id: str, worker_id: str, outcome: Finish, before_commit: Callable[[], None]
    ) -> bool:
        now = now_ms()
        with self.db.transaction() as conn:
            result = conn.execute(
                update(segment_jobs)
                .where(
                    segment_jobs.c.id == job_id,
                    segment_jobs.c.worker_id == worker_id,
                    segment_jobs.c.status.in_(_FINISH_FROM[outcome.status]),
                )
                .values(
                    status=outcome.status.value,
                    metrics=outcome.metrics,
                    errors=outcome.errors,
                    lease_expires_ms=None,
                    updated_ms=now,
                    progress={
                        "stage": outcome.status.value.lower(),
                        "stageMs": outcome.stage_ms or {},
                    },
                )
            )
            if result.rowcount != 1:
                return False
            if outcome.status is JobStatus.SUCCEEDED:
                self._record_snapshots(conn, job_id, outcome, now)
            before_commit()
        return True

    def _record_snapshots(self, conn: Connection, job_id: str, outcome: Finish, now: int) -> None:
        row = conn.execute(
            select(segment_jobs.c.sandbox_id, segment_jobs.c.batch_id).where(
                segment_jobs.c.id == job_id
            )
        ).one()
        evaluated = outcome.evaluation_time_ms or now
        conn.execute(
            membership_snapshots.insert(),
            [
                {
                    "job_id": job_id,
                    "segment_id": sid,
                    "sandbox_id": row.sandbox_id,
                    "batch_id": row.batch_id,
                    "evaluated_ms": evaluated,
                }
                for sid in outcome.evaluated_segment_ids
            ],
        )

    def request_cancel(self, sandbox_id: str, job_id: str, now: int) -> JobStatus:
        with self.db.transaction() as conn:
            mine = and_(segment_jobs.c.id == job_id, segment_jobs.c.sandbox_id == sandbox_id)
            conn.execute(
                update(segment_jobs)
                .where(mine, segment_jobs.c.status.in_(_WAITING))
                .values(status=JobStatus.CANCELLED.value, updated_ms=now)
            )
            conn.execute(
                update(segment_jobs)
                .where(mine, segment_jobs.c.status == JobStatus.PROCESSING.value)
                .values(status=JobStatus.CANCELLING.value, updated_ms=now)
            )
            status = conn.execute(select(segment_jobs.c.status).where(mine)).scalar_one()
        return JobStatus(status)
