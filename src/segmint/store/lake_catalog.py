"""Datasets and batches: which Parquet files of the lake are committed and current.

A batch directory becomes visible only by an atomic rename and a ``success`` row here; the
lake is read only through this catalog, so a failed batch is never seen."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from segmint.clock import now_ms
from segmint.jobs.model import Tenant
from segmint.pql.types import Schema
from segmint.profiles.lake import Lake
from segmint.store.database import Database
from segmint.store.schemas import SchemaRepository
from segmint.store.tables import batches, datasets, membership_snapshots
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

BATCH_SUCCESS = "success"
BATCH_FAILED = "failed"


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    schema_name: str
    created_ms: int


class SqlLakeCatalog:
    """``segmint.jobs.ports.LakeCatalog`` over the metadata database and a ``Lake``."""

    def __init__(self, db: Database, lake: Lake, schemas: SchemaRepository) -> None:
        self.db = db
        self.lake = lake
        self.schemas = schemas

    def schema(self, tenant: Tenant) -> Schema:
        return self.schemas.schema(tenant)

    def create_dataset(self, tenant: Tenant, name: str, schema_name: str) -> Dataset:
        if schema_name not in (PROFILE_CLASS, EXPERIENCE_EVENT_CLASS):
            raise ValueError(f"unknown dataset class {schema_name!r}")
        dataset = Dataset(str(uuid.uuid4()), name, schema_name, now_ms())
        with self.db.transaction() as conn:
            conn.execute(datasets.insert().values(sandbox_id=tenant.sandbox_id, **dataset.__dict__))
        return dataset

    def datasets(self, tenant: Tenant) -> list[Dataset]:
        query = (
            select(datasets)
            .where(datasets.c.sandbox_id == tenant.sandbox_id)
            .order_by(datasets.c.created_ms)
        )
        with self.db.engine.connect() as conn:
            return [Dataset(r.id, r.name, r.schema_name, r.created_ms) for r in conn.execute(query)]

    def dataset(self, tenant: Tenant, dataset_id: str) -> Dataset | None:
        return next((d for d in self.datasets(tenant) if d.id == dataset_id), None)

    def batch_dir(self, tenant: Tenant, dataset_id: str, batch_id: str) -> Path:
        return self.lake.batch_dir(tenant.org_id, tenant.sandbox_name, dataset_id, batch_id)

    def record_batch(
        self,
        dataset_id: str,
        batch_id: str,
        *,
        status: str,
        records_read: int,
        records_written: int,
        errors: list[dict[str, Any]] | None,
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                batches.insert().values(
                    id=batch_id,
                    dataset_id=dataset_id,
                    status=status,
                    records_read=records_read,
                    records_written=records_written,
                    errors=errors,
                    created_ms=now_ms(),
                )
            )

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
