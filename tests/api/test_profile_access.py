"""Profile access (``/access/entities``) and segment jobs over merged, stitched profiles: a
person made of a CRM record, a loyalty record and two devices' events."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmint.jobs.model import Tenant
from segmint.profiles.ingest import write_batch
from segmint.store import BATCH_SUCCESS, Store
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS
from tests.api.helpers import BASE, create_definition, create_job, get_job, tenant
from tests.support import ORG, aep_headers, token_for

ENTITIES = f"{BASE}/access/entities"
POLICIES = f"{BASE}/config/mergePolicies"
PHONE_ECID = "1" * 38
LAPTOP_ECID = "2" * 38
STRANGER_ECID = "3" * 38
NOW = datetime.now().replace(microsecond=0)


def _ids(*identities: tuple[str, str]) -> dict[str, Any]:
    identity_map: dict[str, list[dict[str, Any]]] = {}
    for position, (namespace, value) in enumerate(identities):
        identity_map.setdefault(namespace, []).append({"id": value, "primary": position == 0})
    return identity_map


def ingest(
    store: Store, where: Tenant, name: str, schema_name: str, rows: list[dict[str, Any]]
) -> str:
    dataset = store.catalog.create_dataset(where, name, schema_name)
    batch_id = str(uuid.uuid4())
    kind = "profile" if schema_name == PROFILE_CLASS else "event"
    result = write_batch(
        rows,
        kind=kind,
        schema=store.schemas.schema(where),
        out_dir=store.catalog.batch_dir(where, dataset.id, batch_id),
    )
    assert not result.errors, result.errors
    store.catalog.record_batch(
        dataset.id,
        batch_id,
        status=BATCH_SUCCESS,
        records_read=result.records_read,
        records_written=result.records_written,
        errors=None,
    )
    return dataset.id


def _event(identities: dict[str, Any], event_type: str, days_ago: int) -> dict[str, Any]:
    return {
        "_id": uuid.uuid4().hex,
        "timestamp": (NOW - timedelta(days=days_ago)).isoformat(),
        "eventType": event_type,
        "identityMap": identities,
    }


@pytest.fixture
def dev(client: TestClient, store: Store) -> dict[str, Any]:
    """The ``dev`` sandbox with one stitched person and one anonymous visitor."""
    where = tenant(store, ORG, "dev")
    crm = ingest(
        store,
        where,
        "CRM",
        PROFILE_CLASS,
        [
            {
                "identityMap": _ids(("CRMID", "C1"), ("Email", "dan@example.com")),
                "person": {"name": {"firstName": "Daniel", "lastName": "Doe"}},
                "homeAddress": {"city": "Lyon"},
            },
        ],
    )
    loyalty = ingest(
        store,
        where,
        "Loyalty",
        PROFILE_CLASS,
        [
            {
                "identityMap": _ids(("Email", "dan@example.com")),
                "person": {"name": {"firstName": "Danny"}},
                "loyalty": {"tier": "gold"},
            },
        ],
    )
    web = ingest(
        store,
        where,
        "Web",
        EXPERIENCE_EVENT_CLASS,
        [
            _event(_ids(("ECID", PHONE_ECID)), "commerce.purchases", 2),
            _event(_ids(("ECID", PHONE_ECID), ("CRMID", "C1")), "web.webpagedetails.pageViews", 1),
            _event(
                _ids(("ECID", LAPTOP_ECID), ("Email", "dan@example.com")), "web.formFilledOut", 0
            ),
            _event(_ids(("ECID", STRANGER_ECID)), "web.webpagedetails.pageViews", 3),
        ],
    )
    return {"tenant": where, "crm": crm, "loyalty": loyalty, "web": web}


@pytest.fixture
def dev_headers(client: TestClient) -> dict[str, str]:
    return aep_headers(token_for(client), sandbox="dev")


def _policy(client: TestClient, headers: dict[str, str], **body: Any) -> str:
    payload = {
        "name": f"policy {uuid.uuid4().hex[:6]}",
        "schema": {"name": PROFILE_CLASS},
        "identityGraph": {"type": "pdg"},
        "attributeMerge": {"type": "timestampOrdered"},
        **body,
    }
    response = client.post(POLICIES, headers=headers, json=payload)
    assert response.status_code == 200, response.text
    policy_id: str = response.json()["id"]
    return policy_id


def _entity(client: TestClient, headers: dict[str, str], **params: str) -> Any:
    response = client.get(
        ENTITIES, headers=headers, params={"schema.name": PROFILE_CLASS, **params}
    )
    return response


def test_a_stitched_profile_merges_every_fragment(
    client: TestClient, dev: dict[str, Any], dev_headers: dict[str, str]
) -> None:
    stitched = _policy(client, dev_headers)
    response = _entity(
        client, dev_headers, entityId=PHONE_ECID, entityIdNS="ECID", mergePolicyId=stitched
    )
    assert response.status_code == 200, response.text
    ((xid, found),) = response.json().items()
    assert found["entityId"] == xid and found["mergePolicy"] == {"id": stitched}
    entity = found["entity"]
    assert entity["person"]["name"] == {"firstName": "Danny", "lastName": "Doe"}  # newest wins
    assert entity["homeAddress"]["city"] == "Lyon" and entity["loyalty"]["tier"] == "gold"
    identities = {(ns, i["id"]) for ns, items in entity["identityMap"].items() for i in items}
    assert identities == {
        ("CRMID", "C1"),
        ("Email", "dan@example.com"),
        ("ECID", PHONE_ECID),
        ("ECID", LAPTOP_ECID),
    }
    assert sorted(found["sources"]) == sorted([dev["crm"], dev["loyalty"]])
    assert found["lastModifiedAt"]
    again = _entity(client, dev_headers, entityId=xid, mergePolicyId=stitched)
    assert again.json() == response.json()  # the XID needs no namespace


def test_without_stitching_an_identity_is_its_own_profile(
    client: TestClient, dev: dict[str, Any], dev_headers: dict[str, str]
) -> None:
    response = _entity(client, dev_headers, entityId=PHONE_ECID, entityIdNS="ECID")
    assert response.status_code == 200, response.text
    ((_, found),) = response.json().items()
    assert found["entity"]["identityMap"] == {"ECID": [{"id": PHONE_ECID, "primary": True}]}
    email = _entity(client, dev_headers, entityId="dan@example.com", entityIdNS="Email")
    ((_, loyal),) = email.json().items()
    assert loyal["entity"]["person"]["name"] == {"firstName": "Danny"}


def test_fields_choose_what_comes_back(
    client: TestClient, dev: dict[str, Any], dev_headers: dict[str, str]
) -> None:
    stitched = _policy(client, dev_headers)
    response = _entity(
        client,
        dev_headers,
        entityId="C1",
        entityIdNS="CRMID",
        mergePolicyId=stitched,
        fields="identities,person.name.firstName",
    )
    ((_, found),) = response.json().items()
    assert set(found["entity"]) == {"identities", "person"}
    assert found["entity"]["person"] == {"name": {"firstName": "Danny"}}
    assert {"id": "C1", "namespace": {"code": "CRMID"}} in found["entity"]["identities"]


def test_a_job_on_stitched_profiles_counts_every_devices_events(
    client: TestClient, dev: dict[str, Any], dev_headers: dict[str, str], run_jobs: Any
) -> None:
    stitched = _policy(client, dev_headers)
    purchase = (
        'select X from xEvent where X.eventType = "commerce.purchases" '
        "and X.timestamp occurs <= 7 days before now"
    )
    danny_buyer = create_definition(
        client,
        dev_headers,
        f'person.name.firstName = "Danny" and ({purchase})',
        mergePolicyId=stitched,
    )
    loose = create_definition(
        client, dev_headers, f'person.name.firstName = "Danny" and ({purchase})'
    )
    job = create_job(client, dev_headers, [danny_buyer["id"], loose["id"]])
    run_jobs()
    done = get_job(client, dev_headers, job["id"])
    assert done["status"] == "SUCCEEDED", done.get("errors")
    metrics = done["metrics"]
    # Stitched: one person (the phone's purchase is Danny's). Unstitched: the purchase belongs
    # to the phone's anonymous profile, Danny's loyalty profile has no purchase.
    assert metrics["segmentedProfileCounter"] == {danny_buyer["id"]: 1, loose["id"]: 0}
    default = client.get(POLICIES, headers=dev_headers).json()["children"]
    default_id = next(p["id"] for p in default if p["default"])
    # Stitched: the person and the stranger. Unstitched: CRMID, Email and three ECIDs.
    assert metrics["totalProfilesByMergePolicy"] == {stitched: 2, default_id: 5}
    namespaces = metrics["segmentedProfileByNamespaceCounter"][danny_buyer["id"]]
    assert namespaces == {"CRMID": 1, "ECID": 1, "Email": 1}

    response = _entity(
        client, dev_headers, entityId=LAPTOP_ECID, entityIdNS="ECID", mergePolicyId=stitched
    )
    ((_, found),) = response.json().items()
    membership = found["entity"]["segmentMembership"]["ups"]
    assert membership == {
        danny_buyer["id"]: {
            "status": "realized",
            "lastQualificationTime": membership[danny_buyer["id"]]["lastQualificationTime"],
        }
    }


def test_a_persons_events_from_every_identity(
    client: TestClient, dev: dict[str, Any], dev_headers: dict[str, str]
) -> None:
    stitched = _policy(client, dev_headers)
    params = {
        "schema.name": EXPERIENCE_EVENT_CLASS,
        "relatedSchema.name": PROFILE_CLASS,
        "relatedEntityId": "dan@example.com",
        "relatedEntityIdNS": "Email",
        "mergePolicyId": stitched,
    }
    response = client.get(ENTITIES, headers=dev_headers, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    types = [child["entity"]["eventType"] for child in body["children"]]
    assert types == ["commerce.purchases", "web.webpagedetails.pageViews", "web.formFilledOut"]
    assert body["_links"]["next"]["href"] == ""
    first = client.get(
        ENTITIES, headers=dev_headers, params={**params, "limit": "2", "orderby": "-timestamp"}
    ).json()
    assert len(first["children"]) == 2 and first["_page"]["next"] == "2"
    assert first["_links"]["next"]["href"].startswith("/entities?start=2")
    rest = client.get(
        ENTITIES,
        headers=dev_headers,
        params={**params, "limit": "2", "orderby": "-timestamp", "start": "2"},
    ).json()
    assert [c["entity"]["eventType"] for c in rest["children"]] == ["commerce.purchases"]
    window = client.get(
        ENTITIES,
        headers=dev_headers,
        params={
            **params,
            "startTime": str(int((NOW - timedelta(days=1, hours=1)).timestamp() * 1000)),
        },
    ).json()
    assert len(window["children"]) == 2


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 400),
        ({"schema.name": "_xdm.context.account", "entityId": "x", "entityIdNS": "Email"}, 400),
        ({"schema.name": PROFILE_CLASS}, 400),
        (
            {"schema.name": PROFILE_CLASS, "entityId": "nobody@example.com", "entityIdNS": "Email"},
            404,
        ),
        ({"schema.name": PROFILE_CLASS, "entityId": "not-an-xid"}, 404),
        (
            {
                "schema.name": PROFILE_CLASS,
                "entityId": "C1",
                "entityIdNS": "CRMID",
                "mergePolicyId": "nope",
            },
            404,
        ),
        (
            {
                "schema.name": EXPERIENCE_EVENT_CLASS,
                "relatedEntityId": "C1",
                "relatedEntityIdNS": "CRMID",
                "startTime": "soon",
            },
            400,
        ),
        (
            {
                "schema.name": EXPERIENCE_EVENT_CLASS,
                "relatedEntityId": "C1",
                "relatedEntityIdNS": "CRMID",
                "orderby": "name",
            },
            400,
        ),
        (
            {
                "schema.name": EXPERIENCE_EVENT_CLASS,
                "relatedEntityId": "C1",
                "relatedEntityIdNS": "CRMID",
                "limit": "0",
            },
            400,
        ),
    ],
)
def test_bad_lookups_are_answered_in_the_profile_shape(
    client: TestClient,
    dev: dict[str, Any],
    dev_headers: dict[str, str],
    params: dict[str, str],
    status: int,
) -> None:
    response = client.get(ENTITIES, headers=dev_headers, params=params)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == str(status) and body["message"].startswith("UPS-")


def test_another_sandbox_never_sees_the_profile(
    client: TestClient, dev: dict[str, Any], headers: dict[str, str]
) -> None:
    response = _entity(client, headers, entityId="C1", entityIdNS="CRMID")
    assert response.status_code == 404
    assert "Daniel" not in response.text


def test_reading_a_segment_across_stitched_and_unstitched_profiles_fails_the_job(
    client: TestClient, dev: dict[str, Any], dev_headers: dict[str, str], run_jobs: Any
) -> None:
    stitched = _policy(client, dev_headers)
    danny = create_definition(
        client, dev_headers, 'person.name.firstName = "Danny"', mergePolicyId=stitched
    )
    reader = create_definition(client, dev_headers, f'inSegment("{danny["id"]}")')
    first = create_job(client, dev_headers, [danny["id"]])
    run_jobs()
    assert get_job(client, dev_headers, first["id"])["status"] == "SUCCEEDED"
    for segment_ids in ([reader["id"]], [danny["id"], reader["id"]]):
        job = create_job(client, dev_headers, segment_ids)
        run_jobs()
        failed = get_job(client, dev_headers, job["id"])
        assert failed["status"] == "FAILED"
        (error,) = failed["errors"]
        assert error["code"] == "SEG-4001"
        assert danny["id"] in error["msg"] and "stitched and unstitched" in error["msg"]
