"""Recorded versions of the profile views, and the merged view a job reads for a merge policy.

Versions are rows of ``profile_views`` (sandbox, view name, version); a version is taken by the
first process to insert it, so two builders never both publish one."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from segmint.clock import now_ms
from segmint.engine.runners.session import SqlSession
from segmint.jobs.model import Tenant
from segmint.pql.types import Schema
from segmint.profiles.lake import Lake
from segmint.profiles.namespaces import IdentityType, Namespace, NamespaceCatalog
from segmint.profiles.policies import AttributeMergeType, IdentityGraphType, MergePolicy
from segmint.profiles.views import (
    CommittedBatch,
    MergedView,
    ProfileViews,
    Sandbox,
    ViewVersion,
)
from segmint.store.database import Database
from segmint.store.tables import (
    batches,
    datasets,
    identity_namespaces,
    merge_policies,
    profile_views,
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
    """The merged view of a merge policy, kept current from the committed batches."""

    def __init__(
        self,
        db: Database,
        lake: Lake,
        schema: Callable[[Tenant], Schema],
        session: Callable[[], AbstractContextManager[SqlSession]],
    ) -> None:
        self.db = db
        self.schema = schema
        self.views = ProfileViews(lake, SqlViewLog(db), session)

    def merged_view(self, tenant: Tenant, merge_policy_id: str) -> MergedView:
        policy = self.policy(tenant, merge_policy_id)
        return self.views.merged(
            tenant,
            policy,
            self.schema(tenant),
            self.committed_batches(tenant),
            self.namespaces(tenant),
        )

    def policy(self, tenant: Tenant, merge_policy_id: str) -> MergePolicy:
        query = select(merge_policies).where(
            merge_policies.c.sandbox_id == tenant.sandbox_id,
            merge_policies.c.id == merge_policy_id,
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise UnknownMergePolicy(f"merge policy {merge_policy_id!r} does not exist")
        return MergePolicy(
            id=row.id,
            name=row.name,
            schema_name=row.schema_name,
            identity_graph=IdentityGraphType(row.identity_graph),
            attribute_merge=AttributeMergeType(row.attribute_merge),
            order=tuple(row.attribute_merge_order or ()),
            version=row.version,
            is_default=row.is_default,
            is_active_on_edge=row.is_active_on_edge,
            created_ms=row.created_ms,
            updated_ms=row.updated_ms,
        )

    def committed_batches(self, tenant: Tenant) -> list[CommittedBatch]:
        query = (
            select(
                batches.c.id,
                batches.c.dataset_id,
                batches.c.created_ms,
                datasets.c.schema_name,
            )
            .join(datasets, datasets.c.id == batches.c.dataset_id)
            .where(datasets.c.sandbox_id == tenant.sandbox_id, batches.c.status == BATCH_SUCCESS)
            .order_by(batches.c.created_ms, batches.c.id)
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            CommittedBatch(
                dataset_id=row.dataset_id,
                schema_name=row.schema_name,
                batch_id=row.id,
                created_ms=row.created_ms,
                files=tuple(
                    sorted(self._batch_dir(tenant, row.dataset_id, row.id).glob("*.parquet"))
                ),
            )
            for row in rows
        ]

    def namespaces(self, tenant: Tenant) -> NamespaceCatalog:
        query = select(identity_namespaces).where(identity_namespaces.c.org_id == tenant.org_id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(query).all()
        return NamespaceCatalog(
            Namespace(r.id, r.code, r.name, IdentityType(r.id_type), True, r.description or "")
            for r in rows
        )

    def _batch_dir(self, tenant: Tenant, dataset_id: str, batch_id: str) -> Path:
        return self.views.lake.batch_dir(tenant.org_id, tenant.sandbox_name, dataset_id, batch_id)
