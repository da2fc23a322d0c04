"""Datasets and batches: which Parquet files of the lake are committed and current.

A batch directory becomes visible only by an atomic rename and a ``success`` row here; the
lake is read only through this catalog, so a failed batch is never seen. A batch goes
``loading`` (files being uploaded) → ``staging`` (being completed by whoever holds its claim)
→ ``success`` | ``failed``, or ``loading`` → ``aborted``. The rename that publishes a batch's
files happens inside the transaction that records its status (``publishing``), so a crash
between the two leaves an unreferenced directory and never a visible half batch."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.engine import Row

from segmint.clock import now_ms
from segmint.jobs.model import Tenant
from segmint.pql.types import Schema
from segmint.profiles.ingest import IdentityDescriptor, StagedBatch
from segmint.profiles.lake import Lake, check_segment, discard
from segmint.store.database import Database
from segmint.store.schemas import SchemaRepository
from segmint.store.tables import batches, datasets, membership_snapshots
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

BATCH_LOADING = "loading"
BATCH_STAGING = "staging"
BATCH_SUCCESS = "success"
BATCH_FAILED = "failed"
BATCH_ABORTED = "aborted"
MAX_STORED_NAME = 255  # bytes of one file name on common file systems


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    schema_name: str
    created_ms: int
    description: str | None = None
    descriptors: tuple[IdentityDescriptor, ...] = ()
    tags: Mapping[str, Any] = field(default_factory=dict)
    updated_ms: int | None = None

    @property
    def kind(self) -> Literal["profile", "event"]:
        """``profile`` or ``event``: which records the dataset holds."""
        return "event" if self.schema_name == EXPERIENCE_EVENT_CLASS else "profile"


@dataclass(frozen=True)
class Batch:
    id: str
    dataset_id: str
    status: str
    records_read: int
    records_written: int
    errors: list[dict[str, Any]] | None
    created_ms: int
    input_format: Mapping[str, Any] | None = None
    tags: Mapping[str, Any] | None = None
    metrics: Mapping[str, Any] | None = None
    created_client: str | None = None
    updated_ms: int | None = None
    started_ms: int | None = None
    completed_ms: int | None = None


@dataclass(frozen=True)
class BatchFilter:
    """Which batches of a sandbox to list (every field optional)."""

    dataset_id: str | None = None
    statuses: tuple[str, ...] = ()
    created_after: int | None = None
    created_before: int | None = None


class SqlLakeCatalog:
    """``segmint.jobs.ports.LakeCatalog`` over the metadata database and a ``Lake``."""

    def __init__(self, db: Database, lake: Lake, schemas: SchemaRepository) -> None:
        self.db = db
        self.lake = lake
        self.schemas = schemas

    def schema(self, tenant: Tenant) -> Schema:
        return self.schemas.schema(tenant)

    # --- datasets --------------------------------------------------------------------------

    def create_dataset(
        self,
        tenant: Tenant,
        name: str,
        schema_name: str,
        *,
        description: str | None = None,
        descriptors: Sequence[IdentityDescriptor] = (),
        tags: Mapping[str, Any] | None = None,
    ) -> Dataset:
        if schema_name not in (PROFILE_CLASS, EXPERIENCE_EVENT_CLASS):
            raise ValueError(f"unknown dataset class {schema_name!r}")
        now = now_ms()
        dataset = Dataset(
            id=str(uuid.uuid4()),
            name=name,
            schema_name=schema_name,
            created_ms=now,
            description=description,
            descriptors=tuple(descriptors),
            tags=dict(tags or {}),
            updated_ms=now,
        )
        with self.db.transaction() as conn:
            conn.execute(datasets.insert().values(**_dataset_values(tenant, dataset)))
        return dataset

    def datasets(self, tenant: Tenant) -> list[Dataset]:
        query = (
            select(datasets)
            .where(datasets.c.sandbox_id == tenant.sandbox_id)
            .order_by(datasets.c.created_ms, datasets.c.id)
        )
        with self.db.engine.connect() as conn:
            return [_dataset(row) for row in conn.execute(query)]

    def dataset(self, tenant: Tenant, dataset_id: str) -> Dataset | None:
        query = select(datasets).where(
            datasets.c.sandbox_id == tenant.sandbox_id, datasets.c.id == dataset_id
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _dataset(row)

    def dataset_files(self, tenant: Tenant, dataset_id: str) -> tuple[frozenset[str], list[Path]]:
        """The ids and Parquet files of the dataset's committed (``success``) batches."""
        with self.db.engine.connect() as conn:
            return self._dataset_files(conn, tenant, dataset_id)

    def _dataset_files(
        self, conn: Connection, tenant: Tenant, dataset_id: str
    ) -> tuple[frozenset[str], list[Path]]:
        query = (
            select(batches.c.id)
            .where(batches.c.dataset_id == dataset_id, batches.c.status == BATCH_SUCCESS)
            .order_by(batches.c.created_ms, batches.c.id)
        )
        ids = [row.id for row in conn.execute(query)]
        files = [
            f for i in ids for f in sorted(self.batch_dir(tenant, dataset_id, i).glob("*.parquet"))
        ]
        return frozenset(ids), files

    # --- batches ---------------------------------------------------------------------------

    def batch_dir(self, tenant: Tenant, dataset_id: str, batch_id: str) -> Path:
        return self.lake.batch_dir(tenant.org_id, tenant.sandbox_name, dataset_id, batch_id)

    def upload_dir(self, tenant: Tenant, batch_id: str) -> Path:
        """Where the files uploaded into a batch wait for its completion (outside the
        datasets, so nothing reads them)."""
        sandbox = self.lake.sandbox_dir(tenant.org_id, tenant.sandbox_name)
        return sandbox / "uploads" / check_segment(batch_id, "batch id")

    def upload_path(self, tenant: Tenant, batch_id: str, file_name: str) -> Path:
        """Where the uploaded file ``file_name`` (a path, as in the upload URL) is kept: one
        flat file per name, so the same name uploaded again replaces the file."""
        stored = quote(file_name, safe="")
        if not stored or stored.startswith(".") or len(stored) > MAX_STORED_NAME:
            raise ValueError(f"unusable file name {file_name!r}")
        return self.upload_dir(tenant, batch_id) / stored

    def uploaded_files(self, tenant: Tenant, batch_id: str) -> list[tuple[str, Path]]:
        """``(file name, path)`` of every file uploaded into the batch, by name."""
        directory = self.upload_dir(tenant, batch_id)
        if not directory.is_dir():
            return []
        files = [p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")]
        return sorted((unquote(p.name), p) for p in files)

    def record_batch(
        self,
        dataset_id: str,
        batch_id: str,
        *,
        status: str,
        records_read: int,
        records_written: int,
        errors: list[dict[str, Any]] | None,
        ingested_ms: int | None = None,
    ) -> None:
        """Record a batch whose files are already in place (or that failed), ingested now or
        at ``ingested_ms``."""
        now = now_ms() if ingested_ms is None else ingested_ms
        with self.db.transaction() as conn:
            conn.execute(
                batches.insert().values(
                    id=batch_id,
                    dataset_id=dataset_id,
                    status=status,
                    records_read=records_read,
                    records_written=records_written,
                    errors=errors,
                    created_ms=now,
                    updated_ms=now,
                    completed_ms=now,
                )
            )

    def create_batch(
        self,
        tenant: Tenant,
        dataset: Dataset,
        *,
        input_format: Mapping[str, Any],
        tags: Mapping[str, Any] | None = None,
        client: str | None = None,
    ) -> Batch:
        """A new ``loading`` batch of ``dataset`` (which must belong to ``tenant``)."""
        now = now_ms()
        batch = Batch(
            id=str(uuid.uuid4()),
            dataset_id=dataset.id,
            status=BATCH_LOADING,
            records_read=0,
            records_written=0,
            errors=None,
            created_ms=now,
            input_format=dict(input_format),
            tags=dict(tags or {}),
            created_client=client,
            updated_ms=now,
        )
        with self.db.transaction() as conn:
            conn.execute(batches.insert().values(**_batch_values(batch)))
        return batch

    def batch(self, tenant: Tenant, batch_id: str) -> Batch | None:
        """The batch if one of the tenant's datasets holds it."""
        query = _sandbox_batches(tenant).where(batches.c.id == batch_id)
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _batch(row)

    def batches(self, tenant: Tenant, which: BatchFilter = BatchFilter()) -> list[Batch]:
        """The sandbox's batches matching ``which``, oldest first."""
        query = _sandbox_batches(tenant).where(*_batch_conditions(which))
        query = query.order_by(batches.c.created_ms, batches.c.id)
        with self.db.engine.connect() as conn:
            return [_batch(row) for row in conn.execute(query)]

    def accept_upload(self, batch_id: str, place: Callable[[], object]) -> bool:
        """Call ``place()`` (which moves an uploaded file into the batch's upload directory)
        only while the batch is ``loading``, holding its row so that a concurrent COMPLETE
        either sees the file or has already started (then False, and nothing is placed)."""
        with self.db.transaction() as conn:
            touched = conn.execute(
                update(batches)
                .where(batches.c.id == batch_id, batches.c.status == BATCH_LOADING)
                .values(updated_ms=now_ms())
            )
            if touched.rowcount != 1:
                return False
            place()
        return True

    def abort_batch(self, batch_id: str) -> bool:
        """``loading`` → ``aborted``; False when the batch was not loading."""
        now = now_ms()
        with self.db.transaction() as conn:
            changed = conn.execute(
                update(batches)
                .where(batches.c.id == batch_id, batches.c.status == BATCH_LOADING)
                .values(status=BATCH_ABORTED, updated_ms=now, completed_ms=now)
            )
        return changed.rowcount == 1

    def claim_batch(self, batch_id: str, stale_before_ms: int) -> str | None:
        """Move a ``loading`` batch (or a ``staging`` one whose completer went quiet before
        ``stale_before_ms``) to ``staging`` under a new claim; the claim, or None."""
        claim, now = str(uuid.uuid4()), now_ms()
        claimable = or_(
            batches.c.status == BATCH_LOADING,
            and_(batches.c.status == BATCH_STAGING, batches.c.updated_ms < stale_before_ms),
        )
        with self.db.transaction() as conn:
            changed = conn.execute(
                update(batches)
                .where(batches.c.id == batch_id, claimable)
                .values(
                    status=BATCH_STAGING,
                    claim=claim,
                    updated_ms=now,
                    started_ms=func.coalesce(batches.c.started_ms, now),
                )
            )
        return claim if changed.rowcount == 1 else None

    def release_claim(self, batch_id: str, claim: str) -> None:
        """``staging`` → ``loading`` again, when completing failed unexpectedly (the files are
        still there, so COMPLETE can simply be retried)."""
        with self.db.transaction() as conn:
            conn.execute(
                update(batches)
                .where(batches.c.id == batch_id, batches.c.claim == claim)
                .values(status=BATCH_LOADING, claim=None, updated_ms=now_ms())
            )

    def finish_claimed(
        self, conn: Connection, batch_id: str, claim: str, values: Mapping[str, Any]
    ) -> bool:
        """Within ``conn``: give a ``staging`` batch its final ``values`` if ``claim`` still
        holds it (a completer that lost its claim to a takeover must not write)."""
        now = now_ms()
        changed = conn.execute(
            update(batches)
            .where(
                batches.c.id == batch_id,
                batches.c.status == BATCH_STAGING,
                batches.c.claim == claim,
            )
            .values(**values, claim=None, updated_ms=now, completed_ms=now)
        )
        return changed.rowcount == 1

    def insert_finished(self, conn: Connection, batch: Batch) -> None:
        """Within ``conn``: record a batch created already finished (a stream flush)."""
        conn.execute(batches.insert().values(**_batch_values(batch)))

    @contextmanager
    def publishing(
        self,
        tenant: Tenant,
        dataset_id: str,
        batch_id: str,
        staged: StagedBatch | None,
        deduplicated_against: frozenset[str] = frozenset(),
    ) -> Iterator[Connection]:
        """A transaction in which the caller records a batch's outcome; ``staged`` files are
        renamed to the batch directory just before it commits. The dataset's row is held
        throughout, so batches of one dataset publish one at a time, and events committed
        by batches not in ``deduplicated_against`` are dropped from ``staged`` first."""
        target = self.batch_dir(tenant, dataset_id, batch_id)
        renaming = False
        try:
            with self.db.transaction() as conn:
                self._hold_dataset(conn, dataset_id)
                if staged is not None and staged.kind == "event":
                    ids, _ = self._dataset_files(conn, tenant, dataset_id)
                    newer = self._files_of(tenant, dataset_id, ids - deduplicated_against)
                    staged.drop_duplicates(newer, within_batch=False)
                yield conn
                if staged is not None:
                    _remove_orphan(target)
                    renaming = True
                    staged.commit()
        except BaseException:
            if renaming:  # the transaction did not commit: the files must not stay
                _remove_orphan(target)
            if staged is not None:
                staged.discard()
            raise

    def _hold_dataset(self, conn: Connection, dataset_id: str) -> None:
        conn.execute(
            update(datasets).where(datasets.c.id == dataset_id).values(updated_ms=now_ms())
        )

    def _files_of(self, tenant: Tenant, dataset_id: str, batch_ids: frozenset[str]) -> list[Path]:
        return [
            path
            for batch_id in sorted(batch_ids)
            for path in sorted(self.batch_dir(tenant, dataset_id, batch_id).glob("*.parquet"))
        ]

    # --- what segmentation reads -----------------------------------------------------------

    def profile_files(self, tenant: Tenant) -> list[Path]:
        return self._files(tenant, PROFILE_CLASS)

    def event_files(self, tenant: Tenant) -> list[Path]:
        return self._files(tenant, EXPERIENCE_EVENT_CLASS)

    def _files(self, tenant: Tenant, schema_name: str) -> list[Path]:
        query = (
            select(batches.c.id, batches.c.dataset_id)
            .join(datasets, datasets.c.id == batches.c.dataset_id)
            .where(
                datasets.c.sandbox_id == tenant.sandbox_id,
                datasets.c.schema_name == schema_name,
                batches.c.status == BATCH_SUCCESS,
            )
            .order_by(batches.c.created_ms, batches.c.id)
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(query).all()
        files: list[Path] = []
        for row in rows:
            files += sorted(self.batch_dir(tenant, row.dataset_id, row.id).glob("*.parquet"))
        return files

    def previous_memberships(
        self, tenant: Tenant, segment_ids: Sequence[str]
    ) -> list[tuple[list[Path], list[str]]]:
        latest = (
            select(
                membership_snapshots.c.segment_id,
                func.max(membership_snapshots.c.evaluated_ms).label("evaluated_ms"),
            )
            .where(
                membership_snapshots.c.sandbox_id == tenant.sandbox_id,
                membership_snapshots.c.segment_id.in_(list(segment_ids)),
            )
            .group_by(membership_snapshots.c.segment_id)
            .subquery()
        )
        query = (
            select(membership_snapshots.c.segment_id, membership_snapshots.c.batch_id)
            .join(
                latest,
                (latest.c.segment_id == membership_snapshots.c.segment_id)
                & (latest.c.evaluated_ms == membership_snapshots.c.evaluated_ms),
            )
            .where(membership_snapshots.c.sandbox_id == tenant.sandbox_id)
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(query).all()
        by_batch: dict[str, list[str]] = {}
        for row in rows:
            by_batch.setdefault(row.batch_id, []).append(row.segment_id)
        return [
            (sorted(self.membership_dir(tenant, batch_id).glob("*.parquet")), sorted(ids))
            for batch_id, ids in by_batch.items()
        ]

    def membership_dir(self, tenant: Tenant, batch_id: str) -> Path:
        return self.lake.segmentation_dir(tenant.org_id, tenant.sandbox_name) / batch_id


def _remove_orphan(directory: Path) -> None:
    """Remove a batch directory no committed row refers to (left by a crash between the
    rename and the commit): renamed aside first, so it disappears at once."""
    if not directory.exists():
        return
    aside = directory.with_name(f".orphan-{uuid.uuid4().hex}")
    directory.rename(aside)
    discard(aside)


def _sandbox_batches(tenant: Tenant) -> Any:
    return (
        select(batches)
        .join(datasets, datasets.c.id == batches.c.dataset_id)
        .where(datasets.c.sandbox_id == tenant.sandbox_id)
    )


def _batch_conditions(which: BatchFilter) -> list[Any]:
    conditions: list[Any] = []
    if which.dataset_id is not None:
        conditions.append(batches.c.dataset_id == which.dataset_id)
    if which.statuses:
        conditions.append(batches.c.status.in_(which.statuses))
    if which.created_after is not None:
        conditions.append(batches.c.created_ms > which.created_after)
    if which.created_before is not None:
        conditions.append(batches.c.created_ms < which.created_before)
    return conditions


def _dataset_values(tenant: Tenant, dataset: Dataset) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "sandbox_id": tenant.sandbox_id,
        "name": dataset.name,
        "schema_name": dataset.schema_name,
        "created_ms": dataset.created_ms,
        "description": dataset.description,
        "identity_descriptors": [
            {"path": d.path, "namespace": d.namespace, "primary": d.primary}
            for d in dataset.descriptors
        ]
        or None,
        "tags": dict(dataset.tags) or None,
        "updated_ms": dataset.updated_ms,
    }


def _dataset(row: Row[Any]) -> Dataset:
    return Dataset(
        id=row.id,
        name=row.name,
        schema_name=row.schema_name,
        created_ms=row.created_ms,
        description=row.description,
        descriptors=tuple(
            IdentityDescriptor(d["path"], d["namespace"], bool(d.get("primary")))
            for d in row.identity_descriptors or ()
        ),
        tags=row.tags or {},
        updated_ms=row.updated_ms,
    )


def _batch_values(batch: Batch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "dataset_id": batch.dataset_id,
        "status": batch.status,
        "records_read": batch.records_read,
        "records_written": batch.records_written,
        "errors": batch.errors,
        "created_ms": batch.created_ms,
        "input_format": batch.input_format,
        "tags": batch.tags,
        "metrics": batch.metrics,
        "created_client": batch.created_client,
        "updated_ms": batch.updated_ms,
        "started_ms": batch.started_ms,
        "completed_ms": batch.completed_ms,
    }


def _batch(row: Row[Any]) -> Batch:
    return Batch(
        id=row.id,
        dataset_id=row.dataset_id,
        status=row.status,
        records_read=row.records_read,
        records_written=row.records_written,
        errors=row.errors,
        created_ms=row.created_ms,
        input_format=row.input_format,
        tags=row.tags,
        metrics=row.metrics,
        created_client=row.created_client,
        updated_ms=row.updated_ms,
        started_ms=row.started_ms,
        completed_ms=row.completed_ms,
    )
