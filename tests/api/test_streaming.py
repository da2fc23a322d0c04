"""Streaming ingestion: single XDM records in AEP's envelope, acknowledged once durable,
flushed into ordinary batches (after N records, after T seconds, or on demand) atomically and
idempotently; ``syncValidation`` refuses an invalid record with its errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from segmint.api.app import create_app
from segmint.api.streaming import StreamFlusher
from segmint.profiles.ingest import StagedBatch
from segmint.settings import Settings
from segmint.store import Store
from segmint.store import lake_catalog as lake_catalog_module
from segmint.store import stream_buffer as stream_buffer_module
from segmint.store.stream_buffer import flush_stream
from tests.api.helpers import tenant
from tests.api.ingestion_helpers import (
    CATALOG,
    EVENT_REF,
    PROFILE_REF,
    create_dataset,
    dataset_rows,
    event,
)
from tests.support import ORG, aep_headers, make_settings, token_for

PROBLEM_TYPE = "http://ns.adobe.com/adobecloud/problem/data-collection-service/inlet"
INLET = "8f1e2c3d4b5a69788796a5b4c3d2e1f0"


def message(dataset_id: str, entity: Any, ref: str | None = None, **header: Any) -> dict[str, Any]:
    schema_ref = {"id": ref, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    return {
        "header": {
            "datasetId": dataset_id,
            "imsOrgId": ORG,
            **({"schemaRef": schema_ref} if ref else {}),
            **header,
        },
        "body": {"xdmMeta": {"schemaRef": schema_ref}, "xdmEntity": entity},
    }


def send(client: TestClient, headers: dict[str, str], body: Any, **params: str) -> Any:
    return client.post(f"/collection/{INLET}", headers=headers, json=body, params=params)


def pending(store: Store, sandbox: str = "prod") -> int:
    return store.stream.pending(tenant(store, ORG, sandbox))


def batches_of(client: TestClient, headers: dict[str, str], dataset_id: str) -> dict[str, Any]:
    listed: dict[str, Any] = client.get(
        f"{CATALOG}/batches", headers=headers, params={"dataSet": dataset_id}
    ).json()
    return listed


@pytest.fixture
def events(client: TestClient, headers: dict[str, str]) -> str:
    return create_dataset(client, headers, "Web", EVENT_REF)


def test_a_record_is_acknowledged_then_flushed_into_a_batch(
    client: TestClient, headers: dict[str, str], store: Store, events: str
) -> None:
    response = send(client, headers, message(events, event(1), EVENT_REF))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"inletId", "xactionId", "receivedTimeMs", "syncValidation"}
    assert body["inletId"] == INLET
    assert body["syncValidation"] == {"skipped": True}
    assert isinstance(body["receivedTimeMs"], int)
    assert pending(store) == 1
    assert dataset_rows(store, events).num_rows == 0
    [batch] = flush_stream(store, tenant(store, ORG))
    assert pending(store) == 0
    assert dataset_rows(store, events)["_id"].to_pylist() == ["e1"]
    listed = batches_of(client, headers, events)
    assert list(listed) == [batch.id]
    assert listed[batch.id]["status"] == "success"
    assert listed[batch.id]["metrics"]["outputRecordCount"] == 1


def test_sync_validation_passes_a_valid_record(
    client: TestClient, headers: dict[str, str], store: Store, events: str
) -> None:
    response = send(client, headers, message(events, event(1)), syncValidation="true")
    assert response.status_code == 200
    assert response.json()["syncValidation"] == {"status": "pass"}
    assert pending(store) == 1


@pytest.mark.parametrize("parameter", ["syncValidation", "synchronousValidation"])
def test_sync_validation_refuses_an_invalid_record_with_its_errors(
    client: TestClient, headers: dict[str, str], store: Store, events: str, parameter: str
) -> None:
    entity = {**event(1), "timestamp": "yesterday", "nickname": "x"}
    response = send(client, headers, message(events, entity), **{parameter: "true"})
    assert response.status_code == 400
    body = response.json()
    assert (body["type"], body["status"], body["title"]) == (
        PROBLEM_TYPE,
        400,
        "Invalid XDM Message Format",
    )
    assert INLET in body["report"]["message"] and ORG in body["report"]["message"]
    [validation] = body["report"]["cause"]["_streamingValidation"]
    assert validation["message"] == "2 schema violations found"
    found = {(e["field"], e["pointerToViolation"]) for e in validation["causingExceptions"]}
    assert found == {("timestamp", "#/timestamp"), ("nickname", "#/nickname")}
    assert pending(store) == 0


def test_without_sync_validation_an_invalid_record_fails_in_its_batch(
    client: TestClient, headers: dict[str, str], store: Store, events: str
) -> None:
    good = send(client, headers, message(events, event(1))).json()
    untimed = {k: v for k, v in event(2).items() if k != "timestamp"}
    bad = send(client, headers, message(events, untimed)).json()
    [batch] = store.stream.flush(tenant(store, ORG))
    assert batch.status == "success"
    assert (batch.records_read, batch.records_written) == (2, 1)
    [located] = [row for entry in batch.errors or [] for row in entry.get("rows", [])]
    assert located["xactionId"] == bad["xactionId"] != good["xactionId"]
    assert located["field"] == "timestamp"


def test_a_flush_with_only_invalid_records_makes_a_failed_batch(
    client: TestClient, headers: dict[str, str], store: Store, events: str
) -> None:
    send(client, headers, message(events, {"_id": "e1"}))
    [batch] = store.stream.flush(tenant(store, ORG))
    assert batch.status == "failed"
    assert pending(store) == 0
    assert dataset_rows(store, events).num_rows == 0


def test_profiles_stream_too_with_identity_fields(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    descriptor = {
        "xdm:sourceProperty": "/personalEmail/address",
        "xdm:namespace": "Email",
        "xdm:isPrimary": True,
    }
    crm = create_dataset(client, headers, "CRM", PROFILE_REF, identityDescriptors=[descriptor])
    entity = {"_id": "p1", "personalEmail": {"address": "jane@x.com"}}
    assert send(client, headers, message(crm, entity, PROFILE_REF)).status_code == 200
    missing = send(client, headers, message(crm, {"_id": "p2"}), syncValidation="true")
    [violation] = missing.json()["report"]["cause"]["_streamingValidation"][0]["causingExceptions"]
    assert violation["field"] == "personalEmail.address"
    store.stream.flush(tenant(store, ORG))
    assert dataset_rows(store, crm)["__profile_id"].to_pylist() == ["Email:jane@x.com"]


# --- when flushes happen -----------------------------------------------------------------------


@pytest.fixture
def small_buffer(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "home", stream_flush_records=3, stream_flush_seconds=60)
    with TestClient(create_app(settings, load_samples=False), raise_server_exceptions=False) as c:
        yield c


def test_a_dataset_is_flushed_when_it_holds_n_records(small_buffer: TestClient) -> None:
    headers = aep_headers(token_for(small_buffer))
    store: Store = small_buffer.app.state.segmint.store  # type: ignore[attr-defined]
    events = create_dataset(small_buffer, headers, "Web", EVENT_REF)
    for n in range(2):
        send(small_buffer, headers, message(events, event(n)))
    assert pending(store) == 2
    send(small_buffer, headers, message(events, event(2)))
    assert pending(store) == 0
    assert sorted(dataset_rows(store, events)["_id"].to_pylist()) == ["e0", "e1", "e2"]


def test_records_older_than_t_seconds_are_flushed(
    small_buffer: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = aep_headers(token_for(small_buffer))
    store: Store = small_buffer.app.state.segmint.store  # type: ignore[attr-defined]
    events = create_dataset(small_buffer, headers, "Web", EVENT_REF)
    send(small_buffer, headers, message(events, event(1)))
    assert store.stream.flush_due() == []
    later = stream_buffer_module.now_ms() + 61_000
    monkeypatch.setattr(stream_buffer_module, "now_ms", lambda: later)
    flusher = StreamFlusher(store, 0.01)
    flusher.start()
    try:
        deadline = time.monotonic() + 10
        while pending(store) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        flusher.stop()
    assert pending(store) == 0
    assert dataset_rows(store, events)["_id"].to_pylist() == ["e1"]


# --- durability and idempotence ----------------------------------------------------------------


def test_acknowledged_records_survive_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as first:
        headers = aep_headers(token_for(first))
        events = create_dataset(first, headers, "Web", EVENT_REF)
        for n in range(3):
            assert send(first, headers, message(events, event(n))).status_code == 200
    with TestClient(create_app(settings), raise_server_exceptions=False) as second:
        store: Store = second.app.state.segmint.store  # type: ignore[attr-defined]
        assert pending(store) == 3
        flush_stream(store, tenant(store, ORG))
        assert sorted(dataset_rows(store, events)["_id"].to_pylist()) == ["e0", "e1", "e2"]


def test_flushing_again_changes_nothing(
    client: TestClient, headers: dict[str, str], store: Store, events: str
) -> None:
    send(client, headers, message(events, event(1)))
    assert len(flush_stream(store, tenant(store, ORG))) == 1
    assert flush_stream(store, tenant(store, ORG)) == []
    assert len(batches_of(client, headers, events)) == 1
    assert dataset_rows(store, events).num_rows == 1


def test_a_resent_event_is_not_duplicated(
    client: TestClient, headers: dict[str, str], store: Store, events: str
) -> None:
    send(client, headers, message(events, event(1)))
    flush_stream(store, tenant(store, ORG))
    send(client, headers, message(events, event(1)))
    send(client, headers, message(events, event(2)))
    send(client, headers, message(events, event(2)))
    [batch] = flush_stream(store, tenant(store, ORG))
    assert (batch.records_written, (batch.metrics or {})["duplicateRecordCount"]) == (1, 2)
    assert sorted(dataset_rows(store, events)["_id"].to_pylist()) == ["e1", "e2"]


def test_a_crash_between_the_files_and_the_commit_loses_nothing(
    client: TestClient,
    headers: dict[str, str],
    store: Store,
    events: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The files are renamed into place, then the process dies before the commit: the
    directory stays behind, but no row names it, the records are still buffered, and the next
    flush publishes them exactly once."""
    for n in range(3):
        send(client, headers, message(events, event(n)))

    commit = StagedBatch.commit

    def commit_then_die(staged: StagedBatch) -> Any:
        commit(staged)
        raise SystemExit("killed")

    monkeypatch.setattr(lake_catalog_module, "_remove_orphan", lambda _directory: None)
    monkeypatch.setattr(StagedBatch, "commit", commit_then_die)
    with pytest.raises(SystemExit):
        flush_stream(store, tenant(store, ORG))
    left = store.catalog.lake.dataset_dir(ORG, "prod", events)
    assert [p for p in left.iterdir() if not p.name.startswith(".")]  # the orphaned batch
    assert pending(store) == 3
    assert dataset_rows(store, events).num_rows == 0
    assert batches_of(client, headers, events) == {}
    monkeypatch.undo()
    [batch] = flush_stream(store, tenant(store, ORG))
    assert batch.records_written == 3
    assert sorted(dataset_rows(store, events)["_id"].to_pylist()) == ["e0", "e1", "e2"]


