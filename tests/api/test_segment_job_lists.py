"""``GET /segment/jobs``: filters, sorting and paging (seed query parameters)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import JOBS, create_definition, create_job


@pytest.fixture
def jobs(client: TestClient, headers: dict[str, str], run_jobs: Any) -> dict[str, Any]:
    """Five jobs: two SUCCEEDED (on segment a), one CANCELLED, two NEW (on segment b)."""
    a = create_definition(client, headers, 'person.gender = "female"', name="work in US")
    b = create_definition(client, headers, 'person.gender = "male"', name="others")
    done = [create_job(client, headers, [a["id"]]) for _ in range(2)]
    run_jobs()
    cancelled = create_job(client, headers, [b["id"]])
    client.delete(f"{JOBS}/{cancelled['id']}", headers=headers)
    waiting = [create_job(client, headers, [b["id"]]) for _ in range(2)]
    return {"a": a, "b": b, "done": done, "cancelled": cancelled, "waiting": waiting}


def ids(body: dict[str, Any]) -> list[str]:
    return [job["id"] for job in body["children"]]


def test_list_shape(client: TestClient, headers: dict[str, str], jobs: dict[str, Any]) -> None:
    body = client.get(JOBS, headers=headers).json()
    assert set(body) == {"_page", "children", "_links"}
    assert body["_page"] == {"totalCount": 5, "pageSize": 5}
    assert body["_links"] == {"next": {}}


def test_status_filter(client: TestClient, headers: dict[str, str], jobs: dict[str, Any]) -> None:
    body = client.get(JOBS, headers=headers, params={"status": "SUCCEEDED"}).json()
    assert sorted(ids(body)) == sorted(j["id"] for j in jobs["done"])
    assert all(job["status"] == "SUCCEEDED" for job in body["children"])
    new = client.get(JOBS, headers=headers, params={"status": "NEW"}).json()
    assert sorted(ids(new)) == sorted(j["id"] for j in jobs["waiting"])
    cancelled = client.get(JOBS, headers=headers, params={"status": "CANCELLED"}).json()
    assert ids(cancelled) == [jobs["cancelled"]["id"]]


def test_sort_by_creation_time(
    client: TestClient, headers: dict[str, str], jobs: dict[str, Any]
) -> None:
    ascending = client.get(JOBS, headers=headers, params={"sort": "creationTime:asc"}).json()
    descending = client.get(JOBS, headers=headers, params={"sort": "creationTime:desc"}).json()
    times = [job["creationTime"] for job in ascending["children"]]
    assert times == sorted(times)
    assert ids(descending) == list(reversed(ids(ascending)))


def test_sort_by_compute_job_id(
    client: TestClient, headers: dict[str, str], jobs: dict[str, Any]
) -> None:
    body = client.get(JOBS, headers=headers, params={"sort": "computeJobId:desc"}).json()
    values = [job["computeJobId"] for job in body["children"]]
    assert values == sorted(values, reverse=True) and len(set(values)) == 5


def test_property_filter_on_array_key(
    client: TestClient, headers: dict[str, str], jobs: dict[str, Any]
) -> None:
    params = {"property": f"segments~segmentId=={jobs['a']['id']}"}
    body = client.get(JOBS, headers=headers, params=params).json()
    assert sorted(ids(body)) == sorted(j["id"] for j in jobs["done"])


def test_property_filter_on_object_path(
    client: TestClient, headers: dict[str, str], jobs: dict[str, Any]
) -> None:
    body = client.get(JOBS, headers=headers, params={"property": "source==api"}).json()
    assert body["_page"]["totalCount"] == 5
    none = client.get(JOBS, headers=headers, params={"property": "source==scheduler"}).json()
    assert none["children"] == []
    nested = client.get(
        JOBS, headers=headers, params={"property": "sandbox.sandboxName==prod"}
    ).json()
    assert nested["_page"]["totalCount"] == 5


def test_several_filters_combine(
    client: TestClient, headers: dict[str, str], jobs: dict[str, Any]
) -> None:
    params = [("status", "NEW"), ("property", f"segments~segmentId=={jobs['a']['id']}")]
    assert client.get(JOBS, headers=headers, params=params).json()["children"] == []


def test_paging_with_start_and_limit(
    client: TestClient, headers: dict[str, str], jobs: dict[str, Any]
) -> None:
    everything = ids(client.get(JOBS, headers=headers, params={"sort": "creationTime:asc"}).json())
    seen: list[str] = []
    start = 0
    while True:
        params = {"start": start, "limit": 2, "sort": "creationTime:asc"}
        page = client.get(JOBS, headers=headers, params=params).json()
        assert page["_page"]["totalCount"] == 5
        assert page["_page"]["pageSize"] == len(page["children"]) <= 2
        seen += ids(page)
        if not page["_links"].get("href"):
            assert page["_links"]["next"] == {}
            break
        assert page["_links"]["next"]["href"] == page["_links"]["href"]
        assert f"start={start + 1}" in page["_links"]["href"]
        start += 1
    assert seen == everything


def test_page_past_the_end_is_empty(
    client: TestClient, headers: dict[str, str], jobs: dict[str, Any]
) -> None:
    body = client.get(JOBS, headers=headers, params={"start": 9, "limit": 2}).json()
    assert body["children"] == [] and body["_page"]["totalCount"] == 5


def test_repeated_and_unknown_parameters_are_tolerated(
    client: TestClient, headers: dict[str, str], jobs: dict[str, Any]
) -> None:
    params = [("limit", "1"), ("limit", "1"), ("entityType", "_xdm.context.profile")]
    body = client.get(JOBS, headers=headers, params=params).json()
    assert body["_page"]["pageSize"] == 1
