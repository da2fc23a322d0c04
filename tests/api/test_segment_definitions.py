"""``/segment/definitions``: the CRUD surface and the list shape ``aepp`` relies on."""

from __future__ import annotations

import math
import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import DEFINITIONS, create_definition, create_job, get_job
from tests.support import ORG, aep_headers, token_for


def test_create_returns_the_stored_definition(client: TestClient, headers: dict[str, str]) -> None:
    created = create_definition(client, headers, 'workAddress.country = "US"', name="US workers")
    assert uuid.UUID(created["id"])
    assert created["name"] == "US workers"
    assert created["description"] == "test segment"
    assert created["expression"] == {
        "type": "PQL",
        "format": "pql/text",
        "value": 'workAddress.country = "US"',
    }
    assert created["schema"] == {"name": "_xdm.context.profile"}
    assert created["ttlInDays"] == 30
    assert created["profileInstanceId"] == "ups"
    assert created["imsOrgId"] == ORG
    assert created["sandbox"]["sandboxName"] == "prod"
    assert created["evaluationInfo"] == {
        "batch": {"enabled": True},
        "continuous": {"enabled": False},
        "synchronous": {"enabled": False},
    }
    assert created["dataGovernancePolicy"] == {"excludeOptOut": True}
    assert isinstance(created["mergePolicyId"], str) and created["mergePolicyId"]
    assert created["creationTime"] > 0 and created["updateTime"] >= created["creationTime"]
    assert created["updateEpoch"] == created["updateTime"] // 1000
    fetched = client.get(f"{DEFINITIONS}/{created['id']}", headers=headers)
    assert fetched.status_code == 200 and fetched.json() == created


def test_create_sets_x_location(client: TestClient, headers: dict[str, str]) -> None:
    body = {
        "name": "located",
        "schema": {"name": "_xdm.context.profile"},
        "expression": {"type": "PQL", "format": "pql/text", "value": 'person.gender = "x"'},
    }
    response = client.post(DEFINITIONS, headers=headers, json=body)
    assert response.headers["X-Location"] == f"/segment/definitions/{response.json()['id']}"


def test_patch_overwrites_and_keeps_identity(client: TestClient, headers: dict[str, str]) -> None:
    created = create_definition(client, headers, 'workAddress.country = "US"')
    changed = {
        **created,
        "name": "renamed",
        "expression": {"type": "PQL", "format": "pql/text", "value": 'workAddress.country = "CA"'},
    }
    response = client.patch(f"{DEFINITIONS}/{created['id']}", headers=headers, json=changed)
    assert response.status_code == 200
    updated = response.json()
    assert (updated["id"], updated["creationTime"]) == (created["id"], created["creationTime"])
    assert updated["name"] == "renamed"
    assert updated["expression"]["value"] == 'workAddress.country = "CA"'
    assert updated["mergePolicyId"] == created["mergePolicyId"]
    bad = {**changed, "expression": {"type": "PQL", "format": "pql/text", "value": "((("}}
    assert (
        client.patch(f"{DEFINITIONS}/{created['id']}", headers=headers, json=bad).status_code == 400
    )
    assert client.get(f"{DEFINITIONS}/{created['id']}", headers=headers).json() == updated