def test_racing_flushes_publish_each_record_once(
    client: TestClient, headers: dict[str, str], store: Store, events: str
) -> None:
    for n in range(20):
        send(client, headers, message(events, event(n)))
    made: list[Any] = []
    barrier = threading.Barrier(4)

    def flush() -> None:
        barrier.wait()
        made.extend(flush_stream(store, tenant(store, ORG)))

    threads = [threading.Thread(target=flush) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pending(store) == 0
    assert sum(b.records_written for b in made) == 20
    assert sorted(dataset_rows(store, events)["_id"].to_pylist()) == sorted(
        f"e{n}" for n in range(20)
    )


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        (b'{"header": ', "not valid JSON"),
        (b"[]", "message"),
        (b'{"header": {"datasetId": "DS"}}', "body"),
        (b'{"body": {"xdmEntity": {}}}', "header"),
        (b'{"header": {}, "body": {"xdmEntity": {}}}', "datasetId"),
        (b'{"header": {"datasetId": "DS"}, "body": {"xdmEntity": [1]}}', "xdmEntity"),
        (b'{"header": {"datasetId": "DS"}, "body": {}}', "xdmEntity"),
        (b'{"header": {"datasetId": "nope"}, "body": {"xdmEntity": {}}}', "not found"),
        (
            b'{"header": {"datasetId": "DS", "imsOrgId": "OTHER@AdobeOrg"}, '
            b'"body": {"xdmEntity": {}}}',
            "imsOrgId",
        ),
        (
            b'{"header": {"datasetId": "DS", "schemaRef": {"id": "' + PROFILE_REF.encode() + b'"}},'
            b' "body": {"xdmEntity": {}}}',
            "schemaRef",
        ),
    ],
)
def test_bad_messages_are_400_and_store_nothing(
    client: TestClient,
    headers: dict[str, str],
    store: Store,
    events: str,
    body: bytes,
    message_part: str,
) -> None:
    content = body.replace(b'"DS"', f'"{events}"'.encode())
    response = client.post(f"/collection/{INLET}", headers=headers, content=content)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert (problem["type"], problem["status"]) == (PROBLEM_TYPE, 400)
    assert message_part in problem["report"]["message"]
    assert pending(store) == 0


