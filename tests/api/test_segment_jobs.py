"""Segment jobs as the seed document describes them: every request and response."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmint.clock import ms_to_datetime
from segmint.store import Store
from tests.api.helpers import (
    DEFINITIONS,
    JOBS,
    count_country,
    create_definition,
    create_job,
    events_table,
    get_job,
    profiles_table,
    profiles_with_events,
    tenant,
)
from tests.support import ORG, aep_headers, token_for

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def assert_job_envelope(job: dict[str, Any]) -> None:
    """Every field of the seed's job object, with its type."""
    assert UUID.match(job["id"])
    assert job["imsOrgId"] == ORG
    sandbox = job["sandbox"]
    assert set(sandbox) == {"sandboxId", "sandboxName", "type", "default"}
    assert UUID.match(sandbox["sandboxId"])
    assert (sandbox["sandboxName"], sandbox["type"], sandbox["default"]) == (
        "prod",
        "production",
        True,
    )
    assert job["profileInstanceId"] == "ups"
    assert job["source"] in ("api", "scheduler")
    assert job["status"] in (
        "NEW",
        "QUEUED",
        "PROCESSING",
        "SUCCEEDED",
        "FAILED",
        "CANCELLING",
        "CANCELLED",
    )
    assert UUID.match(job["batchId"])
    assert isinstance(job["computeJobId"], int)
    assert UUID.match(job["computeGatewayJobId"])
    assert isinstance(job["segments"], list) and job["segments"]
    assert isinstance(job["metrics"], dict)
    assert {"totalTime", "profileSegmentationTime"} <= set(job["metrics"])
    assert isinstance(job["requestId"], str) and job["requestId"]
    assert job["schema"] == {"name": "_xdm.context.profile"}
    href = f"/segment/jobs/{job['id']}"
    assert job["_links"] == {
        "cancel": {"href": href, "method": "DELETE"},
        "checkStatus": {"href": href, "method": "GET"},
    }
    assert isinstance(job["updateTime"], int) and job["updateTime"] > 1_500_000_000_000
    assert isinstance(job["creationTime"], int) and job["creationTime"] > 1_500_000_000_000
    assert job["updateEpoch"] == job["updateTime"] // 1000


def assert_segment_entry(entry: dict[str, Any], definition: dict[str, Any]) -> None:
    assert entry["segmentId"] == definition["id"]
    segment = entry["segment"]
    assert segment["id"] == definition["id"]
    assert segment["expression"] == definition["expression"]
    assert segment["mergePolicyId"] == definition["mergePolicyId"]
    assert segment["mergePolicy"]["id"] == definition["mergePolicyId"]
    assert isinstance(segment["mergePolicy"]["version"], int)


def assert_finished_metrics(job: dict[str, Any], segment_ids: list[str], profiles: int) -> None:
    """``profiles``: the rows of the default policy's merged view."""
    metrics = job["metrics"]
    for span in ("totalTime", "profileSegmentationTime"):
        times = metrics[span]
        assert set(times) == {"startTimeInMs", "endTimeInMs", "totalTimeInMs"}
        assert times["totalTimeInMs"] == times["endTimeInMs"] - times["startTimeInMs"] >= 0
    assert (
        metrics["totalTime"]["startTimeInMs"] <= metrics["profileSegmentationTime"]["startTimeInMs"]
    )
    assert metrics["totalProfiles"] == profiles
    assert set(metrics["segmentedProfileCounter"]) == set(segment_ids)
    assert set(metrics["segmentedProfileByNamespaceCounter"]) == set(segment_ids)
    assert set(metrics["segmentedProfileByStatusCounter"]) == set(segment_ids)
    for sid in segment_ids:
        by_status = metrics["segmentedProfileByStatusCounter"][sid]
        assert set(by_status) == {"realized", "existing", "exited"}
        qualified = metrics["segmentedProfileCounter"][sid]
        assert by_status["realized"] + by_status["existing"] == qualified
        namespaces = metrics["segmentedProfileByNamespaceCounter"][sid]
        # A profile counts once in each namespace of its identities.
        assert all(0 < count <= qualified for count in namespaces.values())
        assert bool(namespaces) == bool(qualified)
    assert set(metrics["totalProfilesByMergePolicy"].values()) == {profiles}


