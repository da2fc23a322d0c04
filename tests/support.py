"""Shared test helpers: settings for an isolated home, tokens and AEP headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from segmint.settings import Settings

ORG = "TESTORG0000000000000000@AdobeOrg"
CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret"
SAMPLE_PROFILES = 400


def make_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "org_id": ORG,
        "sandboxes": ("prod", "dev"),
        "sample_profiles": SAMPLE_PROFILES,
        "workers": 0,
        "lease_seconds": 5,
        "duckdb_threads": 2,
    }
    values.update(overrides)
    return Settings(**values)


def token_for(client: TestClient) -> str:
    response = client.post(
        "/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "openid,AdobeID",
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def aep_headers(token: str, sandbox: str = "prod") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "x-api-key": CLIENT_ID,
        "x-gw-ims-org-id": ORG,
        "x-sandbox-name": sandbox,
        "Content-Type": "application/json",
    }
