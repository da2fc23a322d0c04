"""Streamed records: durable in the metadata database once acknowledged, and turned into
ordinary batches of their dataset by a flush (after N records or T seconds, or on demand).

A flush stages the buffered records, then in one transaction deletes exactly those records,
records the batch and renames its files into place. Two flushes racing over the same records
cannot both win (the loser deletes fewer rows than it read and rolls back); a crash before the
commit leaves the records buffered and no visible batch, so nothing is lost or seen twice."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select

from segmint.clock import now_ms
from segmint.jobs.model import Tenant
from segmint.profiles.ingest import StagedBatch, stage_batch
from segmint.store.database import Database
from segmint.store.ingestion import MAX_REPORTED_ERRORS, BatchIngestion, BatchJudge
from segmint.store.lake_catalog import BATCH_SUCCESS, Batch, Dataset, SqlLakeCatalog
from segmint.store.tables import sandboxes, stream_records

if TYPE_CHECKING:
    from segmint.store import Store

MAX_FLUSH_RECORDS = 50_000  # records per flushed batch (a bigger backlog makes several)
DELETE_CHUNK = 500  # ids per DELETE … IN (…)
STREAM_CLIENT = "streaming"


@dataclass(frozen=True)
class Receipt:
    """An acknowledged record: its place in the buffer and when it was received."""

    seq: int
    received_ms: int

    @property
    def xaction_id(self) -> str:
        return xaction_id(self.received_ms, self.seq)


def xaction_id(received_ms: int, seq: int) -> str:
    return f"{received_ms}:{seq}"


class _Raced(Exception):
    """Another flush took some of the records first."""


class StreamBuffer:
    def __init__(self, db: Database, catalog: SqlLakeCatalog, ingestion: BatchIngestion) -> None:
        self.db = db
        self.catalog = catalog
        self.ingestion = ingestion

    @property
    def flush_records(self) -> int:
        return self.ingestion.options.stream_flush_records

    @property
    def flush_seconds(self) -> float:
        return self.ingestion.options.stream_flush_seconds

    def append(self, tenant: Tenant, dataset: Dataset, record: Any) -> Receipt:
        """Store one record durably (committed before this returns)."""
        received = now_ms()
        with self.db.transaction() as conn:
            inserted = conn.execute(
                stream_records.insert().values(
                    sandbox_id=tenant.sandbox_id,
                    dataset_id=dataset.id,
                    record=record,
                    received_ms=received,
                )
            )
        key = inserted.inserted_primary_key
        assert key is not None
        return Receipt(int(key[0]), received)

    def pending(self, tenant: Tenant, dataset_id: str | None = None) -> int:
        """How many acknowledged records of the sandbox (or dataset) wait for a flush."""
        query = select(func.count()).where(stream_records.c.sandbox_id == tenant.sandbox_id)
        if dataset_id is not None:
            query = query.where(stream_records.c.dataset_id == dataset_id)
        with self.db.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def flush(self, tenant: Tenant, dataset_id: str | None = None) -> list[Batch]:
        """Turn every record buffered for the sandbox (or one dataset) into batches; the
        batches made. Idempotent: with nothing buffered it does nothing."""
        made: list[Batch] = []
        for buffered_dataset in self._buffered_datasets(tenant, dataset_id):
            dataset = self.catalog.dataset(tenant, buffered_dataset)
            if dataset is not None:
                made += self._flush_dataset(tenant, dataset)
        return made

    def flush_due(self) -> list[Batch]:
        """Flush, in every sandbox, the datasets holding ``flush_records`` records or a record
        older than ``flush_seconds`` (what a timer calls)."""
        oldest_allowed = now_ms() - int(self.flush_seconds * 1000)
        query = (
            select(stream_records.c.sandbox_id, stream_records.c.dataset_id)
            .group_by(stream_records.c.sandbox_id, stream_records.c.dataset_id)
            .having(
                (func.min(stream_records.c.received_ms) <= oldest_allowed)
                | (func.count() >= self.flush_records)
            )
        )
        with self.db.engine.connect() as conn:
            due = conn.execute(query).all()
        made: list[Batch] = []
        for row in due:
            tenant = self._tenant(row.sandbox_id)
            if tenant is not None:
                made += self.flush(tenant, row.dataset_id)
        return made

    def flush_if_full(self, tenant: Tenant, dataset: Dataset) -> list[Batch]:
        """Flush ``dataset`` when it holds ``flush_records`` records or more."""
        if self.pending(tenant, dataset.id) < self.flush_records:
            return []
        return self.flush(tenant, dataset.id)

    def _buffered_datasets(self, tenant: Tenant, dataset_id: str | None) -> list[str]:
        query = (
            select(stream_records.c.dataset_id)
            .where(stream_records.c.sandbox_id == tenant.sandbox_id)
            .distinct()
        )
        if dataset_id is not None:
            query = query.where(stream_records.c.dataset_id == dataset_id)
        with self.db.engine.connect() as conn:
            return sorted(row.dataset_id for row in conn.execute(query))

    def _flush_dataset(self, tenant: Tenant, dataset: Dataset) -> list[Batch]:
        made: list[Batch] = []
        while True:
            rows = self._oldest(tenant, dataset.id)
            if not rows:
                return made
            batch = self._flush_rows(tenant, dataset, rows)
            if batch is None:  # another flush is at work on these records
                return made
            made.append(batch)

    def _oldest(self, tenant: Tenant, dataset_id: str) -> list[Any]:
        query = (
            select(stream_records.c.seq, stream_records.c.record, stream_records.c.received_ms)
            .where(
                stream_records.c.sandbox_id == tenant.sandbox_id,
                stream_records.c.dataset_id == dataset_id,
            )
            .order_by(stream_records.c.seq)
            .limit(MAX_FLUSH_RECORDS)
        )
        with self.db.engine.connect() as conn:
            return list(conn.execute(query).all())

    def _flush_rows(self, tenant: Tenant, dataset: Dataset, rows: Sequence[Any]) -> Batch | None:
        batch_id = str(uuid.uuid4())
        judge = BatchJudge(
            lambda row: {"xactionId": xaction_id(rows[row].received_ms, rows[row].seq)},
            input_files=0,
            input_bytes=lambda: sum(len(json.dumps(r.record)) for r in rows),
        )
        committed_ids, committed = (
            self.catalog.dataset_files(tenant, dataset.id)
            if dataset.kind == "event"
            else (frozenset(), [])
        )
        staged = self._stage(tenant, dataset, batch_id, [r.record for r in rows], committed)
        publish = staged if judge.outcome(staged).status == BATCH_SUCCESS else None
        try:
            with self.catalog.publishing(
                tenant, dataset.id, batch_id, publish, committed_ids
            ) as conn:
                _delete_exactly(conn, [r.seq for r in rows])
                batch = self._batch(batch_id, dataset, staged, judge)
                self.catalog.insert_finished(conn, batch)
        except _Raced:
            return None
        finally:
            if publish is None:
                staged.discard()
        return batch

    def _stage(
        self,
        tenant: Tenant,
        dataset: Dataset,
        batch_id: str,
        records: list[Any],
        committed: list[Any],
    ) -> StagedBatch:
        return stage_batch(
            records,
            kind=dataset.kind,
            schema=self.catalog.schema(tenant),
            out_dir=self.catalog.batch_dir(tenant, dataset.id, batch_id),
            rules=self.ingestion.rules(tenant, dataset),
            committed_files=committed,
            max_errors=MAX_REPORTED_ERRORS,
        )

    def _batch(
        self, batch_id: str, dataset: Dataset, staged: StagedBatch, judge: BatchJudge
    ) -> Batch:
        outcome = judge.outcome(staged)
        values = outcome.values(staged.result)
        now = now_ms()
        return Batch(
            id=batch_id,
            dataset_id=dataset.id,
            status=values["status"],
            records_read=values["records_read"],
            records_written=values["records_written"],
            errors=values["errors"],
            created_ms=now,
            input_format={"format": "json"},
            tags={"source": [STREAM_CLIENT]},
            metrics=values["metrics"],
            created_client=STREAM_CLIENT,
            updated_ms=now,
            started_ms=now,
            completed_ms=now,
        )

    def _tenant(self, sandbox_id: str) -> Tenant | None:
        query = select(sandboxes).where(sandboxes.c.id == sandbox_id)
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Tenant(row.org_id, row.id, row.name, row.type, row.is_default)


def _delete_exactly(conn: Connection, seqs: Sequence[int]) -> None:
    """Delete the buffered records ``seqs``; _Raced if some were already gone."""
    deleted = 0
    for start in range(0, len(seqs), DELETE_CHUNK):
        chunk = list(seqs[start : start + DELETE_CHUNK])
        deleted += conn.execute(
            delete(stream_records).where(stream_records.c.seq.in_(chunk))
        ).rowcount
    if deleted != len(seqs):
        raise _Raced()


def flush_stream(store: Store, tenant: Tenant) -> list[Batch]:
    """Flush every record streamed into ``tenant``'s sandbox into batches, so that what was
    acknowledged is visible to the next evaluation."""
    return store.stream.flush(tenant)