def test_create_job_returns_the_seed_shape(client: TestClient, headers: dict[str, str]) -> None:
    first = create_definition(client, headers, 'workAddress.country = "United States"')
    second = create_definition(client, headers, 'homeAddress.countryCode = "US"')
    job = create_job(client, headers, [first["id"], second["id"]])
    assert_job_envelope(job)
    assert job["status"] == "NEW"
    assert job["source"] == "api"
    assert [s["segmentId"] for s in job["segments"]] == [first["id"], second["id"]]
    assert_segment_entry(job["segments"][0], first)
    assert_segment_entry(job["segments"][1], second)
    assert job["metrics"] == {"totalTime": {}, "profileSegmentationTime": {}}
    assert "errors" not in job


def test_job_runs_to_success_with_true_metrics(
    client: TestClient, headers: dict[str, str], store: Store, run_jobs: Any
) -> None:
    us = create_definition(client, headers, 'homeAddress.countryCode = "US"')
    buyers = create_definition(
        client,
        headers,
        'select X from xEvent where X.eventType = "commerce.purchases" '
        "and X.timestamp occurs <= 30 days before now",
    )
    created = create_job(client, headers, [us["id"], buyers["id"]])
    assert run_jobs() == 1
    job = get_job(client, headers, created["id"])
    assert_job_envelope(job)
    assert job["status"] == "SUCCEEDED", job.get("errors")
    assert job["batchId"] == created["batchId"]
    prod = tenant(store, ORG)
    profiles = profiles_table(store, prod)
    assert_finished_metrics(job, [us["id"], buyers["id"]], profiles.num_rows)
    expected_us = count_country(profiles, "US")
    now = ms_to_datetime(store.jobs.get_any(job["id"]).evaluation_time_ms)  # type: ignore[arg-type, union-attr]
    expected_buyers = len(
        profiles_with_events(events_table(store, prod), "commerce.purchases", now, 30)
    )
    counters = job["metrics"]["segmentedProfileCounter"]
    assert counters == {us["id"]: expected_us, buyers["id"]: expected_buyers}
    assert 0 < expected_us < profiles.num_rows and 0 < expected_buyers < profiles.num_rows
    first_run = job["metrics"]["segmentedProfileByStatusCounter"][us["id"]]
    assert first_run == {"realized": expected_us, "existing": 0, "exited": 0}


def test_second_run_reports_existing_and_exited(
    client: TestClient, headers: dict[str, str], run_jobs: Any
) -> None:
    definition = create_definition(client, headers, 'homeAddress.countryCode = "US"')
    create_job(client, headers, [definition["id"]])
    run_jobs()
    again = create_job(client, headers, [definition["id"]])
    run_jobs()
    us = get_job(client, headers, again["id"])["metrics"]
    qualified = us["segmentedProfileCounter"][definition["id"]]
    assert us["segmentedProfileByStatusCounter"][definition["id"]] == {
        "realized": 0,
        "existing": qualified,
        "exited": 0,
    }
    narrowed = {
        **definition,
        "expression": {
            "type": "PQL",
            "format": "pql/text",
            "value": 'homeAddress.countryCode = "US" and loyalty.tier = "gold"',
        },
    }
    patched = client.patch(f"{DEFINITIONS}/{definition['id']}", headers=headers, json=narrowed)
    assert patched.status_code == 200, patched.text
    third = create_job(client, headers, [definition["id"]])
    run_jobs()
    metrics = get_job(client, headers, third["id"])["metrics"]
    gold = metrics["segmentedProfileCounter"][definition["id"]]
    assert metrics["segmentedProfileByStatusCounter"][definition["id"]] == {
        "realized": 0,
        "existing": gold,
        "exited": qualified - gold,
    }


