"""The unmodified ``aepp`` client (PyPI) against a real server, configured as aepp.md §4."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.live_server import configure_aepp, live_server

aepp = pytest.importorskip("aepp")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(tmp_path_factory.mktemp("aepp") / "home", workers=1) as (base, _):
        yield base


@pytest.fixture
def segmentation(server: str) -> Any:
    configure_aepp(aepp, server)
    from aepp import segmentation as module

    return module.Segmentation()


def wait_until_final(segmentation: Any, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = segmentation.getJob(job_id)
        if job["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_aepp_lists_definitions_and_runs_a_job(segmentation: Any) -> None:
    definitions = segmentation.getSegments()
    assert len(definitions) == 5
    created = segmentation.createSegment(
        {
            "name": "aepp segment",
            "description": "made by aepp",
            "ttlInDays": 30,
            "expression": {"type": "PQL", "format": "pql/text", "value": 'loyalty.tier = "gold"'},
            "schema": {"name": "_xdm.context.profile"},
        }
    )
    assert created["name"] == "aepp segment"
    assert segmentation.getSegment(created["id"])["id"] == created["id"]
    job = segmentation.createJob([created["id"], definitions[0]["id"]])
    assert job["status"] == "NEW"
    done = wait_until_final(segmentation, job["id"])
    assert done["status"] == "SUCCEEDED", done.get("errors")
    assert set(done["metrics"]["segmentedProfileCounter"]) == {created["id"], definitions[0]["id"]}
    listed = segmentation.getJobs()
    assert job["id"] in [j["id"] for j in listed]
    assert segmentation.deleteJob(job["id"])["status"] == 409  # already finished


def test_aepp_pages_through_jobs_and_cancels(segmentation: Any) -> None:
    ids = [d["id"] for d in segmentation.getSegments()]
    created = [segmentation.createJob([ids[0]])["id"] for _ in range(3)]
    listed = segmentation.getJobs(limit=1)
    assert set(created) <= {j["id"] for j in listed}
    last = segmentation.createJob([ids[1]])
    assert segmentation.deleteJob(last["id"]) == 204
    final = wait_until_final(segmentation, last["id"])
    assert final["status"] in ("CANCELLED", "SUCCEEDED")
