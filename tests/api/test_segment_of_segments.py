"""``inSegment`` in segment jobs: a segment of the same job is evaluated in the same pass; a
segment outside the job is read from its latest stored membership batch."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from segmint.store import Store
from tests.api.helpers import (
    DEFINITIONS,
    count_country,
    create_definition,
    create_job,
    get_job,
    profiles_table,
    tenant,
)
from tests.support import ORG


def counters(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, int]:
    job = get_job(client, headers, job_id)
    assert job["status"] == "SUCCEEDED", job.get("errors")
    result: dict[str, int] = job["metrics"]["segmentedProfileCounter"]
    return result


def test_segment_of_a_segment_in_the_same_job(
    client: TestClient, headers: dict[str, str], store: Store, run_jobs: Any
) -> None:
    us = create_definition(client, headers, 'homeAddress.countryCode = "US"')
    also_us = create_definition(client, headers, f'inSegment("{us["id"]}")')
    not_us = create_definition(client, headers, f'not inSegment("{also_us["id"]}")')
    job = create_job(client, headers, [not_us["id"], also_us["id"], us["id"]])
    assert run_jobs() == 1
    found = counters(client, headers, job["id"])
    profiles = profiles_table(store, tenant(store, ORG))
    expected = count_country(profiles, "US")
    assert 0 < expected < profiles.num_rows
    assert found[us["id"]] == found[also_us["id"]] == expected
    assert found[not_us["id"]] == profiles.num_rows - expected


def test_segment_outside_the_job_reads_its_latest_batch(
    client: TestClient, headers: dict[str, str], store: Store, run_jobs: Any
) -> None:
    us = create_definition(client, headers, 'homeAddress.countryCode = "US"')
    reader = create_definition(client, headers, f'inSegment("{us["id"]}")')
    before = create_job(client, headers, [reader["id"]])
    assert run_jobs() == 1
    assert counters(client, headers, before["id"])[reader["id"]] == 0  # never evaluated yet
    create_job(client, headers, [us["id"]])
    assert run_jobs() == 1
    after = create_job(client, headers, [reader["id"]])
    assert run_jobs() == 1
    expected = count_country(profiles_table(store, tenant(store, ORG)), "US")
    assert counters(client, headers, after["id"])[reader["id"]] == expected > 0


def test_a_cycle_of_segments_is_refused_when_written(
    client: TestClient, headers: dict[str, str]
) -> None:
    first = create_definition(client, headers, 'homeAddress.countryCode = "US"')
    second = create_definition(client, headers, f'inSegment("{first["id"]}")')
    third = create_definition(client, headers, f'inSegment("{second["id"]}")')
    body = {
        "name": first["name"],
        "expression": {"type": "PQL", "format": "pql/text", "value": f'inSegment("{third["id"]}")'},
        "schema": {"name": "_xdm.context.profile"},
    }
    response = client.patch(f"{DEFINITIONS}/{first['id']}", headers=headers, json=body)
    assert response.status_code == 400, response.text
    message = response.json()["detail"]
    assert "cycle" in message and f"{first['id']} -> {third['id']} -> {second['id']}" in message
    unchanged = client.get(f"{DEFINITIONS}/{first['id']}", headers=headers).json()
    assert unchanged["expression"]["value"] == 'homeAddress.countryCode = "US"'
    body["expression"]["value"] = f'inSegment("{first["id"]}")'
    response = client.patch(f"{DEFINITIONS}/{first['id']}", headers=headers, json=body)
    assert response.status_code == 400 and "cycle" in response.json()["detail"]
