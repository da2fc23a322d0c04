"""Custom identity namespaces of an org, and the catalogue an org's records are checked against
(standard + built-in + its own, ``segmint.profiles.namespaces``)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from segmint.clock import now_ms
from segmint.profiles.namespaces import (
    BUILT_IN_CUSTOM_NAMESPACES,
    IdentityType,
    Namespace,
    NamespaceCatalog,
)
from segmint.store.database import Database
from segmint.store.tables import identity_namespaces

# Ids of an org's own namespaces start here, above every standard and built-in one.
FIRST_CUSTOM_ID = 10_000_000


class DuplicateNamespace(Exception):
    """A namespace with this code (compared case-insensitively) already exists."""


class NamespaceRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def catalog(self, org_id: str) -> NamespaceCatalog:
        return NamespaceCatalog(self.custom(org_id))

    def custom(self, org_id: str) -> list[Namespace]:
        """The org's own namespaces, oldest first."""
        query = (
            select(identity_namespaces)
            .where(identity_namespaces.c.org_id == org_id)
            .order_by(identity_namespaces.c.id)
        )
        with self.db.engine.connect() as conn:
            return [_namespace(row) for row in conn.execute(query)]

    def times(self, org_id: str) -> dict[str, tuple[int, int]]:
        """``code -> (created_ms, updated_ms)`` of the org's own namespaces."""
        query = select(
            identity_namespaces.c.code,
            identity_namespaces.c.created_ms,
            identity_namespaces.c.updated_ms,
        ).where(identity_namespaces.c.org_id == org_id)
        with self.db.engine.connect() as conn:
            return {row.code: (row.created_ms, row.updated_ms) for row in conn.execute(query)}

    def create(
        self, org_id: str, code: str, name: str, id_type: IdentityType, description: str | None
    ) -> Namespace:
        """Add a custom namespace; DuplicateNamespace if the code is taken."""
        if find(self.catalog(org_id), code) is not None:
            raise DuplicateNamespace(code)
        now = now_ms()
        try:
            with self.db.transaction() as conn:
                new_id = _next_id(conn, org_id)
                conn.execute(
                    identity_namespaces.insert().values(
                        org_id=org_id,
                        code=code,
                        id=new_id,
                        name=name,
                        description=description,
                        id_type=id_type.value,
                        created_ms=now,
                        updated_ms=now,
                    )
                )
        except IntegrityError as exc:  # the same code created concurrently
            raise DuplicateNamespace(code) from exc
        return Namespace(new_id, code, name, id_type, custom=True, description=description or "")


def find(catalog: NamespaceCatalog, code: str) -> Namespace | None:
    """The namespace whose code equals ``code`` ignoring case (codes are unique that way)."""
    exact = catalog.get(code)
    if exact is not None:
        return exact
    folded = code.casefold()
    return next((ns for ns in catalog if ns.code.casefold() == folded), None)


def _next_id(conn: Connection, org_id: str) -> int:
    query = select(func.max(identity_namespaces.c.id)).where(identity_namespaces.c.org_id == org_id)
    current = conn.execute(query).scalar()
    floor = max(FIRST_CUSTOM_ID - 1, *(ns.id for ns in BUILT_IN_CUSTOM_NAMESPACES))
    return max(int(current or 0), floor) + 1


def _namespace(row: Row[tuple[object, ...]]) -> Namespace:
    return Namespace(
        id=row.id,
        code=row.code,
        name=row.name,
        id_type=IdentityType(row.id_type),
        custom=True,
        description=row.description or "",
    )
