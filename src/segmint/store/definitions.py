"""Segment definitions in the metadata database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.exc import IntegrityError

from segmint.clock import now_ms
from segmint.jobs.model import SegmentSnapshot, Tenant
from segmint.store.database import Database
from segmint.store.tables import merge_policies, segment_definitions

SORTABLE_FIELDS = {
    "creationTime": segment_definitions.c.created_ms,
    "updateTime": segment_definitions.c.updated_ms,
    "name": segment_definitions.c.name,
    "id": segment_definitions.c.id,
}


class DuplicateDefinitionName(ValueError):
    """A definition with this name already exists in the sandbox."""


@dataclass(frozen=True)
class Definition:
    id: str
    name: str
    description: str | None
    expression_type: str
    expression_format: str
    expression_value: str
    merge_policy_id: str
    schema_name: str
    ttl_in_days: int | None
    evaluation_info: dict[str, Any]
    profile_instance_id: str
    payload_schema: str | None
    created_ms: int
    updated_ms: int


def _definition(row: Row[Any]) -> Definition:
    m = row._mapping
    return Definition(**{k: m[k] for k in Definition.__dataclass_fields__})


class DefinitionRepository:
    """Definitions plus ``segmint.jobs.ports.DefinitionLookup`` for job creation."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, tenant: Tenant, definition: Definition) -> Definition:
        now = now_ms()
        stored = replace(definition, id=str(uuid.uuid4()), created_ms=now, updated_ms=now)
        values = {**stored.__dict__, "sandbox_id": tenant.sandbox_id}
        try:
            with self.db.transaction() as conn:
                conn.execute(segment_definitions.insert().values(**values))
        except IntegrityError as exc:
            raise DuplicateDefinitionName(definition.name) from exc
        return stored

    def update(self, tenant: Tenant, definition: Definition) -> Definition:
        stored = replace(definition, updated_ms=now_ms())
        values = {k: v for k, v in stored.__dict__.items() if k not in ("id", "created_ms")}
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    update(segment_definitions)
                    .where(
                        segment_definitions.c.id == definition.id,
                        segment_definitions.c.sandbox_id == tenant.sandbox_id,
                    )
                    .values(**values)
                )
        except IntegrityError as exc:
            raise DuplicateDefinitionName(definition.name) from exc
        return stored

    def get(self, tenant: Tenant, definition_id: str) -> Definition | None:
        query = select(segment_definitions).where(
            segment_definitions.c.id == definition_id,
            segment_definitions.c.sandbox_id == tenant.sandbox_id,
        )
        with self.db.engine.connect() as conn:
            row = conn.execute(query).first()
        return _definition(row) if row is not None else None

    def delete(self, tenant: Tenant, definition_id: str) -> bool:
        with self.db.transaction() as conn:
            result = conn.execute(
                delete(segment_definitions).where(
                    segment_definitions.c.id == definition_id,
                    segment_definitions.c.sandbox_id == tenant.sandbox_id,
                )
            )
        return result.rowcount == 1

    def ordered(
        self,
        tenant: Tenant,
        order: Sequence[tuple[str, bool]],
        filters: dict[str, bool] | None = None,
    ) -> list[Definition]:
        """All definitions of the sandbox, ``order`` being (field, descending) pairs among
        SORTABLE_FIELDS, kept when every ``filters`` path has the wanted value."""
        query = select(segment_definitions).where(
            segment_definitions.c.sandbox_id == tenant.sandbox_id
        )
        for field, descending in order:
            column = SORTABLE_FIELDS[field]
            query = query.order_by(column.desc() if descending else column.asc())
        query = query.order_by(segment_definitions.c.id)
        with self.db.engine.connect() as conn:
            rows = [_definition(row) for row in conn.execute(query)]
        return [d for d in rows if _matches(d, filters or {})]

    def many(self, tenant: Tenant, ids: Sequence[str]) -> dict[str, Definition]:
        query = select(segment_definitions).where(
            segment_definitions.c.sandbox_id == tenant.sandbox_id,
            segment_definitions.c.id.in_(list(ids)),
        )
        with self.db.engine.connect() as conn:
            return {d.id: d for d in map(_definition, conn.execute(query))}

    # --- DefinitionLookup ------------------------------------------------------------------

    def snapshots(self, tenant: Tenant, segment_ids: Sequence[str]) -> dict[str, SegmentSnapshot]:
        return self._snapshots(tenant, segment_ids)

    def all_snapshots(self, tenant: Tenant) -> list[SegmentSnapshot]:
        return list(self._snapshots(tenant, None).values())

    def _snapshots(self, tenant: Tenant, ids: Sequence[str] | None) -> dict[str, SegmentSnapshot]:
        d, mp = segment_definitions, merge_policies
        query = (
            select(d, mp.c.version.label("merge_policy_version"))
            .join(mp, mp.c.id == d.c.merge_policy_id)
            .where(d.c.sandbox_id == tenant.sandbox_id)
        )
        if ids is not None:
            query = query.where(d.c.id.in_(list(ids)))
        query = query.order_by(d.c.created_ms, d.c.id)
        with self.db.engine.connect() as conn:
            rows = conn.execute(query).all()
        return {
            row.id: SegmentSnapshot(
                segment_id=row.id,
                expression_type=row.expression_type,
                expression_format=row.expression_format,
                expression_value=row.expression_value,
                merge_policy_id=row.merge_policy_id,
                merge_policy_version=row.merge_policy_version,
            )
            for row in rows
        }


def _matches(definition: Definition, filters: dict[str, bool]) -> bool:
    """Filters such as ``evaluationInfo.continuous.enabled=true``."""
    for path, wanted in filters.items():
        value: Any = {"evaluationInfo": definition.evaluation_info}
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value != wanted:
            return False
    return True
