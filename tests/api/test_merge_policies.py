"""``/config/mergePolicies``: every documented request and response (api.md §4), each
validation error as a 4xx in the Profile API's error shape that changes nothing, the
default and edge rules, delete rules, paging, PATCH forms and sandbox isolation. The
repository's rules also run on PostgreSQL (``SEGMINT_TEST_DATABASE_URL``)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.jobs.model import Tenant
from segmint.profiles.policies import AttributeMergeType, IdentityGraphType, MergePolicy
from segmint.store import Definition, Store
from segmint.store.merge_policies import (
    InvalidMergePolicy,
    MergePolicyConflict,
    MergePolicyInUse,
    PolicyChanges,
    PolicyDraft,
    PolicyFilter,
    PolicyOrder,
    PolicyQuery,
)
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS
from tests.api.helpers import BASE, DEFINITIONS, create_definition, tenant
from tests.support import ORG, aep_headers, make_settings, token_for

POLICIES = f"{BASE}/config/mergePolicies"
WIRE_KEYS = {
    "id",
    "name",
    "imsOrgId",
    "sandbox",
    "schema",
    "version",
    "identityGraph",
    "attributeMerge",
    "isActiveOnEdge",
    "default",
    "updateEpoch",
}


def policy_body(name: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name or f"policy {uuid.uuid4().hex[:8]}",
        "schema": {"name": "_xdm.context.profile"},
        "identityGraph": {"type": "none"},
        "attributeMerge": {"type": "timestampOrdered"},
    }
    body.update(overrides)
    return body


def create_policy(
    client: TestClient, headers: dict[str, str], name: str | None = None, **overrides: Any
) -> dict[str, Any]:
    response = client.post(POLICIES, headers=headers, json=policy_body(name, **overrides))
    assert response.status_code == 200, response.text
    created: dict[str, Any] = response.json()
    return created


def get_policy(client: TestClient, headers: dict[str, str], policy_id: str) -> dict[str, Any]:
    response = client.get(f"{POLICIES}/{policy_id}", headers=headers)
    assert response.status_code == 200, response.text
    policy: dict[str, Any] = response.json()
    return policy


def all_policies(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(POLICIES, headers=headers, params={"limit": 1000})
    assert response.status_code == 200, response.text
    children: list[dict[str, Any]] = response.json()["children"]
    return children


def profile_error(response: httpx.Response, status: int) -> str:
    """The message of a Profile API error (api.md §0.4 shape 2), after checking the shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"message", "statusCode"}, body
    assert body["statusCode"] == str(status)
    assert body["message"].startswith("UPS-MP-"), body
    message: str = body["message"]
    return message


def dataset_ids(store: Store) -> dict[str, str]:
    """The sample datasets of ``prod`` by class."""
    return {d.schema_name: d.id for d in store.catalog.datasets(tenant(store, ORG))}


@pytest.fixture
def dev_headers(client: TestClient) -> dict[str, str]:
    return aep_headers(token_for(client), sandbox="dev")


# --- the documented requests and responses ----------------------------------------------


def test_a_sandbox_starts_with_its_default_policy(
    client: TestClient, dev_headers: dict[str, str]
) -> None:
    headers = dev_headers  # a sandbox without the sample data's policies
    response = client.get(POLICIES, headers=headers)
    assert response.status_code == 200
    listed = response.json()
    assert listed["_page"] == {"totalCount": 1, "pageSize": 1}
    assert listed["_links"] == {"next": {"href": ""}}
    (policy,) = listed["children"]
    assert set(policy) == WIRE_KEYS
    assert policy["name"] == "Default Timebased"
    assert policy["schema"] == {"name": "_xdm.context.profile"}
    assert policy["identityGraph"] == {"type": "none"}
    assert policy["attributeMerge"] == {"type": "timestampOrdered"}
    assert (policy["default"], policy["isActiveOnEdge"], policy["version"]) == (True, False, 1)
    assert policy["imsOrgId"] == ORG
    assert policy["sandbox"]["sandboxName"] == "dev"
    assert get_policy(client, headers, policy["id"]) == policy