def test_another_sandbox_cannot_stream_into_a_dataset(
    client: TestClient, headers: dict[str, str], store: Store, events: str
) -> None:
    dev = aep_headers(token_for(client), sandbox="dev")
    response = send(client, dev, message(events, event(1)))
    assert response.status_code == 400
    assert "not found" in response.json()["report"]["message"]
    assert pending(store) == pending(store, "dev") == 0


def test_streaming_needs_the_gateway_headers(client: TestClient, events: str) -> None:
    response = client.post(f"/collection/{INLET}", json=message(events, event(1)))
    assert response.status_code == 403
    assert response.json()["error_code"] == "403010"


@pytest.fixture
def pg_client(tmp_path: Path, postgres_url: str) -> Iterator[TestClient]:
    settings = make_settings(tmp_path / "home", database_url=postgres_url, sample_profiles=0)
    with TestClient(create_app(settings, load_samples=False), raise_server_exceptions=False) as c:
        yield c


def test_streaming_on_postgres(pg_client: TestClient) -> None:
    headers = aep_headers(token_for(pg_client))
    store: Store = pg_client.app.state.segmint.store  # type: ignore[attr-defined]
    events = create_dataset(pg_client, headers, "Web", EVENT_REF)
    for n in range(30):
        assert send(pg_client, headers, message(events, event(n % 20))).status_code == 200
    made: list[Any] = []
    barrier = threading.Barrier(3)

    def flush() -> None:
        barrier.wait()
        made.extend(flush_stream(store, tenant(store, ORG)))

    threads = [threading.Thread(target=flush) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pending(store) == 0
    assert sum(b.records_read for b in made) == 30
    assert sorted(dataset_rows(store, events)["_id"].to_pylist()) == sorted(
        f"e{n}" for n in range(20)
    )