def test_delete(client: TestClient, headers: dict[str, str]) -> None:
    created = create_definition(client, headers, 'person.gender = "male"')
    response = client.delete(f"{DEFINITIONS}/{created['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] is True
    assert client.get(f"{DEFINITIONS}/{created['id']}", headers=headers).status_code == 404


def test_list_shape_and_paging_as_aepp_reads_it(
    client: TestClient, headers: dict[str, str]
) -> None:
    for i in range(7):
        create_definition(client, headers, 'person.gender = "male"', name=f"paged {i}")
    first = client.get(DEFINITIONS, headers=headers).json()
    assert set(first) == {"segments", "page", "link"}
    total = first["page"]["totalCount"]
    assert total == len(first["segments"]) >= 7
    assert first["page"]["totalPages"] == 1
    assert first["page"]["sortField"] == "creationTime" and first["page"]["sort"] == "desc"
    seen: list[str] = []
    pages = math.ceil(total / 3)
    for page in range(pages):
        body = client.get(
            DEFINITIONS, headers=headers, params={"page": str(page), "limit": 3}
        ).json()
        assert body["page"]["totalPages"] == pages
        seen += [d["id"] for d in body["segments"]]
    assert seen == [d["id"] for d in first["segments"]]
    beyond = client.get(DEFINITIONS, headers=headers, params={"page": pages, "limit": 3}).json()
    assert beyond["segments"] == []


def test_list_sort_and_filters(client: TestClient, headers: dict[str, str]) -> None:
    create_definition(client, headers, 'person.gender = "male"', name="aaa first")
    body = client.get(DEFINITIONS, headers=headers, params={"sort": "name:asc"}).json()
    names = [d["name"] for d in body["segments"]]
    assert names == sorted(names)
    streaming = client.get(
        DEFINITIONS, headers=headers, params={"evaluationInfo.continuous.enabled": "true"}
    ).json()
    assert streaming["segments"] == [] and streaming["page"]["totalCount"] == 0
    batch = client.get(
        DEFINITIONS, headers=headers, params={"evaluationInfo.batch.enabled": "true"}
    ).json()
    assert batch["page"]["totalCount"] == len(names)


def test_bulk_get(client: TestClient, headers: dict[str, str]) -> None:
    one = create_definition(client, headers, 'person.gender = "male"')
    missing = str(uuid.uuid4())
    response = client.post(
        f"{DEFINITIONS}/bulk-get",
        headers=headers,
        json={"ids": [{"id": one["id"]}, {"id": missing}]},
    )
    assert response.status_code == 207
    results: dict[str, Any] = response.json()["results"]
    assert results[one["id"]] == one
    assert results[missing]["status"] == 404


def test_definitions_are_sandbox_scoped(client: TestClient, headers: dict[str, str]) -> None:
    one = create_definition(client, headers, 'person.gender = "male"', name="prod only")
    dev = aep_headers(token_for(client), sandbox="dev")
    assert client.get(f"{DEFINITIONS}/{one['id']}", headers=dev).status_code == 404
    assert client.delete(f"{DEFINITIONS}/{one['id']}", headers=dev).status_code == 404
    changed = {**one, "name": "stolen"}
    assert client.patch(f"{DEFINITIONS}/{one['id']}", headers=dev, json=changed).status_code == 404
    assert client.get(DEFINITIONS, headers=dev).json()["segments"] == []
    same_name = create_definition(client, dev, 'person.gender = "male"', name="prod only")
    assert same_name["sandbox"]["sandboxName"] == "dev"


def test_sample_definitions_are_loaded_and_valid(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = client.get(DEFINITIONS, headers=headers).json()
    assert body["page"]["totalCount"] == 5


# The pql/json of api.md §2.8 for `workAddress.country = "US"`.
WORK_IN_US_JSON = (
    '{"nodeType":"fnApply","fnName":"=","params":[{"nodeType":"fieldLookup","fieldName":'
    '"country","object":{"nodeType":"fieldLookup","fieldName":"workAddress","object":'
    '{"nodeType":"parameterReference","position":1}}},{"nodeType":"literal",'
    '"literalType":"String","value":"US"}]}'
)


def test_pql_json_definitions_are_accepted_and_evaluated(
    client: TestClient, headers: dict[str, str], run_jobs: Any
) -> None:
    as_json = create_definition(
        client,
        headers,
        "",
        expression_override={"type": "PQL", "format": "pql/json", "value": WORK_IN_US_JSON},
    )
    assert as_json["expression"]["format"] == "pql/json"
    as_text = create_definition(client, headers, 'workAddress.country = "US"')
    job = create_job(client, headers, [as_json["id"], as_text["id"]])
    run_jobs()
    done = get_job(client, headers, job["id"])
    assert done["status"] == "SUCCEEDED", done.get("errors")
    counts = done["metrics"]["segmentedProfileCounter"]
    assert counts[as_json["id"]] == counts[as_text["id"]]


def test_invalid_pql_json_is_a_400(client: TestClient, headers: dict[str, str]) -> None:
    body = {
        "name": "bad json",
        "schema": {"name": "_xdm.context.profile"},
        "expression": {"type": "PQL", "format": "pql/json", "value": '{"nodeType": "nonsense"}'},
    }
    response = client.post(DEFINITIONS, headers=headers, json=body)
    assert response.status_code == 400
    assert response.json()["report"]["pqlError"]["kind"] == "syntax"


def test_evaluation_info_follows_eligibility(client: TestClient, headers: dict[str, str]) -> None:
    everything = {
        "batch": {"enabled": True},
        "continuous": {"enabled": True},
        "synchronous": {"enabled": True},
    }
    profile_only = create_definition(
        client, headers, 'homeAddress.countryCode = "US"', evaluationInfo=everything
    )
    assert profile_only["evaluationInfo"] == everything
    month_of_events = create_definition(
        client,
        headers,
        'select X from xEvent where X.eventType = "commerce.purchases" '
        "and X.timestamp occurs <= 30 days before now",
        evaluationInfo=everything,
    )
    assert month_of_events["evaluationInfo"] == {
        "batch": {"enabled": True},
        "continuous": {"enabled": False},
        "synchronous": {"enabled": False},
    }
    default = create_definition(client, headers, 'homeAddress.countryCode = "FR"')
    assert default["evaluationInfo"]["continuous"] == {"enabled": False}