def test_create_returns_the_stored_policy(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    ids = dataset_ids(store)
    order = [ids[PROFILE_CLASS], ids[EXPERIENCE_EVENT_CLASS]]
    before = time.time()
    created = create_policy(
        client,
        headers,
        "Loyalty members ordered by ID",
        identityGraph={"type": "pdg"},
        attributeMerge={"type": "dataSetPrecedence", "order": order},
        isActiveOnEdge=True,
    )
    assert set(created) == WIRE_KEYS
    assert uuid.UUID(created["id"])
    assert created["name"] == "Loyalty members ordered by ID"
    assert created["identityGraph"] == {"type": "pdg"}
    assert created["attributeMerge"] == {"type": "dataSetPrecedence", "order": order}
    assert (created["isActiveOnEdge"], created["default"], created["version"]) == (True, False, 1)
    assert int(before) <= created["updateEpoch"] <= time.time()  # seconds, not milliseconds
    assert created["imsOrgId"] == ORG and created["sandbox"]["sandboxName"] == "prod"
    assert get_policy(client, headers, created["id"]) == created


def test_create_ignores_read_only_fields_aepp_sends(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = create_policy(
        client, headers, imsOrgId="OTHER@AdobeOrg", updateEpoch=1234567890, version=9, id="mine"
    )
    assert created["imsOrgId"] == ORG
    assert created["version"] == 1 and created["id"] != "mine"
    assert created["updateEpoch"] != 1234567890


def test_accept_header_of_the_profile_client_is_answered_with_json(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.get(POLICIES, headers={**headers, "Accept": "application/vnd.adobe.xdm+json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"name": ""}, id="empty-name"),
        pytest.param({"name": "   "}, id="blank-name"),
        pytest.param({"name": "n" * 257}, id="long-name"),
        pytest.param({"name": None}, id="no-name"),
        pytest.param({"schema": None}, id="no-schema"),
        pytest.param({"schema": {"name": "_xdm.context.experienceevent"}}, id="event-class"),
        pytest.param({"schema": {"name": "_xdm.context.other"}}, id="unknown-class"),
        pytest.param({"identityGraph": None}, id="no-identity-graph"),
        pytest.param({"identityGraph": {"type": "auto"}}, id="graph-auto"),
        pytest.param({"identityGraph": {}}, id="graph-without-type"),
        pytest.param({"attributeMerge": None}, id="no-attribute-merge"),
        pytest.param({"attributeMerge": {"type": "latest"}}, id="unknown-merge"),
        pytest.param({"attributeMerge": {"type": "dataSetPrecedence"}}, id="precedence-no-order"),
        pytest.param(
            {"attributeMerge": {"type": "dataSetPrecedence", "order": []}},
            id="precedence-empty-order",
        ),
        pytest.param(
            {"attributeMerge": {"type": "dataSetPrecedence", "order": ["nope"]}},
            id="unknown-dataset",
        ),
        pytest.param(
            {"attributeMerge": {"type": "dataSetPrecedence", "order": "abc"}},
            id="order-not-an-array",
        ),
        pytest.param(
            {"attributeMerge": {"type": "timestampOrdered", "order": ["string"]}},
            id="order-with-timestamps",
        ),
        pytest.param({"default": "true"}, id="default-as-string"),
        pytest.param({"isActiveOnEdge": 1}, id="edge-as-number"),
    ],
)
def test_invalid_bodies_are_400_and_change_nothing(
    client: TestClient, headers: dict[str, str], change: dict[str, Any]
) -> None:
    before = all_policies(client, headers)
    body = {k: v for k, v in {**policy_body(), **change}.items() if v is not None}
    profile_error(client.post(POLICIES, headers=headers, json=body), 400)
    assert all_policies(client, headers) == before


def test_order_repeating_a_dataset_is_400(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    profile_dataset = dataset_ids(store)[PROFILE_CLASS]
    merge = {"type": "dataSetPrecedence", "order": [profile_dataset, profile_dataset]}
    response = client.post(POLICIES, headers=headers, json=policy_body(attributeMerge=merge))
    assert profile_dataset in profile_error(response, 400)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": "x",', "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"[]", "application/json"),
        (b'"a policy"', "application/json"),
        (b"null", "application/json"),
        (b"name=x", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_are_400_in_the_profile_shape(
    client: TestClient, headers: dict[str, str], content: bytes, content_type: str
) -> None:
    before = all_policies(client, headers)
    request_headers = {**headers, "Content-Type": content_type}
    profile_error(client.post(POLICIES, headers=request_headers, content=content), 400)
    policy_id = before[0]["id"]
    for method in ("PUT", "PATCH"):
        response = client.request(
            method, f"{POLICIES}/{policy_id}", headers=request_headers, content=content
        )
        profile_error(response, 400)
    profile_error(
        client.post(f"{POLICIES}/bulk-get", headers=request_headers, content=content), 400
    )
    assert all_policies(client, headers) == before


def test_datasets_of_another_sandbox_cannot_be_ordered(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    dev = tenant(store, ORG, "dev")
    foreign = store.catalog.create_dataset(dev, "dev profiles", PROFILE_CLASS)
    merge = {"type": "dataSetPrecedence", "order": [foreign.id]}
    response = client.post(POLICIES, headers=headers, json=policy_body(attributeMerge=merge))
    assert foreign.id in profile_error(response, 400)


def test_an_event_dataset_alone_can_be_ordered(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    events = dataset_ids(store)[EXPERIENCE_EVENT_CLASS]
    merge = {"type": "dataSetPrecedence", "order": [events]}
    created = create_policy(client, headers, attributeMerge=merge)
    assert created["attributeMerge"]["order"] == [events]


# --- default and edge -------------------------------------------------------------------


def test_a_new_default_undefaults_the_previous_one(
    client: TestClient, dev_headers: dict[str, str]
) -> None:
    headers = dev_headers  # a sandbox without the sample data's policies
    (original,) = all_policies(client, headers)
    created = create_policy(client, headers, default=True)
    assert created["default"] is True
    previous = get_policy(client, headers, original["id"])
    assert previous["default"] is False
    assert previous["version"] == original["version"] + 1
    listed = client.get(POLICIES, headers=headers, params={"default": "true"}).json()
    assert [p["id"] for p in listed["children"]] == [created["id"]]


def test_patching_and_putting_default_move_it(client: TestClient, headers: dict[str, str]) -> None:
    first = create_policy(client, headers)
    second = create_policy(client, headers)
    ops = {"op": "add", "path": "/default", "value": "true"}
    response = client.patch(f"{POLICIES}/{first['id']}", headers=headers, json=ops)
    assert response.status_code == 200 and response.json()["default"] is True
    body = policy_body(second["name"], default=True)
    response = client.put(f"{POLICIES}/{second['id']}", headers=headers, json=body)
    assert response.status_code == 200 and response.json()["default"] is True
    defaults = [p["id"] for p in all_policies(client, headers) if p["default"]]
    assert defaults == [second["id"]]


def test_the_default_cannot_be_undefaulted_directly(
    client: TestClient, dev_headers: dict[str, str]
) -> None:
    headers = dev_headers  # a sandbox without the sample data's policies
    (default,) = all_policies(client, headers)
    url = f"{POLICIES}/{default['id']}"
    ops = [{"op": "replace", "path": "/default", "value": False}]
    assert "default" in profile_error(client.patch(url, headers=headers, json=ops), 422)
    body = policy_body(default["name"], default=False)
    profile_error(client.put(url, headers=headers, json=body), 422)
    assert get_policy(client, headers, default["id"]) == default


def test_put_without_flags_keeps_them(client: TestClient, headers: dict[str, str]) -> None:
    created = create_policy(client, headers, default=True, isActiveOnEdge=True)
    body = policy_body("renamed", identityGraph={"type": "pdg"})
    response = client.put(f"{POLICIES}/{created['id']}", headers=headers, json=body)
    assert response.status_code == 200
    replaced = response.json()
    assert (replaced["default"], replaced["isActiveOnEdge"]) == (True, True)
    assert (replaced["name"], replaced["identityGraph"]) == ("renamed", {"type": "pdg"})


def test_only_one_policy_is_active_on_edge(client: TestClient, headers: dict[str, str]) -> None:
    edge = create_policy(client, headers, isActiveOnEdge=True)
    other = create_policy(client, headers)
    before = all_policies(client, headers)
    second = client.post(POLICIES, headers=headers, json=policy_body(isActiveOnEdge=True))
    assert edge["id"] in profile_error(second, 422)
    ops = [{"op": "add", "path": "/isActiveOnEdge", "value": "true"}]
    url = f"{POLICIES}/{other['id']}"
    profile_error(client.patch(url, headers=headers, json=ops), 422)
    put = policy_body(other["name"], isActiveOnEdge=True)
    profile_error(client.put(url, headers=headers, json=put), 422)
    assert all_policies(client, headers) == before
    off = [{"op": "add", "path": "/isActiveOnEdge", "value": "false"}]
    assert client.patch(f"{POLICIES}/{edge['id']}", headers=headers, json=off).status_code == 200
    moved = client.patch(url, headers=headers, json=ops)
    assert moved.status_code == 200 and moved.json()["isActiveOnEdge"] is True
    edges = [p["id"] for p in all_policies(client, headers) if p["isActiveOnEdge"]]
    assert edges == [other["id"]]


def test_edge_is_per_sandbox(
    client: TestClient, headers: dict[str, str], dev_headers: dict[str, str]
) -> None:
    create_policy(client, headers, isActiveOnEdge=True)
    assert create_policy(client, dev_headers, isActiveOnEdge=True)["isActiveOnEdge"] is True


# --- delete -----------------------------------------------------------------------------


def test_delete_answers_200_with_no_body_and_the_policy_is_gone(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = create_policy(client, headers)
    response = client.delete(f"{POLICIES}/{created['id']}", headers=headers)
    assert response.status_code == 200 and response.content == b""
    profile_error(client.get(f"{POLICIES}/{created['id']}", headers=headers), 404)
    profile_error(client.delete(f"{POLICIES}/{created['id']}", headers=headers), 404)


def test_the_default_and_the_edge_policy_cannot_be_deleted(
    client: TestClient, dev_headers: dict[str, str]
) -> None:
    headers = dev_headers  # a sandbox without the sample data's policies
    (default,) = all_policies(client, headers)
    edge = create_policy(client, headers, isActiveOnEdge=True)
    message = profile_error(client.delete(f"{POLICIES}/{default['id']}", headers=headers), 422)
    assert "default" in message
    message = profile_error(client.delete(f"{POLICIES}/{edge['id']}", headers=headers), 422)
    assert "isActiveOnEdge" in message
    assert {p["id"] for p in all_policies(client, headers)} == {default["id"], edge["id"]}


def test_a_policy_used_by_definitions_cannot_be_deleted(
    client: TestClient, headers: dict[str, str]
) -> None:
    policy = create_policy(client, headers)
    used = [
        create_definition(client, headers, 'person.gender = "x"', mergePolicyId=policy["id"])
        for _ in range(2)
    ]
    response = client.delete(f"{POLICIES}/{policy['id']}", headers=headers)
    assert "2 segment definitions use it" in profile_error(response, 409)
    for definition in used:
        assert client.delete(f"{DEFINITIONS}/{definition['id']}", headers=headers).is_success
    assert client.delete(f"{POLICIES}/{policy['id']}", headers=headers).status_code == 200


# --- PUT and PATCH ----------------------------------------------------------------------


def test_put_replaces_the_policy_and_bumps_the_version(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    created = create_policy(client, headers)
    profiles = dataset_ids(store)[PROFILE_CLASS]
    body = {
        **created,
        "name": "by dataset",
        "identityGraph": {"type": "pdg"},
        "attributeMerge": {"type": "dataSetPrecedence", "order": [profiles]},
    }
    response = client.put(f"{POLICIES}/{created['id']}", headers=headers, json=body)
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["id"] == created["id"]
    assert replaced["version"] == 2 and replaced["updateEpoch"] >= created["updateEpoch"]
    assert replaced["attributeMerge"] == {"type": "dataSetPrecedence", "order": [profiles]}
    assert get_policy(client, headers, created["id"]) == replaced
    bad = {**body, "attributeMerge": {"type": "dataSetPrecedence"}}
    profile_error(client.put(f"{POLICIES}/{created['id']}", headers=headers, json=bad), 400)
    assert get_policy(client, headers, created["id"]) == replaced


def test_patch_accepts_one_operation_or_an_array(
    client: TestClient, headers: dict[str, str]
) -> None:
    created = create_policy(client, headers)
    url = f"{POLICIES}/{created['id']}"
    single = {"op": "add", "path": "/identityGraph.type", "value": "pdg"}
    first = client.patch(url, headers=headers, json=single)
    assert first.status_code == 200, first.text
    assert first.json()["identityGraph"] == {"type": "pdg"} and first.json()["version"] == 2
    many = [
        {"op": "replace", "path": "/name", "value": "patched"},
        {"op": "add", "path": "/schema.name", "value": "_xdm.context.profile"},
        {"op": "add", "path": "/isActiveOnEdge", "value": True},
    ]
    second = client.patch(url, headers=headers, json=many).json()
    assert (second["name"], second["isActiveOnEdge"], second["version"]) == ("patched", True, 3)
    assert get_policy(client, headers, created["id"]) == second


def test_patch_switches_between_merge_types(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    created = create_policy(client, headers)
    url = f"{POLICIES}/{created['id']}"
    ids = dataset_ids(store)
    order = [ids[EXPERIENCE_EVENT_CLASS], ids[PROFILE_CLASS]]
    to_precedence = [
        {"op": "add", "path": "/attributeMerge.type", "value": "dataSetPrecedence"},
        {"op": "add", "path": "/attributeMerge.order", "value": order},
    ]
    precedence = client.patch(url, headers=headers, json=to_precedence).json()
    assert precedence["attributeMerge"] == {"type": "dataSetPrecedence", "order": order}
    reordered = client.patch(
        url, headers=headers, json=[{**to_precedence[1], "value": order[::-1]}]
    ).json()
    assert reordered["attributeMerge"]["order"] == order[::-1]
    back = [{"op": "add", "path": "/attributeMerge.type", "value": "timestampOrdered"}]
    timestamps = client.patch(url, headers=headers, json=back).json()
    assert timestamps["attributeMerge"] == {"type": "timestampOrdered"}


@pytest.mark.parametrize(
    ("operations", "status"),
    [
        pytest.param([], 400, id="no-operations"),
        pytest.param("add", 400, id="not-an-operation"),
        pytest.param([1], 400, id="operation-not-an-object"),
        pytest.param({"op": "remove", "path": "/name"}, 400, id="remove"),
        pytest.param({"op": "copy", "path": "/name", "value": "x"}, 400, id="copy"),
        pytest.param({"op": "add", "path": "/version", "value": 5}, 400, id="version"),
        pytest.param({"op": "add", "path": "/id", "value": "x"}, 400, id="id"),
        pytest.param({"op": "add", "path": "/idActiveOnEdge", "value": True}, 400, id="typo"),
        pytest.param({"op": "add", "path": "/identityGraph/type", "value": "pdg"}, 400, id="slash"),
        pytest.param({"op": "add", "path": "/name"}, 400, id="no-value"),
        pytest.param({"path": "/name", "value": "x"}, 400, id="no-op"),
        pytest.param({"op": "add", "path": "/name", "value": ""}, 400, id="empty-name"),
        pytest.param({"op": "add", "path": "/name", "value": 3}, 400, id="numeric-name"),
        pytest.param({"op": "add", "path": "/default", "value": "yes"}, 400, id="default-yes"),
        pytest.param({"op": "add", "path": "/isActiveOnEdge", "value": None}, 400, id="edge-null"),
        pytest.param({"op": "add", "path": "/identityGraph.type", "value": "auto"}, 400, id="auto"),
        pytest.param(
            {"op": "add", "path": "/attributeMerge.type", "value": "dataSetPrecedence"},
            400,
            id="precedence-without-order",
        ),
        pytest.param(
            {"op": "add", "path": "/attributeMerge.order", "value": ["x"]},
            400,
            id="order-with-timestamps",
        ),
        pytest.param(
            {"op": "add", "path": "/attributeMerge.order", "value": "x"},
            400,
            id="order-not-an-array",
        ),
        pytest.param(
            {"op": "add", "path": "/schema.name", "value": "_xdm.context.experienceevent"},
            400,
            id="event-class",
        ),
        pytest.param(
            [
                {"op": "add", "path": "/name", "value": "fine"},
                {"op": "add", "path": "/default", "value": "maybe"},
            ],
            400,
            id="one-bad-of-two",
        ),
    ],
)
def test_invalid_patches_change_nothing(
    client: TestClient, headers: dict[str, str], operations: Any, status: int
) -> None:
    created = create_policy(client, headers)
    url = f"{POLICIES}/{created['id']}"
    profile_error(client.patch(url, headers=headers, json=operations), status)
    assert get_policy(client, headers, created["id"]) == created


# --- lists ------------------------------------------------------------------------------


def walk(client: TestClient, headers: dict[str, str], first: str) -> list[dict[str, Any]]:
    """Follow ``_links.next.href`` the way aepp does: its query string appended to the path."""
    pages: list[dict[str, Any]] = []
    url = first
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        href = pages[-1]["_links"]["next"]["href"]
        if href == "":
            return pages
        assert href.startswith("@/mergePolicies?")
        url = f"{POLICIES}?{href.split('?')[1]}"


def test_paging_walks_to_the_end_in_name_order(
    client: TestClient, dev_headers: dict[str, str]
) -> None:
    headers = dev_headers  # a sandbox without the sample data's policies
    for name in ("p-e", "p-a", "p-d", "p-b", "p-f", "p-c"):
        create_policy(client, headers, name)
    pages = walk(client, headers, f"{POLICIES}?limit=2")
    assert [p["_page"] for p in pages] == [
        {"totalCount": 7, "pageSize": size} for size in (2, 2, 2, 1)
    ]
    names = [child["name"] for page in pages for child in page["children"]]
    assert names == sorted(names) and len(set(names)) == 7
    assert "orderBy=name&limit=2" in pages[0]["_links"]["next"]["href"]
    descending = walk(client, headers, f"{POLICIES}?limit=3&orderBy=-name")
    assert [c["name"] for p in descending for c in p["children"]] == names[::-1]


def test_order_by_plus_name_and_update_epoch(client: TestClient, headers: dict[str, str]) -> None:
    made = [create_policy(client, headers, name) for name in ("z-first", "a-second")]
    unencoded_plus = client.get(f"{POLICIES}?orderBy=+name", headers=headers).json()
    encoded_plus = client.get(POLICIES, headers=headers, params={"orderBy": "+name"}).json()
    assert unencoded_plus["children"] == encoded_plus["children"]
    assert encoded_plus["children"][0]["name"] == "Default Timebased"
    newest_first = walk(client, headers, f"{POLICIES}?orderBy=-updateEpoch&limit=1")
    ids = [c["id"] for p in newest_first for c in p["children"]]
    assert ids[:2] == [made[1]["id"], made[0]["id"]]
    lowercase = client.get(POLICIES, headers=headers, params={"orderby": "-name"}).json()
    assert lowercase["children"][0]["name"] == "z-first"


def test_repeated_limit_takes_the_last_value(
    client: TestClient, dev_headers: dict[str, str]
) -> None:
    headers = dev_headers  # a sandbox without the sample data's policies
    for _ in range(3):
        create_policy(client, headers)
    listed = client.get(f"{POLICIES}?limit=100&limit=2", headers=headers).json()
    assert listed["_page"] == {"totalCount": 4, "pageSize": 2}
    assert listed["_links"]["next"]["href"].endswith("limit=2")


def test_default_limit_is_20_and_start_0_is_the_first_page(
    client: TestClient, dev_headers: dict[str, str]
) -> None:
    headers = dev_headers  # a sandbox without the sample data's policies
    for index in range(21):
        create_policy(client, headers, f"bulk {index:02d}")
    first = client.get(POLICIES, headers=headers).json()
    assert first["_page"] == {"totalCount": 22, "pageSize": 20}
    assert first["_links"]["next"]["href"] != ""
    assert client.get(POLICIES, headers=headers, params={"start": "0"}).json() == first
    skipped = client.get(POLICIES, headers=headers, params={"start": "20"}).json()
    assert [c["id"] for c in skipped["children"]] == [
        c["id"] for c in walk(client, headers, POLICIES)[1]["children"]
    ]


def test_filters(client: TestClient, dev_headers: dict[str, str], store: Store) -> None:
    headers = dev_headers  # a sandbox without the sample data's policies
    profiles = store.catalog.create_dataset(tenant(store, ORG, "dev"), "CRM", PROFILE_CLASS).id
    graph = create_policy(client, headers, "graph", identityGraph={"type": "pdg"})
    ordered = create_policy(
        client,
        headers,
        "ordered",
        attributeMerge={"type": "dataSetPrecedence", "order": [profiles]},
        isActiveOnEdge=True,
    )
    patched = client.patch(
        f"{POLICIES}/{graph['id']}",
        headers=headers,
        json={"op": "add", "path": "/name", "value": "g"},
    ).json()

    def names(**params: str) -> list[str]:
        response = client.get(POLICIES, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [c["name"] for c in response.json()["children"]]

    assert names(default="true") == ["Default Timebased"]
    assert names(default="false") == ["g", "ordered"]
    assert names(**{"identityGraph.type": "pdg"}) == [patched["name"]]
    assert names(**{"attributeMerge.type": "dataSetPrecedence"}) == [ordered["name"]]
    assert names(isActiveOnEdge="TRUE") == ["ordered"]
    assert names(version="2") == ["g"]
    assert names(**{"schema.name": "_xdm.context.profile"}) == ["Default Timebased", "g", "ordered"]
    assert names(**{"schema.name": "_xdm.context.experienceevent"}) == []
    first = client.get(POLICIES, headers=headers, params={"default": "false", "limit": 1}).json()
    href = first["_links"]["next"]["href"]
    assert "default=false" in href
    rest = client.get(f"{POLICIES}?{href.split('?')[1]}", headers=headers).json()
    assert [c["name"] for c in rest["children"]] == ["ordered"]
    assert rest["_links"]["next"]["href"] == ""


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"orderBy": "creationTime"},
        {"orderBy": "--name"},
        {"start": "not a token"},
        {"start": "WyJuYW1lIiwxLCJ4Il0"},  # a token with a number for a name
        {"start": "99999999999999999999"},
        {"default": "maybe"},
        {"isActiveOnEdge": "1"},
        {"identityGraph.type": "auto"},
        {"attributeMerge.type": "latest"},
        {"version": "x"},
        {"version": "0"},
    ],
)
def test_bad_list_parameters_are_400(
    client: TestClient, headers: dict[str, str], params: dict[str, str]
) -> None:
    profile_error(client.get(POLICIES, headers=headers, params=params), 400)


def test_a_token_continues_only_the_order_it_was_made_for(
    client: TestClient, headers: dict[str, str]
) -> None:
    for _ in range(2):
        create_policy(client, headers)
    href = client.get(POLICIES, headers=headers, params={"limit": 1}).json()["_links"]["next"]
    token = href["href"].split("start=")[1].split("&")[0]
    response = client.get(POLICIES, headers=headers, params={"start": token, "orderBy": "-name"})
    assert "orderBy" in profile_error(response, 400)


# --- bulk-get ---------------------------------------------------------------------------


def test_bulk_get_reports_unknown_ids(
    client: TestClient, headers: dict[str, str], dev_headers: dict[str, str]
) -> None:
    mine = create_policy(client, headers)
    theirs = create_policy(client, dev_headers)
    body = {"ids": [{"id": mine["id"]}, {"id": "nope"}, {"id": theirs["id"]}, {"id": mine["id"]}]}
    response = client.post(f"{POLICIES}/bulk-get", headers=headers, json=body)
    assert response.status_code == 207
    results = response.json()["results"]
    assert list(results) == [mine["id"], "nope", theirs["id"]]
    assert results[mine["id"]] == mine
    for unknown in ("nope", theirs["id"]):
        assert results[unknown]["status"] == 404 and results[unknown]["title"] == "Not Found"
        assert "name" not in results[unknown]
    for bad in ({"ids": []}, {"ids": ["x"]}, {}, {"ids": [{"id": ""}]}):
        profile_error(client.post(f"{POLICIES}/bulk-get", headers=headers, json=bad), 400)


# --- isolation and error shapes ---------------------------------------------------------


def test_another_sandboxs_policy_is_not_found(
    client: TestClient, headers: dict[str, str], dev_headers: dict[str, str]
) -> None:
    theirs = create_policy(client, dev_headers, "dev only")
    url = f"{POLICIES}/{theirs['id']}"
    ops = [{"op": "add", "path": "/name", "value": "taken"}]
    responses = [
        client.get(url, headers=headers),
        client.put(url, headers=headers, json=policy_body("taken")),
        client.patch(url, headers=headers, json=ops),
        client.delete(url, headers=headers),
    ]
    for response in responses:
        message = profile_error(response, 404)
        assert message == f"UPS-MP-404-1: merge policy {theirs['id']} was not found"
    assert get_policy(client, dev_headers, theirs["id"]) == theirs
    assert theirs["id"] not in [p["id"] for p in all_policies(client, headers)]


def test_gateway_errors_keep_the_gateway_shape(client: TestClient, headers: dict[str, str]) -> None:
    anonymous = {k: v for k, v in headers.items() if k != "Authorization"}
    response = client.get(POLICIES, headers=anonymous)
    assert response.status_code == 403
    assert response.json() == {"error_code": "403010", "message": "Oauth token is missing."}
    wrong_key = client.post(POLICIES, headers={**headers, "x-api-key": "x"}, json=policy_body())
    assert wrong_key.json()["error_code"] == "403003"


# --- definitions refer to existing policies ---------------------------------------------


def test_definitions_need_a_policy_of_their_sandbox(
    client: TestClient, headers: dict[str, str], dev_headers: dict[str, str]
) -> None:
    theirs = create_policy(client, dev_headers)
    body = {
        "name": "with policy",
        "schema": {"name": "_xdm.context.profile"},
        "expression": {"type": "PQL", "format": "pql/text", "value": 'person.gender = "x"'},
    }
    for unknown in ("nope", theirs["id"]):
        response = client.post(
            DEFINITIONS, headers=headers, json={**body, "mergePolicyId": unknown}
        )
        assert response.status_code == 400, response.text
    definition = create_definition(client, headers, 'person.gender = "x"')
    url = f"{DEFINITIONS}/{definition['id']}"
    for unknown in ("nope", theirs["id"]):
        response = client.patch(url, headers=headers, json={**definition, "mergePolicyId": unknown})
        assert response.status_code == 400, response.text
    mine = create_policy(client, headers)
    moved = client.patch(url, headers=headers, json={**definition, "mergePolicyId": mine["id"]})
    assert moved.status_code == 200 and moved.json()["mergePolicyId"] == mine["id"]


# --- the repository, on SQLite and PostgreSQL -------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def repository_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = Store.open(url, tmp_path)
    opened.tenants.ensure_sandboxes(ORG, ("prod", "dev"))
    yield opened
    opened.close()


def draft(name: str, **overrides: Any) -> PolicyDraft:
    values: dict[str, Any] = {
        "name": name,
        "schema_name": PROFILE_CLASS,
        "identity_graph": IdentityGraphType.NONE,
        "attribute_merge": AttributeMergeType.TIMESTAMP_ORDERED,
    }
    values.update(overrides)
    return PolicyDraft(**values)


def sandbox(store: Store, name: str = "prod") -> Tenant:
    return tenant(store, ORG, name)


def test_repository_keeps_one_default_and_one_edge(repository_store: Store) -> None:
    store, prod = repository_store, sandbox(repository_store)
    policies = store.merge_policies
    original = policies.default(prod)
    assert (original.name, original.created_ms > 0, original.order) == (
        "Default Timebased",
        True,
        (),
    )
    made = policies.create(prod, draft("new default", is_default=True, is_active_on_edge=True))
    assert policies.default(prod).id == made.id
    demoted = policies.get(prod, original.id)
    assert demoted is not None and not demoted.is_default and demoted.version == 2
    with pytest.raises(MergePolicyConflict):
        policies.create(prod, draft("second edge", is_active_on_edge=True))
    with pytest.raises(MergePolicyConflict):
        policies.patch(prod, made.id, PolicyChanges(is_default=False))
    with pytest.raises(MergePolicyConflict):
        policies.delete(prod, made.id)
    assert policies.patch(prod, "missing", PolicyChanges(name="x")) is None
    assert policies.patch(sandbox(store, "dev"), made.id, PolicyChanges(name="x")) is None
    assert not policies.delete(sandbox(store, "dev"), made.id)


def test_repository_checks_orders_against_datasets(repository_store: Store) -> None:
    store, prod = repository_store, sandbox(repository_store)
    events = store.catalog.create_dataset(prod, "events", EXPERIENCE_EVENT_CLASS)
    elsewhere = store.catalog.create_dataset(sandbox(store, "dev"), "dev", PROFILE_CLASS)
    precedence = AttributeMergeType.DATASET_PRECEDENCE
    made = store.merge_policies.create(
        prod, draft("events", attribute_merge=precedence, order=(events.id,))
    )
    assert made.merges_dataset(events.id) and not made.merges_dataset(elsewhere.id)
    with pytest.raises(InvalidMergePolicy):
        store.merge_policies.create(
            prod, draft("foreign", attribute_merge=precedence, order=(elsewhere.id,))
        )
    switched = store.merge_policies.patch(
        prod, made.id, PolicyChanges(attribute_merge=AttributeMergeType.TIMESTAMP_ORDERED)
    )
    assert switched is not None and switched.order == () and switched.version == 2


def test_repository_refuses_deleting_a_policy_in_use(repository_store: Store) -> None:
    store, prod = repository_store, sandbox(repository_store)
    used = store.merge_policies.create(prod, draft("used"))
    sample = _definition_using(store, prod, used.id)
    with pytest.raises(MergePolicyInUse) as raised:
        store.merge_policies.delete(prod, used.id)
    assert raised.value.definitions == 1
    assert store.definitions.delete(prod, sample)
    assert store.merge_policies.delete(prod, used.id)
    assert store.merge_policies.get(prod, used.id) is None


def _definition_using(store: Store, prod: Tenant, policy_id: str) -> str:
    stored = store.definitions.create(
        prod,
        Definition(
            id="",
            name=f"uses {policy_id}",
            description=None,
            expression_type="PQL",
            expression_format="pql/text",
            expression_value='person.gender = "x"',
            merge_policy_id=policy_id,
            schema_name=PROFILE_CLASS,
            ttl_in_days=None,
            evaluation_info={},
            profile_instance_id="ups",
            payload_schema=None,
            created_ms=0,
            updated_ms=0,
        ),
    )
    return stored.id


def test_repository_pages_by_keyset(repository_store: Store) -> None:
    store, prod = repository_store, sandbox(repository_store)
    for name in ("b", "a", "c", "a", "d"):
        store.merge_policies.create(prod, draft(name))
    created = PolicyFilter(is_default=False)  # lowercase names sort alike in every collation
    for order in (PolicyOrder("name"), PolicyOrder("name", True), PolicyOrder("updateEpoch")):
        seen: list[MergePolicy] = []
        after = None
        while True:
            query = PolicyQuery(filters=created, order=order, limit=2, after=after)
            page = store.merge_policies.page(prod, query)
            assert page.total_count == 5
            seen += page.policies
            if page.next is None:
                break
            after = page.next
        assert len({p.id for p in seen}) == 5
        keys = [(p.name if order.field == "name" else p.updated_ms, p.id) for p in seen]
        assert keys == sorted(keys, reverse=order.descending)
    only_default = PolicyQuery(filters=PolicyFilter(is_default=True))
    assert [p.name for p in store.merge_policies.page(prod, only_default).policies] == [
        "Default Timebased"
    ]


def test_concurrent_writes_keep_one_default_and_one_edge(repository_store: Store) -> None:
    store, prod = repository_store, sandbox(repository_store)
    made = [store.merge_policies.create(prod, draft(f"racer {i}")) for i in range(6)]
    outcomes: list[str] = []

    def race(policy_id: str) -> None:
        store.merge_policies.patch(prod, policy_id, PolicyChanges(is_default=True))
        try:
            store.merge_policies.patch(prod, policy_id, PolicyChanges(is_active_on_edge=True))
            outcomes.append("edge")
        except MergePolicyConflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=race, args=(p.id,)) for p in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = store.merge_policies.page(prod, PolicyQuery(limit=100)).policies
    assert sum(p.is_default for p in everything) == 1
    assert sum(p.is_active_on_edge for p in everything) == 1
    assert sorted(outcomes) == ["edge"] + ["refused"] * 5


def test_the_service_runs_merge_policies_on_postgres(tmp_path: Path, postgres_url: str) -> None:
    settings = make_settings(tmp_path / "home", database_url=postgres_url, sample_profiles=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as pg_client:
        pg_headers = aep_headers(token_for(pg_client))
        for name in ("c", "a", "b"):
            create_policy(pg_client, pg_headers, name)
        pages = walk(pg_client, pg_headers, f"{POLICIES}?limit=2&orderBy=-name")
        names = [c["name"] for p in pages for c in p["children"]]
        assert [n for n in names if n != "Default Timebased"] == ["c", "b", "a"]
        assert len(names) == 4 and [len(p["children"]) for p in pages] == [2, 2]
        made = create_policy(pg_client, pg_headers, default=True)
        defaults = [p["id"] for p in all_policies(pg_client, pg_headers) if p["default"]]
        assert defaults == [made["id"]]
