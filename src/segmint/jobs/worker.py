"""The worker loop: claim a job (compare-and-set with a lease), keep the lease alive with
heartbeats, run the job, record its outcome. Cancellation and a lost lease interrupt the
running query; a worker killed outright is replaced once its lease expires."""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from segmint.clock import now_ms
from segmint.engine import QueryCancelled, Runner
from segmint.jobs.executor import (
    DefinitionCompileError,
    EngineSettings,
    Evaluation,
    MergePolicyConflict,
    close_total_time,
    evaluate_job,
)
from segmint.jobs.model import JobStatus, SegmentJob
from segmint.jobs.ports import Finish, JobRepository, LakeCatalog, ProfileViewSource

log = logging.getLogger(__name__)

ERROR_INVALID_DEFINITION = "SEG-4001"
ERROR_EXECUTION = "SEG-5001"


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class LeaseKeeper:
    """Heartbeats on a background thread; interrupts the runner on cancel or lost lease."""

    repo: JobRepository
    job_id: str
    worker_id: str
    lease_ms: int
    runner: Runner
    cancel_requested: threading.Event = field(default_factory=threading.Event)
    lease_lost: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"lease-{self.job_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def beat(self) -> None:
        status = self.repo.heartbeat(self.job_id, self.worker_id, now_ms(), self.lease_ms)
        if status is None:
            self.lease_lost.set()
            self.runner.interrupt()
        elif status is JobStatus.CANCELLING:
            self.cancel_requested.set()
            self.runner.interrupt()

    def _run(self) -> None:
        interval = max(0.05, min(self.lease_ms / 3000, 1.0))
        while not self._stop.wait(interval):
            try:
                self.beat()
            except Exception:  # a transient database error must not kill the heartbeat
                log.exception("heartbeat for job %s failed", self.job_id)


class Worker:
    """Claims and runs segment jobs until stopped."""

    def __init__(
        self,
        repo: JobRepository,
        lake: LakeCatalog,
        views: ProfileViewSource,
        *,
        engine: EngineSettings | None = None,
        lease_seconds: int = 30,
        max_attempts: int = 3,
        worker_id: str | None = None,
        poll_seconds: float = 0.5,
        on_stage: Callable[[SegmentJob, str], None] | None = None,
    ) -> None:
        self.repo = repo
        self.lake = lake
        self.views = views
        self.engine = engine or EngineSettings()
        self.lease_ms = lease_seconds * 1000
        self.max_attempts = max_attempts
        self.worker_id = worker_id or default_worker_id()
        self.poll_seconds = poll_seconds
        self.on_stage = on_stage
        self.stopped = threading.Event()

    def run_forever(self) -> None:
        log.info("worker %s started", self.worker_id)
        while not self.stopped.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("worker %s: claiming a job failed", self.worker_id)
                worked = False
            if not worked:
                self.stopped.wait(self.poll_seconds)

    def stop(self) -> None:
        self.stopped.set()

    def run_once(self) -> bool:
        """Claim one job and run it; False when there was nothing to do."""
        job = self.repo.claim(self.worker_id, now_ms(), self.lease_ms, self.max_attempts)
        if job is None:
            return False
        self.process(job)
        return True

    def process(self, job: SegmentJob) -> JobStatus | None:
        """Run a job this worker holds; its final status, or None if the lease was lost."""
        runner = self.engine.runner()
        keeper = LeaseKeeper(self.repo, job.id, self.worker_id, self.lease_ms, runner)
        keeper.start()
        try:
            keeper.beat()  # a cancel that arrived between claim and start
            return self._execute(job, runner, keeper)
        finally:
            keeper.stop()
            runner.close()

    def _execute(self, job: SegmentJob, runner: Runner, keeper: LeaseKeeper) -> JobStatus | None:
        metrics: dict[str, Any] = dict(job.metrics)
        metrics["totalTime"] = {
            "startTimeInMs": metrics.get("totalTime", {}).get("startTimeInMs", now_ms())
        }
        evaluation: Evaluation | None = None
        try:
            if keeper.cancel_requested.is_set():
                raise QueryCancelled("cancelled before start")
            evaluation = evaluate_job(
                job,
                self.lake,
                self.views,
                runner,
                metrics,
                lambda stage: self._stage(job, stage, metrics),
                self.engine.engine,
            )
        except QueryCancelled:
            return self._interrupted(job, keeper, metrics)
        except (DefinitionCompileError, MergePolicyConflict) as error:
            return self._fail(job, metrics, ERROR_INVALID_DEFINITION, str(error))
        except Exception as error:
            if keeper.cancel_requested.is_set() or keeper.lease_lost.is_set():
                return self._interrupted(job, keeper, metrics)
            log.exception("job %s failed", job.id)
            return self._fail(
                job,
                metrics,
                ERROR_EXECUTION,
                f"{type(error).__name__}: {error}",
                traceback.format_exc(),
            )
        return self._succeed(job, evaluation, keeper)

    def _stage(self, job: SegmentJob, stage: str, metrics: dict[str, Any]) -> None:
        self.repo.record_progress(job.id, self.worker_id, {"stage": stage}, metrics)
        if self.on_stage is not None:
            self.on_stage(job, stage)

    def _succeed(
        self, job: SegmentJob, evaluation: Evaluation, keeper: LeaseKeeper
    ) -> JobStatus | None:
        if keeper.cancel_requested.is_set():
            evaluation.discard()
            return self._finish(job, Finish(JobStatus.CANCELLED, evaluation.metrics))
        close_total_time(evaluation.metrics)
        outcome = Finish(
            JobStatus.SUCCEEDED,
            evaluation.metrics,
            evaluated_segment_ids=job.segment_ids,
            evaluation_time_ms=evaluation.evaluation_time_ms,
            stage_ms=evaluation.stage_ms,
        )
        try:
            done = self.repo.finish(job.id, self.worker_id, outcome, evaluation.publish)
        except BaseException:
            evaluation.discard()
            raise
        if not done:
            evaluation.discard()
            return self._after_lost_race(job)
        return JobStatus.SUCCEEDED

    def _after_lost_race(self, job: SegmentJob) -> JobStatus | None:
        """The CAS to SUCCEEDED failed: a cancel arrived or the lease went elsewhere."""
        current = self.repo.get_any(job.id)
        if current is not None and current.status is JobStatus.CANCELLING:
            return self._finish(job, Finish(JobStatus.CANCELLED, dict(current.metrics)))
        return None

    def _interrupted(
        self, job: SegmentJob, keeper: LeaseKeeper, metrics: dict[str, Any]
    ) -> JobStatus | None:
        if keeper.lease_lost.is_set():
            log.warning("job %s: lease lost, leaving it to its new owner", job.id)
            return None
        close_total_time(metrics)
        return self._finish(job, Finish(JobStatus.CANCELLED, metrics))

    def _fail(
        self,
        job: SegmentJob,
        metrics: dict[str, Any],
        code: str,
        message: str,
        call_stack: str | None = None,
    ) -> JobStatus | None:
        close_total_time(metrics)
        error: dict[str, Any] = {"code": code, "msg": message}
        if call_stack:
            error["callStack"] = call_stack
        return self._finish(job, Finish(JobStatus.FAILED, metrics, errors=[error]))

    def _finish(self, job: SegmentJob, outcome: Finish) -> JobStatus | None:
        if self.repo.finish(job.id, self.worker_id, outcome, lambda: None):
            return outcome.status
        if outcome.status is JobStatus.CANCELLED:
            return None
        return self._after_lost_race(job)
