"""Sandboxes of an org and their default merge policy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from segmint.clock import now_ms
from segmint.jobs.model import Tenant
from segmint.store.database import Database
from segmint.store.tables import merge_policies, sandboxes
from segmint.xdm import PROFILE_CLASS

DEFAULT_MERGE_POLICY_NAME = "Default Timebased"


@dataclass(frozen=True)
class MergePolicyRef:
    id: str
    version: int


class TenantRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_sandboxes(self, org_id: str, names: tuple[str, ...]) -> None:
        """Create missing sandboxes (``prod`` is the default, production one), each with a
        default timestamp-ordered merge policy."""
        for name in names:
            if self.resolve(org_id, name) is None:
                self._create_sandbox(org_id, name)

    def _create_sandbox(self, org_id: str, name: str) -> None:
        sandbox_id = str(uuid.uuid4())
        now = now_ms()
        with self.db.transaction() as conn:
            conn.execute(
                sandboxes.insert().values(
                    id=sandbox_id,
                    org_id=org_id,
                    name=name,
                    type="production" if name == "prod" else "development",
                    is_default=name == "prod",
                    created_ms=now,
                )
            )
            conn.execute(
                merge_policies.insert().values(
                    id=str(uuid.uuid4()),
                    sandbox_id=sandbox_id,
                    name=DEFAULT_MERGE_POLICY_NAME,
                    schema_name=PROFILE_CLASS,
                    version=1,
                    is_default=True,
                    identity_graph="none",
                    attribute_merge="timestampOrdered",
                    attribute_merge_order=[],
                    is_active_on_edge=False,
                    created_ms=now,
                    updated_ms=now,
                )
            )

    def resolve(self, org_id: str, sandbox_name: str) -> Tenant | None:
        query = select(sandboxes).where(
            sandboxes.c.org_id == org_id, sandboxes.c.name == sandbox_name
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Tenant(
            org_id=org_id,
            sandbox_id=row.id,
            sandbox_name=row.name,
            sandbox_type=row.type,
            sandbox_default=row.is_default,
        )

    def default_merge_policy(self, tenant: Tenant) -> MergePolicyRef:
        query = select(merge_policies.c.id, merge_policies.c.version).where(
            merge_policies.c.sandbox_id == tenant.sandbox_id, merge_policies.c.is_default.is_(True)
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).one()
        return MergePolicyRef(row.id, row.version)

    def merge_policy(self, tenant: Tenant, policy_id: str) -> MergePolicyRef | None:
        query = select(merge_policies.c.id, merge_policies.c.version).where(
            merge_policies.c.sandbox_id == tenant.sandbox_id, merge_policies.c.id == policy_id
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        return MergePolicyRef(row.id, row.version) if row is not None else None
