"""IMS token endpoint and the AEP gateway's header checks (api.md §0.2-§0.3)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.support import CLIENT_ID, CLIENT_SECRET, ORG, aep_headers, token_for

JOBS = "/data/core/ups/segment/jobs"


def test_token_endpoint_issues_a_bearer_token_as_ims_does(client: TestClient) -> None:
    response = client.post(
        "/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "openid,AdobeID,read_organizations",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str) and body["access_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 500


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        (
            {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "nope"},
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_id": "other",
                "client_secret": CLIENT_SECRET,
            },
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "authorization_code",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
            400,
            "unsupported_grant_type",
        ),
        ({}, 400, "invalid_request"),
        ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, 400, "invalid_request"),
    ],
)
def test_token_endpoint_rejects_bad_clients(
    client: TestClient, form: dict[str, str], status: int, error: str
) -> None:
    response = client.post("/ims/token/v3", data=form)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_token_endpoint_needs_a_form_body(client: TestClient) -> None:
    response = client.post("/ims/token/v3", json={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        (lambda h: _without(h, "Authorization"), 403, "403010"),
        (lambda h: {**h, "Authorization": "Bearer forged.token"}, 401, "401013"),
        (lambda h: {**h, "Authorization": "Basic abc"}, 401, "401013"),
        (lambda h: _without(h, "x-api-key"), 403, "403000"),
        (lambda h: {**h, "x-api-key": "someone-else"}, 403, "403003"),
        (lambda h: _without(h, "x-gw-ims-org-id"), 400, "400003"),
        (lambda h: {**h, "x-gw-ims-org-id": "OTHER@AdobeOrg"}, 403, "403025"),
        (lambda h: _without(h, "x-sandbox-name"), 400, "400003"),
    ],
)
def test_gateway_errors_for_missing_or_wrong_headers(
    client: TestClient, change: object, status: int, code: str
) -> None:
    headers = change(aep_headers(token_for(client)))  # type: ignore[operator]
    response = client.get(JOBS, headers=headers)
    assert response.status_code == status
    assert response.json() == {"error_code": code, "message": response.json()["message"]}
    assert response.json()["message"]


def test_bearer_scheme_is_case_insensitive(client: TestClient) -> None:
    headers = aep_headers(token_for(client))
    headers["Authorization"] = headers["Authorization"].replace("Bearer", "bearer")
    assert client.get(JOBS, headers=headers).status_code == 200


def test_unknown_sandbox_is_forbidden(client: TestClient) -> None:
    response = client.get(JOBS, headers=aep_headers(token_for(client), sandbox="nosuch"))
    assert response.status_code == 403
    body = response.json()
    assert body["status"] == 403 and "nosuch" in body["detail"]


def test_aepp_style_headers_are_accepted(client: TestClient) -> None:
    headers = aep_headers(token_for(client))
    headers.update({"Accept": "application/vnd.adobe.xdm+json", "x-sandbox-id": "ignored"})
    response = client.delete(f"{JOBS}/00000000-0000-0000-0000-000000000000", headers=headers)
    assert response.status_code == 404


def test_health_answers_once_ready(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"


def test_org_is_echoed_in_objects(client: TestClient) -> None:
    headers = aep_headers(token_for(client))
    definitions = client.get("/data/core/ups/segment/definitions", headers=headers).json()
    assert all(d["imsOrgId"] == ORG for d in definitions["segments"])
