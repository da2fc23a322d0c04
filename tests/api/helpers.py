"""Helpers for API tests: definitions, jobs, and independent counts from the lake files."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from segmint.jobs.model import Tenant
from segmint.profiles.views import MergedView
from segmint.store import Store

BASE = "/data/core/ups"
JOBS = f"{BASE}/segment/jobs"
DEFINITIONS = f"{BASE}/segment/definitions"


def create_definition(
    client: TestClient,
    headers: dict[str, str],
    expression: str,
    name: str | None = None,
    expression_override: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "name": name or f"segment {uuid.uuid4().hex[:8]}",
        "description": "test segment",
        "expression": expression_override
        or {"type": "PQL", "format": "pql/text", "value": expression},
        "schema": {"name": "_xdm.context.profile"},
        "ttlInDays": 30,
        **extra,
    }
    response = client.post(DEFINITIONS, headers=headers, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def create_job(
    client: TestClient, headers: dict[str, str], segment_ids: list[str]
) -> dict[str, Any]:
    response = client.post(JOBS, headers=headers, json=[{"segmentId": s} for s in segment_ids])
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def get_job(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    response = client.get(f"{JOBS}/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def tenant(store: Store, org: str, sandbox: str = "prod") -> Tenant:
    resolved = store.tenants.resolve(org, sandbox)
    assert resolved is not None
    return resolved


def default_view(store: Store, tenant_: Tenant) -> MergedView:
    """The merged view of the sandbox's default policy (what its definitions are evaluated on;
    the merge itself is checked in tests/profiles)."""
    return store.views.merged_view(tenant_, store.tenants.default_merge_policy(tenant_).id)


def profiles_table(store: Store, tenant_: Tenant) -> pa.Table:
    """The merged profiles of the default policy."""
    return pa.concat_tables(pq.read_table(f) for f in default_view(store, tenant_).profile_files)


def events_table(store: Store, tenant_: Tenant) -> pa.Table:
    """Every event of the default policy, ``__profile_id`` being the person it belongs to."""
    view = default_view(store, tenant_)
    events = pa.concat_tables(pq.read_table(f) for f in view.event_files)
    if not view.person_keys:
        return events
    keys = pa.concat_tables(pq.read_table(f) for f in view.person_keys)
    person = dict(zip(keys["identity"].to_pylist(), keys["person"].to_pylist(), strict=True))
    owners = [person.get(i, i) for i in events["__profile_id"].to_pylist()]
    index = events.schema.get_field_index("__profile_id")
    return events.set_column(index, "__profile_id", pa.array(owners, pa.string()))


def count_country(profiles: pa.Table, code: str) -> int:
    country = pc.struct_field(profiles["homeAddress"], "countryCode")
    return int(pc.sum(pc.fill_null(pc.equal(country, code), False)).as_py() or 0)


def profiles_with_events(events: pa.Table, event_type: str, now: datetime, days: int) -> set[str]:
    """Profiles with an event of ``event_type`` in [now - days, now)."""
    mask = pc.and_(
        pc.equal(events["eventType"], event_type),
        pc.and_(
            pc.greater_equal(
                events["timestamp"], pa.scalar(now - timedelta(days=days), pa.timestamp("us"))
            ),
            pc.less(events["timestamp"], pa.scalar(now, pa.timestamp("us"))),
        ),
    )
    return set(events.filter(mask)["__profile_id"].to_pylist())
