"""Helpers for the ingestion API tests: datasets, batches and uploads over HTTP, and what the
lake holds, read independently of the service with pyarrow."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from segmint.store import Store
from tests.api.helpers import tenant
from tests.support import ORG

CATALOG = "/data/foundation/catalog"
IMPORT = "/data/foundation/import"
PROFILE_REF = "https://ns.adobe.com/xdm/context/profile"
EVENT_REF = "https://ns.adobe.com/xdm/context/experienceevent"
ECID = "12345678901234567890123456789012345678"
PROBLEM_KEYS = {"type", "status", "title", "detail", "report"}


def create_dataset(
    client: TestClient, headers: dict[str, str], name: str, ref: str = PROFILE_REF, **extra: Any
) -> str:
    body = {"name": name, "schemaRef": {"id": ref, "contentType": "application/vnd.adobe.xed+json"}}
    response = client.post(f"{CATALOG}/dataSets", headers=headers, json={**body, **extra})
    assert response.status_code == 201, response.text
    link: str = response.json()[0]
    return link.removeprefix("@/dataSets/")


def create_batch(
    client: TestClient, headers: dict[str, str], dataset_id: str, fmt: str = "json", **extra: Any
) -> str:
    body = {"datasetId": dataset_id, "inputFormat": {"format": fmt}, **extra}
    response = client.post(f"{IMPORT}/batches", headers=headers, json=body)
    assert response.status_code == 201, response.text
    batch_id: str = response.json()["id"]
    return batch_id


def upload(
    client: TestClient,
    headers: dict[str, str],
    batch_id: str,
    dataset_id: str,
    name: str,
    content: bytes,
) -> Any:
    path = f"{IMPORT}/batches/{batch_id}/datasets/{dataset_id}/files/{name}"
    octets = {**headers, "Content-Type": "application/octet-stream"}
    return client.put(path, headers=octets, content=content)


def action(client: TestClient, headers: dict[str, str], batch_id: str, name: str) -> Any:
    return client.post(f"{IMPORT}/batches/{batch_id}", headers=headers, params={"action": name})


def get_batch(client: TestClient, headers: dict[str, str], batch_id: str) -> dict[str, Any]:
    response = client.get(f"{CATALOG}/batches/{batch_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert list(body) == [batch_id]
    return dict(body[batch_id])


def ingest(
    client: TestClient,
    headers: dict[str, str],
    dataset_id: str,
    files: dict[str, bytes],
    fmt: str = "json",
) -> dict[str, Any]:
    """Create a batch, upload ``files``, complete it; the batch as Catalog shows it."""
    batch_id = create_batch(client, headers, dataset_id, fmt)
    for name, content in files.items():
        response = upload(client, headers, batch_id, dataset_id, name, content)
        assert response.status_code == 200, response.text
    completed = action(client, headers, batch_id, "COMPLETE")
    assert completed.status_code == 200, completed.text
    return get_batch(client, headers, batch_id)


def ndjson(records: Iterable[Any]) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode() + b"\n"


def profile(n: int, **fields: Any) -> dict[str, Any]:
    return {"_id": f"p{n}", "identityMap": {"Email": [{"id": f"u{n}@x.com"}]}, **fields}


def event(n: int, **fields: Any) -> dict[str, Any]:
    return {
        "_id": f"e{n}",
        "timestamp": "2024-05-01T10:00:00Z",
        "eventType": "commerce.purchases",
        "identityMap": {"Email": [{"id": f"u{n}@x.com", "primary": True}]},
        **fields,
    }


def dataset_rows(store: Store, dataset_id: str, sandbox: str = "prod") -> pa.Table:
    """Every committed row of a dataset, read from its Parquet files."""
    _, files = store.catalog.dataset_files(tenant(store, ORG, sandbox), dataset_id)
    tables = [pq.read_table(f) for f in files]
    return pa.concat_tables(tables) if tables else pa.table({})


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    return body
