"""The ``segmint`` command line on a real (small) home."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from segmint.api.app import open_store, prepare_sample_data
from segmint.cli.main import app
from segmint.settings import Settings

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A home prepared as ``segmint serve`` prepares it: sample data and definitions."""
    values = {
        "SEGMINT_HOME": str(tmp_path / "home"),
        "SEGMINT_SAMPLE_PROFILES": "200",
        "SEGMINT_DUCKDB_THREADS": "2",
    }
    settings = Settings.from_env(values)
    store = open_store(settings)
    prepare_sample_data(store, settings)
    store.close()
    return values


def _default_view_profiles(env: dict[str, str]) -> int:
    """The profiles of the sample sandbox's default merged view (sample people and the ten
    ingested records, all people of their own)."""
    store = open_store(Settings.from_env(env))
    try:
        prod = store.tenants.resolve(Settings.from_env(env).org_id, "prod")
        assert prod is not None
        policy = store.tenants.default_merge_policy(prod)
        return store.views.merged_view(prod, policy.id).profiles
    finally:
        store.close()


def test_pql_check_accepts_and_rejects() -> None:
    ok = runner.invoke(app, ["pql", "check", 'homeAddress.countryCode = "US"'])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["pql", "check", "homeAddress.countryCode = "])
    assert bad.exit_code == 1
    assert "line 1" in bad.output


def test_pql_reads_stdin() -> None:
    result = runner.invoke(app, ["pql", "parse"], input='person.gender = "male"')
    assert result.exit_code == 0 and "Binary" in result.output


def test_generate_writes_parquet(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["generate", "--out", str(tmp_path / "d"), "--profiles", "1500", "--chunk-size", "1000"],
    )
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "d" / "profiles").glob("*.parquet"))) == 2


def test_ingest_then_run_list_get_cancel(tmp_path: Path, env: dict[str, str]) -> None:
    people = tmp_path / "people.ndjson"
    people.write_text(
        "\n".join(
            json.dumps(
                {
                    "_id": f"p{i}",
                    "identityMap": {"Email": [{"id": f"u{i}@x.com", "primary": True}]},
                    "homeAddress": {"countryCode": "US" if i % 2 else "FR"},
                }
            )
            for i in range(10)
        )
        + "\n"
    )
    ingested = runner.invoke(app, ["ingest", str(people), "--dataset", "CRM"], env=env)
    assert ingested.exit_code == 0, ingested.output
    assert "10 of 10 records" in ingested.output
    run = runner.invoke(app, ["jobs", "run", "--all"], env=env)
    assert run.exit_code == 0, run.output
    job_id = re.search(r"created segment job ([0-9a-f-]{36})", run.output).group(1)  # type: ignore[union-attr]
    assert '"SUCCEEDED"' in run.output
    listed = runner.invoke(app, ["jobs", "list"], env=env)
    assert listed.exit_code == 0 and job_id[:8] in listed.output
    got = runner.invoke(app, ["jobs", "get", job_id], env=env)
    assert got.exit_code == 0 and f'"totalProfiles": {_default_view_profiles(env)}' in got.output
    cancelled = runner.invoke(app, ["jobs", "cancel", job_id], env=env)
    assert cancelled.exit_code == 1 and "already finished" in cancelled.output
    missing = runner.invoke(app, ["jobs", "get", "nope"], env=env)
    assert missing.exit_code == 1


def test_detached_job_can_be_cancelled(env: dict[str, str]) -> None:
    created = runner.invoke(app, ["jobs", "run", "--all", "--detach"], env=env)
    assert created.exit_code == 0, created.output
    job_id = re.search(r"created segment job ([0-9a-f-]{36})", created.output).group(1)  # type: ignore[union-attr]
    cancelled = runner.invoke(app, ["jobs", "cancel", job_id], env=env)
    assert cancelled.exit_code == 0 and "CANCELLED" in cancelled.output


def test_pql_format_prints_canonical_text() -> None:
    result = runner.invoke(
        app, ["pql", "format", 'homeAddress.countryCode="US"  AND person.birthYear>1980']
    )
    assert result.exit_code == 0, result.output
    text = result.output.strip()
    assert "and" in text and '"US"' in text
    again = runner.invoke(app, ["pql", "format", text])
    assert again.output.strip() == text


def test_pql_eval_on_profile_and_events_files(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps({"homeAddress": {"countryCode": "US"}, "person": {"birthYear": 1990}})
    )
    events = tmp_path / "events.json"
    events.write_text(
        json.dumps(
            [
                {
                    "_id": "e1",
                    "timestamp": "2026-11-20T10:00:00Z",
                    "eventType": "commerce.purchases",
                },
                {
                    "_id": "e2",
                    "timestamp": "2026-10-01T10:00:00Z",
                    "eventType": "commerce.purchases",
                },
            ]
        )
    )
    expression = (
        'homeAddress.countryCode = "US" and (select X from xEvent where '
        'X.eventType = "commerce.purchases" and X.timestamp occurs <= 7 days before now)'
        ".count() = 1"
    )
    args = [
        "pql",
        "eval",
        expression,
        "--profile",
        str(profile),
        "--events",
        str(events),
        "--now",
        "2026-11-23T00:00:00Z",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "true"
    later = runner.invoke(app, [*args[:-1], "2027-01-01T00:00:00Z"])
    assert later.output.strip() == "false"


def test_pql_eval_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"person": {"birthYear": "old"}}')
    result = runner.invoke(app, ["pql", "eval", "person.birthYear > 1", "--profile", str(bad)])
    assert result.exit_code == 2
    assert "birthYear" in result.output
