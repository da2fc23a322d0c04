"""The whole service on PostgreSQL metadata: definitions, a job run by a worker, lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from segmint.api.app import create_app, make_worker
from tests.api.helpers import JOBS, create_definition, create_job, get_job
from tests.support import aep_headers, make_settings, token_for


@pytest.fixture
def pg_client(tmp_path: Path, postgres_url: str) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "home", database_url=postgres_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_job_lifecycle_on_postgres(pg_client: TestClient) -> None:
    headers = aep_headers(token_for(pg_client))
    definition = create_definition(pg_client, headers, 'homeAddress.countryCode = "US"')
    first = create_job(pg_client, headers, [definition["id"]])
    second = create_job(pg_client, headers, [definition["id"]])
    state = pg_client.app.state.segmint  # type: ignore[attr-defined]
    assert state.store.db.engine.dialect.name == "postgresql"
    worker = make_worker(state.store, state.settings)
    assert worker.run_once() and worker.run_once() and not worker.run_once()
    done = [get_job(pg_client, headers, job["id"]) for job in (first, second)]
    assert [job["status"] for job in done] == ["SUCCEEDED", "SUCCEEDED"]
    qualified = done[0]["metrics"]["segmentedProfileCounter"][definition["id"]]
    assert done[1]["metrics"]["segmentedProfileByStatusCounter"][definition["id"]] == {
        "realized": 0,
        "existing": qualified,
        "exited": 0,
    }
    listed = pg_client.get(JOBS, headers=headers, params={"status": "SUCCEEDED"}).json()
    assert listed["_page"]["totalCount"] == 2
