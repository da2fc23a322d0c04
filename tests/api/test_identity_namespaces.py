"""Identity namespaces as the Identity Service API serves them: the standard catalogue, the
built-in CRMID, and the org's own namespaces, which ingestion then accepts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.ingestion_helpers import create_dataset, ingest, ndjson
from tests.support import aep_headers, token_for

NAMESPACES = "/data/core/idnamespace/identities"
PROBLEM_TYPE = "http://ns.adobe.com/adobecloud/problem/namespacevalidation"
NAMESPACE_KEYS = {
    "id",
    "code",
    "name",
    "description",
    "idType",
    "status",
    "custom",
    "createTime",
    "updateTime",
}
LOYALTY = {
    "name": "Loyalty Member ID",
    "code": "Loyalty",
    "idType": "Cross_device",
    "description": "The id of a loyalty program member.",
}


def by_code(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get(NAMESPACES, headers=headers)
    assert response.status_code == 200
    listed: list[dict[str, Any]] = response.json()
    return {ns["code"]: ns for ns in listed}


def assert_namespace_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"timestamp", "type", "status", "title", "description", "report"}
    assert (body["type"], body["status"], body["report"]) == (PROBLEM_TYPE, status, {"code": code})
    return body


def test_the_standard_and_built_in_namespaces_are_listed(
    client: TestClient, headers: dict[str, str]
) -> None:
    namespaces = by_code(client, headers)
    assert all(set(ns) == NAMESPACE_KEYS for ns in namespaces.values())
    ecid = namespaces["ECID"]
    assert (ecid["id"], ecid["idType"], ecid["custom"], ecid["status"]) == (
        4,
        "COOKIE",
        False,
        "ACTIVE",
    )
    assert namespaces["Email"]["idType"] == "EMAIL"
    assert namespaces["AdCloud"]["id"] == 411
    assert namespaces["CRMID"]["custom"] is True
    assert {"Phone", "TNTID", "GAID", "IDFA"} <= set(namespaces)


def test_an_org_creates_its_own_namespace(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post(NAMESPACES, headers=headers, json=LOYALTY)
    assert response.status_code == 200
    created = response.json()
    assert set(created) == NAMESPACE_KEYS
    assert (created["code"], created["name"], created["idType"]) == (
        "Loyalty",
        "Loyalty Member ID",
        "CROSS_DEVICE",
    )
    assert created["custom"] is True and created["status"] == "ACTIVE"
    assert created["createTime"] == created["updateTime"] > 0
    assert by_code(client, headers)["Loyalty"] == created
    assert client.get(f"{NAMESPACES}/Loyalty", headers=headers).json() == created
    assert client.get(f"{NAMESPACES}/{created['id']}", headers=headers).json() == created
    second = client.post(
        NAMESPACES, headers=headers, json={**LOYALTY, "code": "Gym", "idType": "non_people"}
    ).json()
    assert second["id"] > created["id"] and second["idType"] == "NON_PEOPLE"


def test_namespaces_belong_to_the_org_not_the_sandbox(
    client: TestClient, headers: dict[str, str]
) -> None:
    client.post(NAMESPACES, headers=headers, json=LOYALTY)
    dev = aep_headers(token_for(client), sandbox="dev")
    assert "Loyalty" in by_code(client, dev)


def test_a_standard_namespace_is_read_by_id_or_code(
    client: TestClient, headers: dict[str, str]
) -> None:
    assert client.get(f"{NAMESPACES}/4", headers=headers).json()["code"] == "ECID"
    assert client.get(f"{NAMESPACES}/Email", headers=headers).json()["id"] == 6


@pytest.mark.parametrize("reference", ["12345", "Nope", "ecid"])
def test_unknown_namespaces_are_404(
    client: TestClient, headers: dict[str, str], reference: str
) -> None:
    response = client.get(f"{NAMESPACES}/{reference}", headers=headers)
    body = assert_namespace_problem(response, 404, "NAMESPACE_NOT_FOUND")
    assert "Namespace id not found" in body["description"]


@pytest.mark.parametrize("code", ["Loyalty", "loyalty", "ECID", "email", "CRMID"])
def test_a_code_in_use_is_a_conflict(
    client: TestClient, headers: dict[str, str], code: str
) -> None:
    assert client.post(NAMESPACES, headers=headers, json=LOYALTY).status_code == 200
    response = client.post(NAMESPACES, headers=headers, json={**LOYALTY, "code": code})
    body = assert_namespace_problem(response, 409, "INTEGRATION_CODE_EXISTS")
    assert body["title"] == "NAMESPACE_CODE_CONFLICT"
    assert len([c for c in by_code(client, headers) if c.casefold() == code.casefold()]) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"name": ', "not valid JSON"),
        (b"[]", "body"),
        (b'{"code": "X", "idType": "EMAIL"}', "name"),
        (b'{"name": "X", "idType": "EMAIL"}', "code"),
        (b'{"name": "X", "code": "X"}', "idType"),
        (b'{"name": "X", "code": "X", "idType": "Fingerprint"}', "valid value of idType"),
        (b'{"name": "X", "code": "Loyalty-ID", "idType": "EMAIL"}', "letters and numbers"),
        (b'{"name": "X", "code": "", "idType": "EMAIL"}', "code"),
        (b'{"name": "X", "code": 5, "idType": "EMAIL"}', "code"),
    ],
)
def test_bad_namespace_bodies_are_400(
    client: TestClient, headers: dict[str, str], body: bytes, message: str
) -> None:
    before = by_code(client, headers)
    response = client.post(NAMESPACES, headers=headers, content=body)
    problem = assert_namespace_problem(response, 400, "INVALID_REQUEST_PARAMS")
    assert message in problem["description"]
    assert by_code(client, headers) == before


def test_namespaces_need_the_gateway_headers(client: TestClient) -> None:
    for method in ("GET", "POST"):
        response = client.request(method, NAMESPACES)
        assert response.status_code == 403
        assert response.json()["error_code"] == "403010"


def test_records_may_use_a_namespace_once_it_exists(
    client: TestClient, headers: dict[str, str]
) -> None:
    dataset_id = create_dataset(client, headers, "Loyalty members")
    member = {"_id": "m1", "identityMap": {"Loyalty": [{"id": "L-1", "primary": True}]}}
    refused = ingest(client, headers, dataset_id, {"a.ndjson": ndjson([member])})
    assert refused["status"] == "failed"
    [row] = [r for entry in refused["errors"][1:] for r in entry["rows"]]
    assert (row["field"], row["reason"]) == (
        "identityMap.Loyalty",
        "unknown identity namespace 'Loyalty'",
    )
    client.post(NAMESPACES, headers=headers, json=LOYALTY)
    accepted = ingest(client, headers, dataset_id, {"a.ndjson": ndjson([member])})
    assert (accepted["status"], accepted["metrics"]["outputRecordCount"]) == ("success", 1)
