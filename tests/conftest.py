"""Shared fixtures: an isolated service home, the app with its lifespan, AEP headers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.schema import CreateSchema, DropSchema

from segmint.api.app import create_app, make_worker
from segmint.settings import Settings
from segmint.store import Store
from segmint.store.database import with_driver
from tests.support import aep_headers, make_settings, token_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def store(client: TestClient) -> Store:
    state = client.app.state.segmint  # type: ignore[attr-defined]
    result: Store = state.store
    return result


@pytest.fixture
def headers(client: TestClient) -> dict[str, str]:
    return aep_headers(token_for(client))


@pytest.fixture
def run_jobs(client: TestClient, settings: Settings, store: Store) -> Any:
    """Run every waiting job to its end on an in-process worker."""

    def run() -> int:
        worker = make_worker(store, settings)
        count = 0
        while worker.run_once():
            count += 1
        return count

    return run


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the PostgreSQL named by SEGMINT_TEST_DATABASE_URL."""
    base = os.environ.get("SEGMINT_TEST_DATABASE_URL")
    if not base:
        pytest.skip("SEGMINT_TEST_DATABASE_URL is not set: PostgreSQL metadata tests skipped")
    schema = f"segmint_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(with_driver(base))
    with admin.begin() as conn:
        conn.execute(CreateSchema(schema))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{with_driver(base)}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(DropSchema(schema, cascade=True))
        admin.dispose()
