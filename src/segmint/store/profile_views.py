"""Recorded versions of the profile views, and the merged view a job reads for a merge policy.

Versions are rows of ``profile_views`` (sandbox, view name, version); a version is taken by the
first process to insert it, so two builders never both publish one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from segmint.clock import now_ms
from segmint.engine.runners.session import SqlSession
from segmint.jobs.model import Tenant
from segmint.pql.types import Schema
from segmint.profiles.lake import Lake
from segmint.profiles.policies import MergePolicy
from segmint.profiles.views import (
    CommittedBatch,
    MergedView,
    ProfileViews,
    Sandbox,
    ViewVersion,
)
from segmint.store.database import Database
from segmint.store.merge_policies import MergePolicyRepository
from segmint.store.namespaces import NamespaceRepository
from segmint.store.tables import (
    batches,
    datasets,
    profile_views,
    segment_definitions,
)

BATCH_SUCCESS = "success"


class UnknownMergePolicy(LookupError):
    """A job names a merge policy its sandbox does not have (any more)."""


class SqlViewLog:
    """``segmint.profiles.views.ViewLog`` on the metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def current(self, tenant: Sandbox, name: str) -> ViewVersion | None:
        newest = (
            select(func.max(profile_views.c.version))
            .where(profile_views.c.sandbox_id == tenant.sandbox_id, profile_views.c.name == name)
            .scalar_subquery()
        )
        query = select(profile_views).where(
            profile_views.c.sandbox_id == tenant.sandbox_id,
            profile_views.c.name == name,
            profile_views.c.version == newest,
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return ViewVersion(
            name=row.name,
            version=row.version,
            batch_ids=frozenset(row.batch_ids),
            source_version=row.source_version,
            policy_version=row.policy_version,
            stats=dict(row.stats or {}),
        )

    def record(self, tenant: Sandbox, version: ViewVersion) -> bool:
        row = {
            "sandbox_id": tenant.sandbox_id,
            "name": version.name,
            "version": version.version,
            "batch_ids": sorted(version.batch_ids),
            "source_version": version.source_version,
            "policy_version": version.policy_version,
            "stats": version.stats,
            "created_ms": now_ms(),
        }
        try:
            with self.db.transaction() as conn:
                conn.execute(profile_views.insert().values(**row))
        except IntegrityError:
            return False
        return True


class StoreProfileViews:
    """The merged view of a merge policy, kept current from the committed batches (records
    streamed but not yet flushed into a batch are flushed first)."""

    def __init__(
        self,
        db: Database,
        lake: Lake,
        schema: Callable[[Tenant], Schema],
        session: Callable[[], AbstractContextManager[SqlSession]],
        policies: MergePolicyRepository,
        namespaces: NamespaceRepository,
        flush: Callable[[Tenant], object],
    ) -> None:
        self.db = db
        self.schema = schema
        self.policies = policies
        self.namespaces = namespaces
        self.flush = flush
        self.views = ProfileViews(lake, SqlViewLog(db), session)

    def merged_view(self, tenant: Tenant, merge_policy_id: str) -> MergedView:
        policy = self.policies.get(tenant, merge_policy_id)
        if policy is None:
            raise UnknownMergePolicy(f"merge policy {merge_policy_id!r} does not exist")
        self.flush(tenant)
        return self.views.merged(
            tenant,
            policy,
            self.schema(tenant),
            self.committed_batches(tenant),
            self.namespaces.catalog(tenant.org_id),
        )

    def merge_policies_of(
        self, tenant: Tenant, segment_ids: Sequence[str]
    ) -> dict[str, MergePolicy]:
        query = select(segment_definitions.c.id, segment_definitions.c.merge_policy_id).where(
            segment_definitions.c.sandbox_id == tenant.sandbox_id,
            segment_definitions.c.id.in_(list(segment_ids)),
        )
        with self.db.engine.connect() as conn:
            owners = dict(conn.execute(query).tuples().all())
        policies = self.policies.many(tenant, sorted(set(owners.values())))
        return {sid: policies[pid] for sid, pid in owners.items() if pid in policies}

    def committed_batches(self, tenant: Tenant) -> list[CommittedBatch]:
        """The successful batches in ingestion order: a batch is ingested when it completes
        (an uploaded batch may be created long before)."""
        ingested = func.coalesce(batches.c.completed_ms, batches.c.created_ms)
        query = (
            select(
                batches.c.id,
                batches.c.dataset_id,
                ingested.label("ingested_ms"),
                datasets.c.schema_name,
            )
            .join(datasets, datasets.c.id == batches.c.dataset_id)
            .where(datasets.c.sandbox_id == tenant.sandbox_id, batches.c.status == BATCH_SUCCESS)
            .order_by(ingested, batches.c.id)
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            CommittedBatch(
                dataset_id=row.dataset_id,
                schema_name=row.schema_name,
                batch_id=row.id,
                created_ms=row.ingested_ms,
                files=tuple(
                    sorted(self._batch_dir(tenant, row.dataset_id, row.id).glob("*.parquet"))
                ),
            )
            for row in rows
        ]

    def _batch_dir(self, tenant: Tenant, dataset_id: str, batch_id: str) -> Path:
        return self.views.lake.batch_dir(tenant.org_id, tenant.sandbox_name, dataset_id, batch_id)