def test_all_segments_form_lists_star_and_evaluates_every_definition(
    client: TestClient, headers: dict[str, str], store: Store, run_jobs: Any
) -> None:
    body = {"schema": {"name": "_xdm.context.profile"}, "segments": [{"segmentId": "*"}]}
    response = client.post(JOBS, headers=headers, json=body)
    assert response.status_code == 200, response.text
    job = response.json()
    assert_job_envelope(job)
    assert job["segments"] == [{"segmentId": "*"}]
    run_jobs()
    done = get_job(client, headers, job["id"])
    assert done["status"] == "SUCCEEDED", done.get("errors")
    assert done["segments"] == [{"segmentId": "*"}]
    all_ids = [d["id"] for d in client.get(DEFINITIONS, headers=headers).json()["segments"]]
    assert len(all_ids) >= 5
    assert_finished_metrics(done, all_ids, profiles_table(store, tenant(store, ORG)).num_rows)


def test_get_job_and_unknown_job(client: TestClient, headers: dict[str, str]) -> None:
    definition = create_definition(client, headers, 'person.gender = "female"')
    job = create_job(client, headers, [definition["id"]])
    assert get_job(client, headers, job["id"]) == job
    missing = client.get(f"{JOBS}/{uuid.uuid4()}", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["status"] == 404


def test_bulk_get_returns_207_keyed_by_id_and_reports_unknown_ids(
    client: TestClient, headers: dict[str, str]
) -> None:
    definition = create_definition(client, headers, 'person.gender = "male"')
    jobs = [create_job(client, headers, [definition["id"]]) for _ in range(2)]
    unknown = str(uuid.uuid4())
    body = {"ids": [{"id": jobs[0]["id"]}, {"id": jobs[1]["id"]}, {"id": unknown}]}
    response = client.post(f"{JOBS}/bulk-get", headers=headers, json=body)
    assert response.status_code == 207
    results = response.json()["results"]
    assert list(results) == [jobs[0]["id"], jobs[1]["id"], unknown]
    assert results[jobs[0]["id"]] == jobs[0]
    assert results[unknown]["status"] == 404


def test_cancel_new_job_is_immediate(
    client: TestClient, headers: dict[str, str], run_jobs: Any
) -> None:
    definition = create_definition(client, headers, 'person.gender = "male"')
    job = create_job(client, headers, [definition["id"]])
    response = client.delete(f"{JOBS}/{job['id']}", headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    assert get_job(client, headers, job["id"])["status"] == "CANCELLED"
    assert run_jobs() == 0


def test_cancelling_a_finished_job_is_a_conflict(
    client: TestClient, headers: dict[str, str], run_jobs: Any
) -> None:
    definition = create_definition(client, headers, 'person.gender = "male"')
    job = create_job(client, headers, [definition["id"]])
    run_jobs()
    response = client.delete(f"{JOBS}/{job['id']}", headers=headers)
    assert response.status_code == 409
    assert "SUCCEEDED" in response.json()["detail"]
    assert get_job(client, headers, job["id"])["status"] == "SUCCEEDED"


def test_same_request_id_does_not_create_a_second_job(
    client: TestClient, headers: dict[str, str]
) -> None:
    definition = create_definition(client, headers, 'person.gender = "male"')
    retry_headers = {**headers, "x-request-id": "retry-123"}
    body = [{"segmentId": definition["id"]}]
    first = client.post(JOBS, headers=retry_headers, json=body).json()
    second = client.post(JOBS, headers=retry_headers, json=body).json()
    assert first["id"] == second["id"]
    assert first["requestId"] == "retry-123"
    listed = client.get(JOBS, headers=headers).json()
    assert listed["_page"]["totalCount"] == 1
    other = client.post(JOBS, headers=retry_headers, json=[{"segmentId": "*"}])
    assert other.status_code == 409


def test_another_sandbox_never_sees_the_job(client: TestClient, headers: dict[str, str]) -> None:
    definition = create_definition(client, headers, 'person.gender = "male"')
    job = create_job(client, headers, [definition["id"]])
    dev = aep_headers(token_for(client), sandbox="dev")
    assert client.get(f"{JOBS}/{job['id']}", headers=dev).status_code == 404
    assert client.delete(f"{JOBS}/{job['id']}", headers=dev).status_code == 404
    assert client.get(JOBS, headers=dev).json()["children"] == []
    bulk = client.post(f"{JOBS}/bulk-get", headers=dev, json={"ids": [{"id": job["id"]}]})
    assert bulk.json()["results"][job["id"]]["status"] == 404
    foreign = client.post(JOBS, headers=dev, json=[{"segmentId": definition["id"]}])
    assert foreign.status_code == 400
    assert get_job(client, headers, job["id"])["status"] == "NEW"


@pytest.mark.parametrize(
    "expression",
    [
        'homeAddress.countryCode = "US" and person.birthYear < 1980',
        'personalEmail.address.endsWith("@gmail.com", false)',
        '(select X from xEvent where X.eventType = "web.webpagedetails.pageViews" '
        "and X.timestamp occurs <= 7 days before now).count() >= 3",
    ],
)
def test_membership_batch_holds_one_row_per_qualified_profile(
    client: TestClient, headers: dict[str, str], store: Store, run_jobs: Any, expression: str
) -> None:
    import pyarrow.parquet as pq

    definition = create_definition(client, headers, expression)
    job = create_job(client, headers, [definition["id"]])
    run_jobs()
    done = get_job(client, headers, job["id"])
    batch = store.catalog.membership_dir(tenant(store, ORG), done["batchId"])
    rows = pq.read_table(batch).to_pylist()
    assert {r["segmentId"] for r in rows} <= {definition["id"]}
    assert {r["status"] for r in rows} <= {"realized"}
    assert len(rows) == done["metrics"]["segmentedProfileCounter"][definition["id"]]
    assert len({r["__profile_id"] for r in rows}) == len(rows)


def test_failed_job_reports_errors_and_publishes_nothing(
    client: TestClient, headers: dict[str, str], store: Store, run_jobs: Any
) -> None:
    definition = create_definition(client, headers, 'homeAddress.countryCode = "US"')
    job = create_job(client, headers, [definition["id"]])
    prod = tenant(store, ORG)
    for file in store.catalog.profile_files(prod):
        file.write_bytes(b"not parquet")  # the lake is damaged under the running service
    assert run_jobs() == 1
    failed = get_job(client, headers, job["id"])
    assert_job_envelope(failed)
    assert failed["status"] == "FAILED"
    assert failed["errors"][0]["code"] == "SEG-5001"
    assert failed["errors"][0]["msg"] and failed["errors"][0]["callStack"]
    assert "endTimeInMs" in failed["metrics"]["totalTime"]
    assert not store.catalog.membership_dir(prod, failed["batchId"]).exists()
    assert store.catalog.previous_memberships(prod, [definition["id"]]) == []


def test_job_whose_definition_no_longer_compiles_fails_cleanly(
    client: TestClient, headers: dict[str, str], store: Store, run_jobs: Any
) -> None:
    from segmint.jobs.model import JobSource, SegmentSnapshot
    from segmint.jobs.ports import NewJob

    prod = tenant(store, ORG)
    policy = store.tenants.default_merge_policy(prod)
    broken = SegmentSnapshot(
        "legacy", "PQL", "pql/text", "homeAddress.nosuchfield = 1", policy.id, policy.version
    )
    job, _ = store.jobs.create(
        NewJob(prod, JobSource.API, "_xdm.context.profile", False, (broken,), "req", None)
    )
    assert run_jobs() == 1
    failed = get_job(client, headers, job.id)
    assert failed["status"] == "FAILED"
    assert failed["errors"][0]["code"] == "SEG-4001"
    assert "nosuchfield" in failed["errors"][0]["msg"]
