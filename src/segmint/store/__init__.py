"""Metadata persistence (SQLAlchemy 2 on SQLite or PostgreSQL, Alembic migrations), one
repository per resource, and the catalog of committed lake files."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from segmint.engine.runners.session import DuckDBSession, SqlSession
from segmint.profiles.lake import Lake
from segmint.store.database import Database
from segmint.store.definitions import Definition, DefinitionRepository, DuplicateDefinitionName
from segmint.store.ingestion import BatchIngestion, IngestOptions
from segmint.store.jobs import SqlJobRepository
from segmint.store.lake_catalog import BATCH_FAILED, BATCH_SUCCESS, Dataset, SqlLakeCatalog
from segmint.store.merge_policies import MergePolicyRepository
from segmint.store.namespaces import NamespaceRepository
from segmint.store.profile_views import StoreProfileViews
from segmint.store.schemas import SchemaRepository
from segmint.store.stream_buffer import StreamBuffer
from segmint.store.tenancy import MergePolicyRef, TenantRepository


@dataclass
class Store:
    db: Database
    tenants: TenantRepository
    definitions: DefinitionRepository
    jobs: SqlJobRepository
    catalog: SqlLakeCatalog
    schemas: SchemaRepository
    merge_policies: MergePolicyRepository
    views_session: Callable[[], AbstractContextManager[SqlSession]]
    # Ingestion (datasets' batches, streamed records, identity namespaces) and the profile
    # views: wired from the fields above; options are set with ``configure_ingestion``.
    namespaces: NamespaceRepository = field(init=False)
    ingestion: BatchIngestion = field(init=False)
    stream: StreamBuffer = field(init=False)
    views: StoreProfileViews = field(init=False)

    def __post_init__(self) -> None:
        self.namespaces = NamespaceRepository(self.db)
        self.ingestion = BatchIngestion(self.catalog, self.namespaces)
        self.stream = StreamBuffer(self.db, self.catalog, self.ingestion)
        self.views = StoreProfileViews(
            self.db,
            self.catalog.lake,
            self.schemas.schema,
            self.views_session,
            self.merge_policies,
            self.namespaces,
            self.stream.flush,
        )

    def configure_ingestion(self, options: IngestOptions) -> None:
        self.ingestion.options = options

    @classmethod
    def open(
        cls,
        database_url: str,
        home: Path,
        views_session: Callable[[], AbstractContextManager[SqlSession]] | None = None,
    ) -> Store:
        """Connect, migrate to the newest schema, and wire the repositories. Profile views
        are built in ``views_session`` (an in-memory DuckDB by default)."""
        db = Database(database_url)
        db.migrate()
        schemas = SchemaRepository(db)
        session = views_session or partial(DuckDBSession, {"preserve_insertion_order": False})
        return cls(
            db=db,
            tenants=TenantRepository(db),
            definitions=DefinitionRepository(db),
            jobs=SqlJobRepository(db),
            catalog=SqlLakeCatalog(db, Lake(home), schemas),
            schemas=schemas,
            merge_policies=MergePolicyRepository(db),
            views_session=session,
        )

    def close(self) -> None:
        self.db.dispose()


__all__ = [
    "BATCH_FAILED",
    "BATCH_SUCCESS",
    "BatchIngestion",
    "Database",
    "Dataset",
    "Definition",
    "DefinitionRepository",
    "DuplicateDefinitionName",
    "IngestOptions",
    "MergePolicyRef",
    "MergePolicyRepository",
    "NamespaceRepository",
    "SchemaRepository",
    "SqlJobRepository",
    "SqlLakeCatalog",
    "Store",
    "StoreProfileViews",
    "StreamBuffer",
    "TenantRepository",
]
