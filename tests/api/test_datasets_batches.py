"""Datasets and batches over HTTP, as AEP's Catalog Service and Batch Ingestion API define
them: create a dataset, create a batch, upload files, COMPLETE or ABORT, read the batch's
status, metrics and per-record errors. Partial ingestion loses no good record, a failure
leaves nothing half written, re-sent events are not duplicated, bad input is a 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from segmint.api.app import create_app
from segmint.profiles import ingest as ingest_module
from segmint.profiles.ingest import write_batch
from segmint.store import Store
from segmint.store.tables import batches
from segmint.xdm import DEFAULT_SCHEMA
from tests.api.helpers import create_definition, create_job, get_job, tenant
from tests.api.ingestion_helpers import (
    CATALOG,
    EVENT_REF,
    IMPORT,
    PROFILE_REF,
    action,
    assert_problem,
    create_batch,
    create_dataset,
    dataset_rows,
    event,
    get_batch,
    ingest,
    ndjson,
    profile,
    upload,
)
from tests.support import ORG, aep_headers, make_settings, token_for

# --- datasets ----------------------------------------------------------------------------------


def test_creating_a_dataset_answers_its_catalog_link(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post(
        f"{CATALOG}/dataSets",
        headers=headers,
        json={
            "name": "Loyalty Members",
            "description": "members of the loyalty program",
            "schemaRef": {"id": PROFILE_REF, "contentType": "application/vnd.adobe.xed+json"},
            "tags": {"team": ["crm"]},
        },
    )
    assert response.status_code == 201
    [link] = response.json()
    assert link.startswith("@/dataSets/")
    dataset_id = link.removeprefix("@/dataSets/")
    body = client.get(f"{CATALOG}/dataSets/{dataset_id}", headers=headers).json()
    assert list(body) == [dataset_id]
    dataset = body[dataset_id]
    assert dataset["name"] == "Loyalty Members"
    assert dataset["description"] == "members of the loyalty program"
    assert dataset["schemaRef"]["id"] == PROFILE_REF
    assert dataset["imsOrg"] == ORG
    assert dataset["tags"] == {"team": ["crm"]}
    assert isinstance(dataset["created"], int) and dataset["updated"] >= dataset["created"]


def test_a_schema_may_be_named_by_alt_id(client: TestClient, headers: dict[str, str]) -> None:
    dataset_id = create_dataset(client, headers, "Web Events", "_xdm.context.experienceevent")
    body = client.get(f"{CATALOG}/dataSets/{dataset_id}", headers=headers).json()
    assert body[dataset_id]["schemaRef"]["id"] == EVENT_REF


def test_identity_fields_are_kept_as_identity_descriptors(
    client: TestClient, headers: dict[str, str]
) -> None:
    descriptor = {
        "xdm:sourceProperty": "/personalEmail/address",
        "xdm:namespace": "Email",
        "xdm:isPrimary": True,
    }
    dataset_id = create_dataset(client, headers, "CRM", identityDescriptors=[descriptor])
    body = client.get(f"{CATALOG}/dataSets/{dataset_id}", headers=headers).json()
    assert body[dataset_id]["identityDescriptors"] == [
        {"@type": "xdm:descriptorIdentity", **descriptor}
    ]


def test_dataset_list_is_keyed_by_id_with_catalog_parameters(
    client: TestClient, headers: dict[str, str]
) -> None:
    ids = [create_dataset(client, headers, name) for name in ("b-set", "a-set", "c-set")]
    every = client.get(f"{CATALOG}/dataSets", headers=headers, params={"limit": 100}).json()
    assert set(ids) <= set(every)
    by_name = client.get(
        f"{CATALOG}/dataSets",
        headers=headers,
        params={"name": "a-set,c-set", "orderBy": "desc:name", "properties": "name"},
    ).json()
    assert by_name == {ids[2]: {"name": "c-set"}, ids[1]: {"name": "a-set"}}
    paged = client.get(
        f"{CATALOG}/dataSets",
        headers=headers,
        params={"name": "a-set,b-set,c-set", "orderBy": "name", "start": 1, "limit": 1},
    ).json()
    assert list(paged) == [ids[0]]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"start": -1}, "start"),
        ({"limit": "ten"}, "limit"),
        ({"orderBy": "size"}, "order by"),
        ({"orderBy": "up:name"}, "direction"),
    ],
)
def test_bad_list_parameters_are_400(
    client: TestClient, headers: dict[str, str], params: dict[str, Any], message: str
) -> None:
    for path in ("dataSets", "batches"):
        response = client.get(f"{CATALOG}/{path}", headers=headers, params=params)
        body = assert_problem(response, 400)
        assert message in body["detail"]


DESCRIPTOR = {"xdm:sourceProperty": "/personalEmail/address", "xdm:namespace": "Email"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"name": ', "not valid JSON"),
        (b"[]", "invalid request body"),
        (b'{"schemaRef": {"id": "' + PROFILE_REF.encode() + b'"}}', "name"),
        (b'{"name": "x"}', "schemaRef"),
        (b'{"name": "", "schemaRef": {"id": "' + PROFILE_REF.encode() + b'"}}', "name"),
        (b'{"name": "x", "schemaRef": {"id": "https://ns.adobe.com/acme/schemas/1"}}', "schemaRef"),
        (
            json.dumps(
                {
                    "name": "x",
                    "schemaRef": {"id": PROFILE_REF},
                    "identityDescriptors": [{**DESCRIPTOR, "xdm:sourceProperty": "/nope/address"}],
                }
            ).encode(),
            "nope.address: not a string field",
        ),
        (
            json.dumps(
                {
                    "name": "x",
                    "schemaRef": {"id": PROFILE_REF},
                    "identityDescriptors": [{**DESCRIPTOR, "xdm:sourceProperty": "/personalEmail"}],
                }
            ).encode(),
            "not a string field",
        ),
        (
            json.dumps(
                {
                    "name": "x",
                    "schemaRef": {"id": PROFILE_REF},
                    "identityDescriptors": [{**DESCRIPTOR, "xdm:namespace": "Loyalty"}],
                }
            ).encode(),
            "unknown identity namespace 'Loyalty'",
        ),
        (
            json.dumps(
                {
                    "name": "x",
                    "schemaRef": {"id": PROFILE_REF},
                    "identityDescriptors": [
                        {**DESCRIPTOR, "xdm:isPrimary": True},
                        {
                            "xdm:sourceProperty": "/mobilePhone/number",
                            "xdm:namespace": "Phone",
                            "xdm:isPrimary": True,
                        },
                    ],
                }
            ).encode(),
            "at most one identity field can be primary",
        ),
    ],
)
def test_bad_dataset_bodies_are_400(
    client: TestClient, headers: dict[str, str], body: bytes, message: str
) -> None:
    before = client.get(f"{CATALOG}/dataSets", headers=headers, params={"limit": 100}).json()
    response = client.post(f"{CATALOG}/dataSets", headers=headers, content=body)
    assert message in assert_problem(response, 400)["detail"]
    after = client.get(f"{CATALOG}/dataSets", headers=headers, params={"limit": 100}).json()
    assert after == before


def test_dataset_body_needs_a_json_content_type(
    client: TestClient, headers: dict[str, str]
) -> None:
    text = {**headers, "Content-Type": "text/plain"}
    response = client.post(f"{CATALOG}/dataSets", headers=text, content=b"{}")
    assert "content-type" in assert_problem(response, 400)["detail"]


def test_unknown_dataset_and_batch_are_404(client: TestClient, headers: dict[str, str]) -> None:
    assert_problem(client.get(f"{CATALOG}/dataSets/nope", headers=headers), 404)
    assert_problem(client.get(f"{CATALOG}/batches/nope", headers=headers), 404)


# --- batches: the happy path -------------------------------------------------------------------


def test_create_batch_answers_a_loading_batch(client: TestClient, headers: dict[str, str]) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    response = client.post(
        f"{IMPORT}/batches",
        headers=headers,
        json={"datasetId": dataset_id, "inputFormat": {"format": "json"}},
    )
    assert response.status_code == 201
    created = response.json()
    assert created["status"] == "loading"
    assert created["imsOrg"] == ORG
    assert created["relatedObjects"] == [{"type": "dataSet", "id": dataset_id}]
    assert created["version"] == "1.0.0"
    assert get_batch(client, headers, created["id"])["status"] == "loading"


def test_a_batch_of_several_files_is_committed_whole(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    batch = ingest(
        client,
        headers,
        dataset_id,
        {
            "part1.ndjson": ndjson(profile(i) for i in range(3)),
            "nested/part2.json": json.dumps([profile(i) for i in range(3, 5)]).encode(),
            "part3.jsonl": ndjson([profile(5)]),
        },
    )
    assert batch["status"] == "success"
    assert batch["metrics"] == {
        "inputByteSize": batch["metrics"]["inputByteSize"],
        "inputFileCount": 3,
        "inputRecordCount": 6,
        "outputRecordCount": 6,
        "failedRecordCount": 0,
        "duplicateRecordCount": 0,
    }
    assert batch["metrics"]["inputByteSize"] > 0
    assert "errors" not in batch
    assert batch["completed"] >= batch["created"]
    rows = dataset_rows(store, dataset_id)
    assert sorted(rows["_id"].to_pylist()) == [f"p{i}" for i in range(6)]
    assert sorted(rows["__profile_id"].to_pylist()) == sorted(f"Email:u{i}@x.com" for i in range(6))


def test_a_parquet_batch(
    client: TestClient, headers: dict[str, str], store: Store, tmp_path: Path
) -> None:
    source = write_batch(
        [profile(i) for i in range(4)],
        kind="profile",
        schema=DEFAULT_SCHEMA,
        out_dir=tmp_path / "b",
    )
    dataset_id = create_dataset(client, headers, "CRM")
    batch = ingest(
        client, headers, dataset_id, {"crm.parquet": source.files[0].read_bytes()}, "parquet"
    )
    assert (batch["status"], batch["metrics"]["outputRecordCount"]) == ("success", 4)
    assert dataset_rows(store, dataset_id).num_rows == 4


def test_committed_records_reach_segmentation(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    before = len(store.catalog.profile_files(tenant(store, ORG)))
    dataset_id = create_dataset(client, headers, "CRM")
    ingest(client, headers, dataset_id, {"a.ndjson": ndjson([profile(1)])})
    assert len(store.catalog.profile_files(tenant(store, ORG))) == before + 1


def test_batches_are_listed_by_dataset_and_status(
    client: TestClient, headers: dict[str, str]
) -> None:
    first, second = create_dataset(client, headers, "one"), create_dataset(client, headers, "two")
    done = ingest(client, headers, first, {"a.ndjson": ndjson([profile(1)])})["id"]
    loading = create_batch(client, headers, first)
    other = create_batch(client, headers, second)
    listed = client.get(f"{CATALOG}/batches", headers=headers, params={"dataSet": first}).json()
    assert set(listed) == {done, loading}
    assert listed[done]["relatedObjects"] == [{"type": "dataSet", "id": first}]
    succeeded = client.get(
        f"{CATALOG}/batches", headers=headers, params={"dataSet": first, "status": "success"}
    ).json()
    assert list(succeeded) == [done]
    newest = client.get(
        f"{CATALOG}/batches",
        headers=headers,
        params={"dataSet": second, "orderBy": "desc:created", "limit": 1, "properties": "status"},
    ).json()
    assert newest == {other: {"status": "loading"}}


# --- partial ingestion -------------------------------------------------------------------------


def test_bad_records_are_reported_and_every_good_one_is_committed(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    records = [
        profile(0),
        profile(1, homeAddress={"city": 5}),
        profile(2),
        {"_id": "p3"},
        profile(4, nickname="x"),
        profile(5),
    ]
    batch = ingest(
        client,
        headers,
        dataset_id,
        {"a.ndjson": ndjson(records[:3]), "b.ndjson": ndjson(records[3:]) + b"{not json\n"},
    )
    assert batch["status"] == "success"
    metrics = batch["metrics"]
    assert (metrics["inputRecordCount"], metrics["outputRecordCount"]) == (7, 3)
    assert metrics["failedRecordCount"] == 4
    errors = batch["errors"]
    assert errors[0] == {
        "code": "INGEST-1212-400",
        "description": "Encountered 4 errors in the data. Successfully ingested 3 rows.",
    }
    rows = {(r["file"], r["row"], r["field"]): r["reason"] for e in errors[1:] for r in e["rows"]}
    assert rows == {
        ("a.ndjson", 1, "homeAddress.city"): "expected string, got integer",
        ("b.ndjson", 0, "identityMap"): "no identity: the record needs an identityMap entry",
        ("b.ndjson", 1, "nickname"): "unknown field",
        ("b.ndjson", 3, ""): rows[("b.ndjson", 3, "")],
    }
    assert rows[("b.ndjson", 3, "")].startswith("line 4: malformed JSON")
    counts = {e["code"]: e["recordCount"] for e in errors[1:]}
    assert counts == {
        "INGEST-1401-400": 1,
        "INGEST-1551-400": 1,
        "INGEST-1552-400": 1,
        "INGEST-1553-400": 1,
    }
    assert sorted(dataset_rows(store, dataset_id)["_id"].to_pylist()) == ["p0", "p2", "p5"]


def test_a_batch_without_good_records_fails_and_writes_nothing(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    batch = ingest(client, headers, dataset_id, {"a.ndjson": ndjson([{"_id": "x"}, [1, 2]])})
    assert batch["status"] == "failed"
    assert batch["metrics"]["outputRecordCount"] == 0
    assert batch["metrics"]["failedRecordCount"] == 2
    assert batch["errors"][0]["code"] == "INGEST-1212-400"
    assert dataset_rows(store, dataset_id).num_rows == 0
    assert not _lake_entries(store, dataset_id)


def test_failures_over_the_partial_ingestion_threshold_fail_the_batch(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = create_batch(client, headers, dataset_id, partialIngestionPercentage=10)
    records = [profile(0), {"_id": "bad"}]
    assert (
        upload(client, headers, batch_id, dataset_id, "a.ndjson", ndjson(records)).status_code
        == 200
    )
    assert action(client, headers, batch_id, "COMPLETE").status_code == 200
    batch = get_batch(client, headers, batch_id)
    assert batch["status"] == "failed"
    assert batch["tags"]["acp_partialIngestionPercent"] == 10
    assert batch["errors"][0]["code"] == "INGEST-1213-400"
    assert dataset_rows(store, dataset_id).num_rows == 0


def test_completing_a_batch_without_files_fails_it(
    client: TestClient, headers: dict[str, str]
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = create_batch(client, headers, dataset_id)
    completed = action(client, headers, batch_id, "COMPLETE")
    assert completed.status_code == 200
    assert completed.json()[batch_id]["status"] == "failed"
    assert completed.json()[batch_id]["errors"][0]["code"] == "106"


def test_identity_fields_fill_the_identity_map(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    descriptor = {
        "xdm:sourceProperty": "/personalEmail/address",
        "xdm:namespace": "Email",
        "xdm:isPrimary": True,
    }
    dataset_id = create_dataset(client, headers, "CRM", identityDescriptors=[descriptor])
    records = [
        {"_id": "a", "personalEmail": {"address": "a@x.com"}},
        {
            "_id": "b",
            "personalEmail": {"address": "b@x.com"},
            "identityMap": {"ECID": [{"id": "1" * 38, "primary": True}]},
        },
        {"_id": "c", "identityMap": {"ECID": [{"id": "2" * 38}]}},
    ]
    batch = ingest(client, headers, dataset_id, {"a.ndjson": ndjson(records)})
    assert batch["metrics"]["outputRecordCount"] == 2
    [missing] = [r for e in batch["errors"][1:] for r in e["rows"]]
    assert (missing["row"], missing["field"]) == (2, "personalEmail.address")
    rows = dataset_rows(store, dataset_id).sort_by("_id").to_pylist()
    assert [r["__profile_id"] for r in rows] == ["Email:a@x.com", "Email:b@x.com"]
    assert dict(rows[1]["identityMap"]) == {
        "ECID": [{"id": "1" * 38, "authenticatedState": None, "primary": False}],
        "Email": [{"id": "b@x.com", "authenticatedState": None, "primary": True}],
    }


def test_unknown_namespaces_are_record_errors(client: TestClient, headers: dict[str, str]) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    records = [profile(1), {"identityMap": {"email": [{"id": "x@y.z"}]}}]
    batch = ingest(client, headers, dataset_id, {"a.ndjson": ndjson(records)})
    [row] = [r for e in batch["errors"][1:] for r in e["rows"]]
    assert row["field"] == "identityMap.email"
    assert row["reason"].startswith("unknown identity namespace 'email'")
    assert "did you mean 'Email'" in row["reason"]


# --- events: re-sending never duplicates -------------------------------------------------------


def test_resent_events_are_not_duplicated(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    dataset_id = create_dataset(client, headers, "Web", EVENT_REF)
    events = [event(i) for i in range(5)]
    first = ingest(client, headers, dataset_id, {"a.ndjson": ndjson([*events, event(2)])})
    assert (first["metrics"]["outputRecordCount"], first["metrics"]["duplicateRecordCount"]) == (
        5,
        1,
    )
    again = ingest(client, headers, dataset_id, {"a.ndjson": ndjson(events)})
    assert again["status"] == "success"
    assert (again["metrics"]["outputRecordCount"], again["metrics"]["duplicateRecordCount"]) == (
        0,
        5,
    )
    more = ingest(client, headers, dataset_id, {"b.ndjson": ndjson([event(4), event(5)])})
    assert (more["metrics"]["outputRecordCount"], more["metrics"]["duplicateRecordCount"]) == (1, 1)
    ids = dataset_rows(store, dataset_id)["_id"].to_pylist()
    assert sorted(ids) == [f"e{i}" for i in range(6)]


def test_the_same_event_id_in_another_dataset_is_kept(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    web = create_dataset(client, headers, "Web", EVENT_REF)
    app = create_dataset(client, headers, "App", EVENT_REF)
    ingest(client, headers, web, {"a.ndjson": ndjson([event(1)])})
    other = ingest(client, headers, app, {"a.ndjson": ndjson([event(1)])})
    assert other["metrics"]["outputRecordCount"] == 1
    assert dataset_rows(store, app).num_rows == 1


def test_profile_records_are_not_deduplicated(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    ingest(client, headers, dataset_id, {"a.ndjson": ndjson([profile(1)])})
    ingest(
        client, headers, dataset_id, {"a.ndjson": ndjson([profile(1, person={"gender": "male"})])}
    )
    assert dataset_rows(store, dataset_id).num_rows == 2


# --- retries, aborts and the batch's states ----------------------------------------------------


def test_completing_again_answers_the_same_and_ingests_nothing(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    dataset_id = create_dataset(client, headers, "Web", EVENT_REF)
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, dataset_id, "a.ndjson", ndjson([event(1), event(2)]))
    first = action(client, headers, batch_id, "COMPLETE")
    second = action(client, headers, batch_id, "complete")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert dataset_rows(store, dataset_id).num_rows == 2


def test_a_completed_batch_takes_no_more_files(client: TestClient, headers: dict[str, str]) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, dataset_id, "a.ndjson", ndjson([profile(1)]))
    action(client, headers, batch_id, "COMPLETE")
    late = upload(client, headers, batch_id, dataset_id, "b.ndjson", ndjson([profile(2)]))
    assert "is success" in assert_problem(late, 409)["detail"]
    assert_problem(action(client, headers, batch_id, "ABORT"), 409)


def test_an_aborted_batch_writes_nothing(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, dataset_id, "a.ndjson", ndjson([profile(1)]))
    aborted = action(client, headers, batch_id, "ABORT")
    assert aborted.status_code == 200
    assert aborted.json()[batch_id]["status"] == "aborted"
    assert action(client, headers, batch_id, "ABORT").status_code == 200
    assert_problem(action(client, headers, batch_id, "COMPLETE"), 409)
    late = upload(client, headers, batch_id, dataset_id, "b.ndjson", ndjson([profile(2)]))
    assert_problem(late, 409)
    assert get_batch(client, headers, batch_id)["status"] == "aborted"
    assert dataset_rows(store, dataset_id).num_rows == 0
    assert not store.catalog.upload_dir(tenant(store, ORG), batch_id).exists()


def test_uploading_a_name_again_replaces_the_file(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, dataset_id, "a.ndjson", ndjson([profile(1), profile(2)]))
    upload(client, headers, batch_id, dataset_id, "a.ndjson", ndjson([profile(3)]))
    action(client, headers, batch_id, "COMPLETE")
    assert dataset_rows(store, dataset_id)["_id"].to_pylist() == ["p3"]


# --- failures leave nothing behind -------------------------------------------------------------


def test_a_failure_while_writing_leaves_nothing_and_completing_can_be_retried(
    client: TestClient, headers: dict[str, str], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, dataset_id, "a.ndjson", ndjson(profile(i) for i in range(5)))
    real = ingest_module.write_synced

    def write_then_fail(table: Any, path: Path) -> None:
        real(table, path)
        raise OSError("disk full")

    monkeypatch.setattr(ingest_module, "write_synced", write_then_fail)
    failed = action(client, headers, batch_id, "COMPLETE")
    assert failed.status_code == 500
    assert get_batch(client, headers, batch_id)["status"] == "loading"
    assert dataset_rows(store, dataset_id).num_rows == 0
    assert not _lake_entries(store, dataset_id)
    monkeypatch.setattr(ingest_module, "write_synced", real)
    assert action(client, headers, batch_id, "COMPLETE").status_code == 200
    assert get_batch(client, headers, batch_id)["status"] == "success"
    assert dataset_rows(store, dataset_id).num_rows == 5


def test_a_failed_commit_of_the_metadata_takes_the_files_back(
    client: TestClient, headers: dict[str, str], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, dataset_id, "a.ndjson", ndjson([profile(1)]))
    real = type(store.catalog).finish_claimed

    def renamed_then_refused(*args: Any, **kwargs: Any) -> bool:
        real(*args, **kwargs)
        raise RuntimeError("database went away")

    monkeypatch.setattr(type(store.catalog), "finish_claimed", renamed_then_refused)
    assert action(client, headers, batch_id, "COMPLETE").status_code == 500
    assert get_batch(client, headers, batch_id)["status"] == "loading"
    assert not _lake_entries(store, dataset_id)
    monkeypatch.undo()
    assert action(client, headers, batch_id, "COMPLETE").status_code == 200
    assert dataset_rows(store, dataset_id)["_id"].to_pylist() == ["p1"]


def test_files_left_by_a_crash_are_never_visible_and_do_not_block(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    """A crash between the rename and the commit leaves a batch directory no committed row
    names: nothing reads it, and completing the batch replaces it."""
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, dataset_id, "a.ndjson", ndjson([profile(1)]))
    orphan = store.catalog.batch_dir(tenant(store, ORG), dataset_id, batch_id)
    write_batch([profile(9)], kind="profile", schema=DEFAULT_SCHEMA, out_dir=orphan)
    assert dataset_rows(store, dataset_id).num_rows == 0
    assert orphan not in {f.parent for f in store.catalog.profile_files(tenant(store, ORG))}
    assert action(client, headers, batch_id, "COMPLETE").status_code == 200
    assert dataset_rows(store, dataset_id)["_id"].to_pylist() == ["p1"]


# --- bad input on every route ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"datasetId": ', "not valid JSON"),
        (b'{"inputFormat": {"format": "json"}}', "datasetId"),
        (b'{"datasetId": "DS"}', "inputFormat"),
        (b'{"datasetId": "DS", "inputFormat": {"format": "csv"}}', "format"),
        (b'{"datasetId": "nope", "inputFormat": {"format": "json"}}', "not found"),
        (
            b'{"datasetId": "DS", "inputFormat": {"format": "json"}, '
            b'"partialIngestionPercentage": 101}',
            "partialIngestionPercentage",
        ),
    ],
)
def test_bad_batch_bodies_are_400(
    client: TestClient, headers: dict[str, str], body: bytes, message: str
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    content = body.replace(b'"DS"', json.dumps(dataset_id).encode())
    response = client.post(f"{IMPORT}/batches", headers=headers, content=content)
    assert message in assert_problem(response, 400)["detail"]


@pytest.mark.parametrize(
    ("fmt", "name", "content", "status", "message"),
    [
        ("json", "data.csv", b"a,b\n1,2\n", 400, "takes .json, .ndjson, .jsonl files"),
        ("json", "data", b"{}", 400, "takes"),
        ("json", "data.parquet", b"PAR1", 400, "takes"),
        ("parquet", "data.json", b"{}", 400, "takes .parquet"),
        ("parquet", "data.parquet", b"not parquet at all", 400, "cannot read Parquet"),
        ("json", "data.json", b'[{"_id": "a"},\n {"_id": }]', 400, "(line 2)"),
        ("json", "data.json", b"", 400, "is empty"),
        ("json", "x" * 300 + ".json", b"{}", 400, "unusable file name"),
    ],
)
def test_bad_uploads_are_refused_and_keep_nothing(
    client: TestClient,
    headers: dict[str, str],
    store: Store,
    fmt: str,
    name: str,
    content: bytes,
    status: int,
    message: str,
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = create_batch(client, headers, dataset_id, fmt)
    response = upload(client, headers, batch_id, dataset_id, name, content)
    assert message in assert_problem(response, status)["detail"]
    assert store.catalog.uploaded_files(tenant(store, ORG), batch_id) == []
    assert get_batch(client, headers, batch_id)["status"] == "loading"


def test_upload_into_unknown_or_mismatched_ids(client: TestClient, headers: dict[str, str]) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    other = create_dataset(client, headers, "Other")
    batch_id = create_batch(client, headers, dataset_id)
    content = ndjson([profile(1)])
    assert_problem(upload(client, headers, "nope", dataset_id, "a.ndjson", content), 404)
    assert_problem(upload(client, headers, batch_id, "nope", "a.ndjson", content), 404)
    mismatch = upload(client, headers, batch_id, other, "a.ndjson", content)
    assert "belongs to dataset" in assert_problem(mismatch, 400)["detail"]


@pytest.mark.parametrize("name", ["", "FAIL", "REVERT", "complete-now"])
def test_unsupported_actions_are_400(
    client: TestClient, headers: dict[str, str], name: str
) -> None:
    batch_id = create_batch(client, headers, create_dataset(client, headers, "CRM"))
    assert (
        "unsupported action"
        in assert_problem(action(client, headers, batch_id, name), 400)["detail"]
    )


def test_actions_on_an_unknown_batch_are_404(client: TestClient, headers: dict[str, str]) -> None:
    for name in ("COMPLETE", "ABORT"):
        assert_problem(action(client, headers, "nope", name), 404)


@pytest.fixture
def small_uploads(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "home", max_upload_bytes=64, sample_profiles=0)
    with TestClient(create_app(settings, load_samples=False), raise_server_exceptions=False) as c:
        yield c


def test_uploads_over_the_size_limit_are_413(small_uploads: TestClient) -> None:
    headers = aep_headers(token_for(small_uploads))
    dataset_id = create_dataset(small_uploads, headers, "CRM")
    batch_id = create_batch(small_uploads, headers, dataset_id)
    big = ndjson([profile(i) for i in range(10)])
    assert_problem(upload(small_uploads, headers, batch_id, dataset_id, "a.ndjson", big), 413)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        yield from (big[i : i + 16] for i in range(0, len(big), 16))

    path = f"{IMPORT}/batches/{batch_id}/datasets/{dataset_id}/files/b.ndjson"
    streamed = small_uploads.put(path, headers=headers, content=chunks())
    assert_problem(streamed, 413)
    small = ndjson([profile(1)])
    assert (
        upload(small_uploads, headers, batch_id, dataset_id, "c.ndjson", small).status_code == 200
    )


# --- sandboxes ---------------------------------------------------------------------------------


def test_another_sandbox_sees_none_of_it(client: TestClient, headers: dict[str, str]) -> None:
    dev = aep_headers(token_for(client), sandbox="dev")
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = ingest(client, headers, dataset_id, {"a.ndjson": ndjson([profile(1)])})["id"]
    loading = create_batch(client, headers, dataset_id)
    assert_problem(client.get(f"{CATALOG}/dataSets/{dataset_id}", headers=dev), 404)
    assert_problem(client.get(f"{CATALOG}/batches/{batch_id}", headers=dev), 404)
    assert dataset_id not in client.get(f"{CATALOG}/dataSets", headers=dev).json()
    assert (
        client.get(f"{CATALOG}/batches", headers=dev, params={"dataSet": dataset_id}).json() == {}
    )
    content = ndjson([profile(2)])
    assert_problem(upload(client, dev, loading, dataset_id, "a.ndjson", content), 404)
    assert_problem(action(client, dev, loading, "COMPLETE"), 404)
    assert_problem(action(client, dev, loading, "ABORT"), 404)
    body = {"datasetId": dataset_id, "inputFormat": {"format": "json"}}
    assert_problem(client.post(f"{IMPORT}/batches", headers=dev, json=body), 400)
    assert get_batch(client, headers, loading)["status"] == "loading"


def test_every_route_needs_the_gateway_headers(client: TestClient) -> None:
    routes = [
        ("GET", f"{CATALOG}/dataSets"),
        ("POST", f"{CATALOG}/dataSets"),
        ("GET", f"{CATALOG}/batches"),
        ("POST", f"{IMPORT}/batches"),
        ("PUT", f"{IMPORT}/batches/b/datasets/d/files/a.json"),
        ("POST", f"{IMPORT}/batches/b?action=COMPLETE"),
    ]
    for method, path in routes:
        response = client.request(method, path)
        assert response.status_code == 403
        assert response.json() == {"error_code": "403010", "message": "Oauth token is missing."}


def _lake_entries(store: Store, dataset_id: str) -> list[Path]:
    """Everything under the dataset's lake directory (batches, staging, leftovers)."""
    directory = store.catalog.lake.dataset_dir(ORG, "prod", dataset_id)
    return sorted(directory.iterdir()) if directory.exists() else []


