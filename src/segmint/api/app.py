"""The FastAPI application factory: routers, error handlers, and the lifespan that opens
the store, prepares sandboxes and sample data, and runs the in-process workers."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI

from segmint import __version__
from segmint.api import (
    ims,
    merge_policies,
    profile_access,
    segment_definitions,
    segment_jobs,
)
from segmint.api.batches import router as batches_router
from segmint.api.catalog import router as catalog_router
from segmint.api.deps import ServiceState
from segmint.api.errors import install_error_handlers
from segmint.api.identity_namespaces import router as identity_namespaces_router
from segmint.api.sample_data import load_sample_data, needs_sample_data
from segmint.api.streaming import StreamFlusher, ingest_options
from segmint.api.streaming import router as streaming_router
from segmint.api.tokens import load_signing_key
from segmint.engine.runners.session import DuckDBSession, SqlSession
from segmint.jobs.executor import EngineSettings
from segmint.jobs.worker import Worker
from segmint.settings import Settings
from segmint.store import Store

log = logging.getLogger(__name__)

API_PREFIX = "/data/core/ups"


def open_store(settings: Settings) -> Store:
    """Open (and migrate) the metadata store and make sure every sandbox exists."""
    settings.home.mkdir(parents=True, exist_ok=True)
    store = Store.open(settings.resolved_database_url, settings.home, views_session(settings))
    store.tenants.ensure_sandboxes(settings.org_id, settings.sandboxes)
    store.configure_ingestion(ingest_options(settings))
    return store


def views_session(settings: Settings) -> Callable[[], AbstractContextManager[SqlSession]]:
    """Where identity graphs and merged profiles are built: the service's engine."""
    if settings.engine == "spark":
        from segmint.engine.runners.spark import session_conf, spark_session
        from segmint.engine.runners.spark_session import SparkSqlSession

        conf = session_conf(
            settings.spark_master,
            settings.spark_shuffle_partitions,
            settings.spark_driver_memory,
        )
        return lambda: SparkSqlSession(spark_session(conf))
    config: dict[str, Any] = {
        "preserve_insertion_order": False,
        "temp_directory": str(settings.home / "tmp"),
    }
    if settings.duckdb_threads is not None:
        config["threads"] = settings.duckdb_threads
    if settings.duckdb_memory_limit is not None:
        config["memory_limit"] = settings.duckdb_memory_limit
    return partial(DuckDBSession, config)


def prepare_sample_data(store: Store, settings: Settings) -> None:
    tenant = store.tenants.resolve(settings.org_id, "prod")
    if tenant is not None and needs_sample_data(store, tenant):
        load_sample_data(store, tenant, settings.home, settings.sample_profiles)


def make_worker(store: Store, settings: Settings) -> Worker:
    engine = EngineSettings(
        threads=settings.duckdb_threads,
        memory_limit=settings.duckdb_memory_limit,
        temp_directory=settings.home / "tmp",
        engine=settings.engine,
        spark_master=settings.spark_master,
        spark_shuffle_partitions=settings.spark_shuffle_partitions,
        spark_driver_memory=settings.spark_driver_memory,
    )
    return Worker(
        store.jobs,
        store.catalog,
        store.views,
        engine=engine,
        lease_seconds=settings.lease_seconds,
        max_attempts=settings.max_attempts,
    )


def create_app(settings: Settings | None = None, *, load_samples: bool = True) -> FastAPI:
    settings = settings or Settings.from_env()
    ready = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings)
        if load_samples:
            prepare_sample_data(store, settings)
        app.state.segmint = ServiceState(settings, store, load_signing_key(settings.home))
        workers = [make_worker(store, settings) for _ in range(settings.workers)]
        threads = [
            threading.Thread(target=w.run_forever, name=f"worker-{i}", daemon=True)
            for i, w in enumerate(workers)
        ]
        for thread in threads:
            thread.start()
        flusher = StreamFlusher(store, min(1.0, settings.stream_flush_seconds / 2))
        flusher.start()
        ready.set()
        try:
            yield
        finally:
            flusher.stop()
            for worker in workers:
                worker.stop()
            for thread in threads:
                thread.join(timeout=30)
            store.close()

    app = FastAPI(title="Segmint", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(ims.router)
    aep = APIRouter(prefix=API_PREFIX)
    aep.include_router(segment_jobs.router)
    aep.include_router(segment_definitions.router)
    aep.include_router(merge_policies.router)
    aep.include_router(profile_access.router)
    app.include_router(aep)
    for ingestion in (catalog_router, batches_router, streaming_router, identity_namespaces_router):
        app.include_router(ingestion)

    @app.get("/health", operation_id="health")
    def health() -> dict[str, Any]:
        return {"status": "ok" if ready.is_set() else "starting", "version": __version__}

    return app
