"""Tenant ``_<tenantId>`` field groups registered per sandbox: definitions are checked
against them, ingest writes them, jobs evaluate them; other sandboxes do not see them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from segmint.cli.context import CommandError
from segmint.cli.ingest import ingest_files
from segmint.settings import Settings
from segmint.store import Store
from segmint.xdm import PROFILE_CLASS, TenantFieldError
from tests.api.helpers import DEFINITIONS, create_definition, create_job, get_job, tenant
from tests.support import ORG, aep_headers, token_for

ACME = {"_acme": {"loyaltyScore": "integer", "tags": ["string"], "prefs": {"channel": "string"}}}


def test_tenant_fields_from_registration_to_job(
    client: TestClient,
    headers: dict[str, str],
    store: Store,
    settings: Settings,
    run_jobs: Any,
    tmp_path: Path,
) -> None:
    prod = tenant(store, ORG)
    store.schemas.register(prod, PROFILE_CLASS, ACME)
    people = tmp_path / "acme.ndjson"
    people.write_text(
        "\n".join(
            json.dumps(
                {
                    "_id": f"a{i}",
                    "identityMap": {"CRMID": [{"id": f"c{i}", "primary": True}]},
                    "_acme": {
                        "loyaltyScore": i * 10,
                        "tags": ["vip"] if i % 3 == 0 else [],
                        "prefs": {"channel": "email"},
                    },
                }
            )
            for i in range(12)
        )
        + "\n"
    )
    assert ingest_files(settings, [people], "acme crm", "profile", "prod", Console()) == 0
    high = create_definition(client, headers, "_acme.loyaltyScore > 50")
    vip = create_definition(client, headers, '"vip" in _acme.tags')
    job = create_job(client, headers, [high["id"], vip["id"]])
    run_jobs()
    done = get_job(client, headers, job["id"])
    assert done["status"] == "SUCCEEDED", done.get("errors")
    assert done["metrics"]["segmentedProfileCounter"] == {high["id"]: 6, vip["id"]: 4}


def test_unregistered_sandbox_rejects_tenant_fields(
    client: TestClient, headers: dict[str, str], store: Store
) -> None:
    store.schemas.register(tenant(store, ORG), PROFILE_CLASS, ACME)
    dev = aep_headers(token_for(client), sandbox="dev")
    body = {
        "name": "acme",
        "schema": {"name": "_xdm.context.profile"},
        "expression": {"type": "PQL", "format": "pql/text", "value": "_acme.loyaltyScore > 50"},
    }
    response = client.post(DEFINITIONS, headers=dev, json=body)
    assert response.status_code == 400
    assert response.json()["report"]["pqlError"]["kind"] == "name"
    assert client.post(DEFINITIONS, headers=headers, json=body).status_code == 200


@pytest.mark.parametrize(
    "document",
    [
        {"acme": {"score": "integer"}},
        {"_acme": {"score": "int"}},
        {"_acme": {"tags": ["string", "integer"]}},
        {"_acme": {"bad name": "string"}},
        {"_acme": {}},
        ["_acme"],
    ],
)
def test_bad_field_groups_are_refused(store: Store, document: Any) -> None:
    prod = tenant(store, ORG)
    with pytest.raises(TenantFieldError):
        store.schemas.register(prod, PROFILE_CLASS, document)
    assert store.schemas.documents(prod) == {}


def test_cli_registers_and_shows(settings: Settings, store: Store, tmp_path: Path) -> None:
    from segmint.cli.schemas import register, show

    file = tmp_path / "acme.json"
    file.write_text(json.dumps(ACME))
    assert register(settings, file, "profile", "prod", Console()) == 0
    assert store.schemas.documents(tenant(store, ORG)) == {PROFILE_CLASS: ACME}
    assert show(settings, "prod", Console()) == 0
    file.write_text('{"acme": 1}')
    with pytest.raises(CommandError):
        register(settings, file, "profile", "prod", Console())


def test_registered_field_without_data_yet_qualifies_nobody(
    client: TestClient, headers: dict[str, str], store: Store, run_jobs: Any
) -> None:
    store.schemas.register(tenant(store, ORG), PROFILE_CLASS, {"_acme": {"score": "integer"}})
    scored = create_definition(client, headers, "_acme.score > 1")
    unscored = create_definition(client, headers, "_acme.score.isNull()")
    job = create_job(client, headers, [scored["id"], unscored["id"]])
    run_jobs()
    done = get_job(client, headers, job["id"])
    assert done["status"] == "SUCCEEDED", done.get("errors")
    counters = done["metrics"]["segmentedProfileCounter"]
    assert counters == {scored["id"]: 0, unscored["id"]: done["metrics"]["totalProfiles"]}
