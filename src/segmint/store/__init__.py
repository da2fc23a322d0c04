"""Metadata persistence (SQLAlchemy 2 on SQLite or PostgreSQL, Alembic migrations), one
repository per resource, and the catalog of committed lake files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segmint.profiles.lake import Lake
from segmint.store.database import Database
from segmint.store.definitions import Definition, DefinitionRepository, DuplicateDefinitionName
from segmint.store.jobs import SqlJobRepository
from segmint.store.lake_catalog import BATCH_FAILED, BATCH_SUCCESS, Dataset, SqlLakeCatalog
from segmint.store.schemas import SchemaRepository
from segmint.store.tenancy import MergePolicyRef, TenantRepository


@dataclass
class Store:
    db: Database
    tenants: TenantRepository
    definitions: DefinitionRepository
    jobs: SqlJobRepository
    catalog: SqlLakeCatalog
    schemas: SchemaRepository

    @classmethod
    def open(cls, database_url: str, home: Path) -> Store:
        """Connect, migrate to the newest schema, and wire the repositories."""
        db = Database(database_url)
        db.migrate()
        schemas = SchemaRepository(db)
        return cls(
            db=db,
            tenants=TenantRepository(db),
            definitions=DefinitionRepository(db),
            jobs=SqlJobRepository(db),
            catalog=SqlLakeCatalog(db, Lake(home), schemas),
            schemas=schemas,
        )

    def close(self) -> None:
        self.db.dispose()


__all__ = [
    "BATCH_FAILED",
    "BATCH_SUCCESS",
    "Database",
    "Dataset",
    "Definition",
    "DefinitionRepository",
    "DuplicateDefinitionName",
    "MergePolicyRef",
    "SchemaRepository",
    "SqlJobRepository",
    "SqlLakeCatalog",
    "Store",
    "TenantRepository",
]