def test_batches_staged_side_by_side_still_keep_events_unique(
    client: TestClient, headers: dict[str, str], store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two batches of one dataset validated at the same time both miss the other's events;
    publishing holds the dataset and drops what a batch committed meanwhile already has."""
    dataset_id = create_dataset(client, headers, "Web", EVENT_REF)
    first, second = (
        create_batch(client, headers, dataset_id),
        create_batch(client, headers, dataset_id),
    )
    upload(client, headers, first, dataset_id, "a.ndjson", ndjson([event(1), event(2)]))
    upload(client, headers, second, dataset_id, "a.ndjson", ndjson([event(2), event(3)]))
    catalog = type(store.catalog)
    monkeypatch.setattr(catalog, "dataset_files", lambda *_args: (frozenset(), []))
    action(client, headers, first, "COMPLETE")
    action(client, headers, second, "COMPLETE")
    metrics = get_batch(client, headers, second)["metrics"]
    assert (metrics["outputRecordCount"], metrics["duplicateRecordCount"]) == (1, 1)
    monkeypatch.undo()
    assert sorted(dataset_rows(store, dataset_id)["_id"].to_pylist()) == ["e1", "e2", "e3"]


# --- the same on PostgreSQL metadata -----------------------------------------------------------


@pytest.fixture
def pg_client(tmp_path: Path, postgres_url: str) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "home", database_url=postgres_url, sample_profiles=0)
    with TestClient(create_app(settings, load_samples=False), raise_server_exceptions=False) as c:
        yield c


def test_batches_on_postgres(pg_client: TestClient) -> None:
    headers = aep_headers(token_for(pg_client))
    store: Store = pg_client.app.state.segmint.store  # type: ignore[attr-defined]
    assert store.db.engine.dialect.name == "postgresql"
    dataset_id = create_dataset(pg_client, headers, "Web", EVENT_REF)
    first = ingest(pg_client, headers, dataset_id, {"a.ndjson": ndjson([event(1), {"_id": "x"}])})
    assert (first["status"], first["metrics"]["failedRecordCount"]) == ("success", 1)
    again = ingest(pg_client, headers, dataset_id, {"a.ndjson": ndjson([event(1), event(2)])})
    assert (again["metrics"]["outputRecordCount"], again["metrics"]["duplicateRecordCount"]) == (
        1,
        1,
    )
    batch_id = again["id"]
    assert action(pg_client, headers, batch_id, "COMPLETE").json()[batch_id] == get_batch(
        pg_client, headers, batch_id
    )
    aborted = create_batch(pg_client, headers, dataset_id)
    assert action(pg_client, headers, aborted, "ABORT").status_code == 200
    assert_problem(action(pg_client, headers, aborted, "COMPLETE"), 409)
    assert sorted(dataset_rows(store, dataset_id)["_id"].to_pylist()) == ["e1", "e2"]


def test_a_completion_that_went_quiet_is_taken_over(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    """A COMPLETE whose process died leaves the batch ``staging``: another COMPLETE waits for
    it (409) until it has been quiet for SEGMINT_BATCH_STALE_SECONDS, then completes it; the
    dead completer's claim can no longer publish."""
    dataset_id = create_dataset(client, headers, "CRM")
    batch_id = create_batch(client, headers, dataset_id)
    upload(client, headers, batch_id, dataset_id, "a.ndjson", ndjson([profile(1)]))
    dead = store.catalog.claim_batch(batch_id, stale_before_ms=0)
    assert dead is not None
    assert (
        "is staging" in assert_problem(action(client, headers, batch_id, "COMPLETE"), 409)["detail"]
    )
    with store.db.transaction() as conn:
        conn.execute(update(batches).where(batches.c.id == batch_id).values(updated_ms=0))
    assert action(client, headers, batch_id, "COMPLETE").status_code == 200
    assert get_batch(client, headers, batch_id)["status"] == "success"
    with store.db.transaction() as conn:
        assert not store.catalog.finish_claimed(conn, batch_id, dead, {"status": "failed"})
    assert dataset_rows(store, dataset_id)["_id"].to_pylist() == ["p1"]


def test_ingested_profiles_are_segmented(
    client: TestClient, headers: dict[str, str], run_jobs: Any
) -> None:
    dataset_id = create_dataset(client, headers, "CRM")
    records = [profile(i, homeAddress={"countryCode": "ZZ"}) for i in range(3)]
    ingest(client, headers, dataset_id, {"a.ndjson": ndjson([*records, {"_id": "bad"}])})
    definition = create_definition(client, headers, 'homeAddress.countryCode = "ZZ"')
    job = create_job(client, headers, [definition["id"]])
    run_jobs()
    done = get_job(client, headers, job["id"])
    assert done["status"] == "SUCCEEDED"
    assert done["metrics"]["segmentedProfileCounter"][definition["id"]] == 3
