"""Bad input gets a 4xx in the documented error shape, never a 5xx, and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import DEFINITIONS, JOBS, create_definition

PROBLEM_KEYS = {"type", "status", "title", "detail", "report"}


def send(
    client: TestClient,
    headers: dict[str, str],
    method: str,
    path: str,
    body: bytes | None = None,
    params: Any = None,
    content_type: str | None = None,
) -> Any:
    request_headers = dict(headers)
    if content_type is not None:
        request_headers["Content-Type"] = content_type
    return client.request(method, path, headers=request_headers, content=body, params=params)


BAD_REQUESTS: list[tuple[str, str, str, bytes | None, Any, str | None, int]] = [
    ("malformed json", "POST", JOBS, b'[{"segmentId": ', None, None, 400),
    ("json not utf-8", "POST", JOBS, b"\xff\xfe", None, None, 400),
    ("object without segments", "POST", JOBS, b'{"segmentId": "x"}', None, None, 400),
    ("segmentId not a string", "POST", JOBS, b'[{"segmentId": 5}]', None, None, 400),
    ("empty segment list", "POST", JOBS, b"[]", None, None, 400),
    ("empty segmentId", "POST", JOBS, b'[{"segmentId": ""}]', None, None, 400),
    ("unknown segment id", "POST", JOBS, b'[{"segmentId": "no-such-segment"}]', None, None, 400),
    ("body is a string", "POST", JOBS, b'"hello"', None, None, 400),
    (
        "star mixed with ids",
        "POST",
        JOBS,
        b'{"schema": {"name": "_xdm.context.profile"}, "segments": [{"segmentId": "*"}, '
        b'{"segmentId": "a"}]}',
        None,
        None,
        400,
    ),
    (
        "wrong schema",
        "POST",
        JOBS,
        b'{"schema": {"name": "_xdm.context.experienceevent"}, "segments": [{"segmentId": "*"}]}',
        None,
        None,
        400,
    ),
    ("no content type", "POST", JOBS, b"[]", None, "", 400),
    ("text content type", "POST", JOBS, b"[]", None, "text/plain", 400),
    ("bulk-get without ids", "POST", f"{JOBS}/bulk-get", b"{}", None, None, 400),
    ("bulk-get ids wrong type", "POST", f"{JOBS}/bulk-get", b'{"ids": ["a"]}', None, None, 400),
    ("bulk-get empty ids", "POST", f"{JOBS}/bulk-get", b'{"ids": []}', None, None, 400),
    ("bad sort attribute", "GET", JOBS, None, {"sort": "nope:asc"}, None, 400),
    ("bad sort direction", "GET", JOBS, None, {"sort": "creationTime:up"}, None, 400),
    ("bad status", "GET", JOBS, None, {"status": "DONE"}, None, 400),
    ("limit not a number", "GET", JOBS, None, {"limit": "ten"}, None, 400),
    ("limit zero", "GET", JOBS, None, {"limit": "0"}, None, 400),
    ("limit too large", "GET", JOBS, None, {"limit": "100000"}, None, 400),
    ("negative start", "GET", JOBS, None, {"start": "-1"}, None, 400),
    ("start not a number", "GET", JOBS, None, {"start": "x"}, None, 400),
    ("property without ==", "GET", JOBS, None, {"property": "status=NEW"}, None, 400),
    ("property empty path", "GET", JOBS, None, {"property": "==NEW"}, None, 400),
    ("property empty array", "GET", JOBS, None, {"property": "~segmentId==x"}, None, 400),
    ("unknown job", "GET", f"{JOBS}/{uuid.uuid4()}", None, None, None, 404),
    ("cancel unknown job", "DELETE", f"{JOBS}/{uuid.uuid4()}", None, None, None, 404),
    ("definition malformed json", "POST", DEFINITIONS, b"{", None, None, 400),
    (
        "definition missing expression",
        "POST",
        DEFINITIONS,
        b'{"name": "x", "schema": {"name": "_xdm.context.profile"}}',
        None,
        None,
        400,
    ),
    (
        "definition bad pql",
        "POST",
        DEFINITIONS,
        b'{"name": "x", "schema": {"name": "_xdm.context.profile"}, "expression": '
        b'{"type": "PQL", "format": "pql/text", "value": "homeAddress.city = "}}',
        None,
        None,
        400,
    ),
    (
        "definition unknown field",
        "POST",
        DEFINITIONS,
        b'{"name": "x", "schema": {"name": "_xdm.context.profile"}, "expression": '
        b'{"type": "PQL", "format": "pql/text", "value": "homeAdress.city = \\"x\\""}}',
        None,
        None,
        400,
    ),
    (
        "definition wrong expression type",
        "POST",
        DEFINITIONS,
        b'{"name": "x", "schema": {"name": "_xdm.context.profile"}, "expression": '
        b'{"type": "SQL", "format": "pql/text", "value": "true"}}',
        None,
        None,
        400,
    ),
    (
        "definition unknown merge policy",
        "POST",
        DEFINITIONS,
        b'{"name": "x", "schema": {"name": "_xdm.context.profile"}, "mergePolicyId": "nope",'
        b' "expression": {"type": "PQL", "format": "pql/text", "value": '
        b'"person.gender = \\"male\\""}}',
        None,
        None,
        400,
    ),
    (
        "definition ttl wrong type",
        "POST",
        DEFINITIONS,
        b'{"name": "x", "schema": {"name": "_xdm.context.profile"}, "ttlInDays": "30",'
        b' "expression": {"type": "PQL", "format": "pql/text", "value": '
        b'"person.gender = \\"male\\""}}',
        None,
        None,
        400,
    ),
    ("definitions bad limit", "GET", DEFINITIONS, None, {"limit": "-5"}, None, 400),
    (
        "definitions bad filter",
        "GET",
        DEFINITIONS,
        None,
        {"evaluationInfo.continuous.enabled": "maybe"},
        None,
        400,
    ),
    ("unknown definition", "GET", f"{DEFINITIONS}/{uuid.uuid4()}", None, None, None, 404),
    ("delete unknown definition", "DELETE", f"{DEFINITIONS}/{uuid.uuid4()}", None, None, None, 404),
    ("unknown route", "GET", "/data/core/ups/segment/nothing", None, None, None, 404),
    ("wrong method", "PUT", JOBS, b"[]", None, None, 405),
]


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "params", "content_type", "status"),
    BAD_REQUESTS,
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_request_gets_documented_error(
    client: TestClient,
    headers: dict[str, str],
    name: str,
    method: str,
    path: str,
    body: bytes | None,
    params: Any,
    content_type: str | None,
    status: int,
) -> None:
    before = client.get(JOBS, headers=headers).json()["_page"]["totalCount"]
    response = send(client, headers, method, path, body, params, content_type)
    assert response.status_code == status, response.text
    problem = response.json()
    assert set(problem) == PROBLEM_KEYS
    assert problem["status"] == status
    assert problem["detail"]
    assert problem["type"].startswith("https://ns.adobe.com/aep/errors/")
    assert client.get(JOBS, headers=headers).json()["_page"]["totalCount"] == before


def test_overlong_request_id_is_a_400(client: TestClient, headers: dict[str, str]) -> None:
    definition = create_definition(client, headers, 'person.gender = "male"')
    response = client.post(
        JOBS, headers={**headers, "x-request-id": "r" * 300}, json=[{"segmentId": definition["id"]}]
    )
    assert response.status_code == 400
    assert set(response.json()) == PROBLEM_KEYS


def test_bad_pql_names_line_and_column(client: TestClient, headers: dict[str, str]) -> None:
    body = {
        "name": "broken",
        "schema": {"name": "_xdm.context.profile"},
        "expression": {
            "type": "PQL",
            "format": "pql/text",
            "value": 'homeAddress.countryCode = "US"\nand person.gender = = "x"',
        },
    }
    response = client.post(DEFINITIONS, headers=headers, json=body)
    assert response.status_code == 400
    error = response.json()["report"]["pqlError"]
    assert (error["line"], error["column"]) == (2, 21)
    assert "line 2" in response.json()["detail"]


def test_unsupported_pql_is_rejected_at_definition_time(
    client: TestClient, headers: dict[str, str]
) -> None:
    body = {
        "name": "rekeyed map",
        "schema": {"name": "_xdm.context.profile"},
        "expression": {
            "type": "PQL",
            "format": "pql/text",
            "value": 'identityMap.map((K, V) => mapEntry("one", V)).get("one")',
        },
    }
    response = client.post(DEFINITIONS, headers=headers, json=body)
    assert response.status_code == 400
    assert response.json()["report"]["pqlError"]["kind"] == "unsupported"
    assert "not supported by the DuckDB engine" in response.json()["detail"]


def test_unknown_segment_ids_are_listed(client: TestClient, headers: dict[str, str]) -> None:
    known = create_definition(client, headers, 'person.gender = "male"')
    body = [{"segmentId": known["id"]}, {"segmentId": "nope-1"}, {"segmentId": "nope-2"}]
    response = client.post(JOBS, headers=headers, json=body)
    assert response.status_code == 400
    assert response.json()["report"]["unknownSegmentIds"] == ["nope-1", "nope-2"]


def test_duplicate_definition_name_is_422(client: TestClient, headers: dict[str, str]) -> None:
    create_definition(client, headers, 'person.gender = "male"', name="same")
    body = {
        "name": "same",
        "schema": {"name": "_xdm.context.profile"},
        "expression": {"type": "PQL", "format": "pql/text", "value": 'person.gender = "x"'},
    }
    assert client.post(DEFINITIONS, headers=headers, json=body).status_code == 422


def test_long_condition_lists_are_accepted_and_evaluated(
    client: TestClient, headers: dict[str, str], run_jobs: Any
) -> None:
    codes = " or ".join(f'homeAddress.postalCode = "{i:05d}"' for i in range(3000))
    definition = create_definition(client, headers, f'homeAddress.countryCode = "US" or {codes}')
    job = client.post(JOBS, headers=headers, json=[{"segmentId": definition["id"]}]).json()
    run_jobs()
    done = client.get(f"{JOBS}/{job['id']}", headers=headers).json()
    assert done["status"] == "SUCCEEDED", done.get("errors")
    assert done["metrics"]["segmentedProfileCounter"][definition["id"]] > 0


def test_absurdly_deep_nesting_is_a_400(client: TestClient, headers: dict[str, str]) -> None:
    value = "(" * 5000 + 'person.gender = "x"' + ")" * 5000
    body = {
        "name": "deep",
        "schema": {"name": "_xdm.context.profile"},
        "expression": {"type": "PQL", "format": "pql/text", "value": value},
    }
    response = client.post(DEFINITIONS, headers=headers, json=body)
    assert response.status_code == 400
    assert response.json()["status"] == 400
