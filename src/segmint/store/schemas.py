"""Each sandbox's XDM schema: the standard field groups plus the tenant field groups
registered for it (``_<tenantId>`` fields, written as in ``segmint.xdm.tenant``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from segmint.clock import now_ms
from segmint.jobs.model import Tenant
from segmint.pql.types import PQLType, Schema
from segmint.store.database import Database
from segmint.store.tables import tenant_field_groups
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS, build_schema, parse_field_groups

CLASSES = (PROFILE_CLASS, EXPERIENCE_EVENT_CLASS)


class SchemaRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, tenant: Tenant, schema_name: str, document: Any) -> Schema:
        """Add or replace field groups of one class; validated first (TenantFieldError), and
        the whole resulting schema must build. Returns the sandbox's new schema."""
        if schema_name not in CLASSES:
            raise ValueError(f"schema class must be one of {', '.join(CLASSES)}")
        groups = parse_field_groups(document)
        current = self.documents(tenant)
        current[schema_name] = {**current.get(schema_name, {}), **document}
        schema = _build(current)
        with self.db.transaction() as conn:
            conn.execute(
                delete(tenant_field_groups).where(
                    tenant_field_groups.c.sandbox_id == tenant.sandbox_id,
                    tenant_field_groups.c.schema_name == schema_name,
                    tenant_field_groups.c.name.in_(list(groups)),
                )
            )
            conn.execute(
                tenant_field_groups.insert(),
                [
                    {
                        "sandbox_id": tenant.sandbox_id,
                        "schema_name": schema_name,
                        "name": name,
                        "definition": document[name],
                        "updated_ms": now_ms(),
                    }
                    for name in groups
                ],
            )
        return schema

    def documents(self, tenant: Tenant) -> dict[str, dict[str, Any]]:
        """Registered groups by class: ``{class: {"_tenant": description}}``."""
        query = (
            select(tenant_field_groups)
            .where(tenant_field_groups.c.sandbox_id == tenant.sandbox_id)
            .order_by(tenant_field_groups.c.name)
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(query).all()
        documents: dict[str, dict[str, Any]] = {}
        for row in rows:
            documents.setdefault(row.schema_name, {})[row.name] = row.definition
        return documents

    def schema(self, tenant: Tenant) -> Schema:
        return _build(self.documents(tenant))


def _build(documents: dict[str, dict[str, Any]]) -> Schema:
    groups: dict[str, dict[str, PQLType]] = {
        name: parse_field_groups(doc) if doc else {} for name, doc in documents.items()
    }
    return build_schema(groups.get(PROFILE_CLASS), groups.get(EXPERIENCE_EVENT_CLASS))
