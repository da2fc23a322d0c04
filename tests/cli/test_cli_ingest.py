"""``segmint ingest``: the same batch completion as the HTTP API, with identity fields for the
datasets it creates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from segmint.api.app import open_store
from segmint.cli.main import app
from segmint.settings import Settings

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"SEGMINT_HOME": str(tmp_path / "home"), "SEGMINT_SAMPLE_PROFILES": "0"}


def write(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def dataset_table(env: dict[str, str], name: str) -> tuple[pa.Table, tuple[Any, ...]]:
    store = open_store(Settings.from_env(env))
    try:
        tenant = store.tenants.resolve(Settings.from_env(env).org_id, "prod")
        assert tenant is not None
        [dataset] = [d for d in store.catalog.datasets(tenant) if d.name == name]
        _, files = store.catalog.dataset_files(tenant, dataset.id)
        return pa.concat_tables(pq.read_table(f) for f in files), dataset.descriptors
    finally:
        store.close()


def test_identity_fields_of_a_new_dataset(tmp_path: Path, env: dict[str, str]) -> None:
    people = write(
        tmp_path / "people.ndjson",
        [
            {
                "_id": f"p{i}",
                "personalEmail": {"address": f"u{i}@x.com"},
                "mobilePhone": {"number": f"+1{i}"},
            }
            for i in range(3)
        ],
    )
    result = runner.invoke(
        app,
        [
            "ingest",
            str(people),
            "--dataset",
            "CRM",
            "--primary-identity",
            "personalEmail.address=Email",
            "--identity",
            "/mobilePhone/number=Phone",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "3 of 3 records" in result.output
    table, descriptors = dataset_table(env, "CRM")
    assert sorted(table["__profile_id"].to_pylist()) == [f"Email:u{i}@x.com" for i in range(3)]
    assert {d.namespace: (d.path, d.primary) for d in descriptors} == {
        "Email": ("personalEmail.address", True),
        "Phone": ("mobilePhone.number", False),
    }


def test_bad_records_are_listed_and_the_good_ones_kept(tmp_path: Path, env: dict[str, str]) -> None:
    people = write(
        tmp_path / "people.ndjson",
        [
            {"identityMap": {"Email": [{"id": "a@x.com"}]}},
            {"identityMap": {"Email": [{"id": "b@x.com"}]}, "homeAddress": {"city": 5}},
        ],
    )
    result = runner.invoke(app, ["ingest", str(people), "--dataset", "CRM"], env=env)
    assert result.exit_code == 0, result.output
    assert "people.ndjson row 1: homeAddress.city: expected string, got integer" in result.output
    assert "1 of 2 records" in result.output


def test_resending_events_adds_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    events = write(
        tmp_path / "events.ndjson",
        [
            {
                "_id": f"e{i}",
                "timestamp": "2024-05-01T00:00:00Z",
                "identityMap": {"Email": [{"id": "a@x.com"}]},
            }
            for i in range(3)
        ],
    )
    args = ["ingest", str(events), "--dataset", "Web", "--kind", "event"]
    assert "3 of 3 records" in runner.invoke(app, args, env=env).output
    again = runner.invoke(app, args, env=env)
    assert again.exit_code == 0, again.output
    assert "0 of 3 records" in again.output and "(3 already present)" in again.output
    assert dataset_table(env, "Web")[0].num_rows == 3


def test_a_batch_with_no_good_record_exits_1(tmp_path: Path, env: dict[str, str]) -> None:
    people = write(tmp_path / "people.ndjson", [{"_id": "x"}])
    result = runner.invoke(app, ["ingest", str(people), "--dataset", "CRM"], env=env)
    assert result.exit_code == 1
    assert "(failed)" in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--identity", "personalEmail.address"], "takes PATH=NAMESPACE"),
        (["--primary-identity", "=Email"], "takes PATH=NAMESPACE"),
        (["--identity", "personalEmail.address=Loyalty"], "unknown identity namespace"),
        (["--identity", "homeAddress=Email"], "not a string field"),
        (["--kind", "segment"], "--kind"),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, env: dict[str, str], options: list[str], message: str
) -> None:
    people = write(tmp_path / "people.ndjson", [{"identityMap": {"Email": [{"id": "a@x.com"}]}}])
    result = runner.invoke(app, ["ingest", str(people), "--dataset", "CRM", *options], env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_identity_fields_cannot_change_on_an_existing_dataset(
    tmp_path: Path, env: dict[str, str]
) -> None:
    people = write(tmp_path / "people.ndjson", [{"personalEmail": {"address": "a@x.com"}}])
    base = ["ingest", str(people), "--dataset", "CRM"]
    first = runner.invoke(
        app, [*base, "--primary-identity", "personalEmail.address=Email"], env=env
    )
    assert first.exit_code == 0, first.output
    other = runner.invoke(app, [*base, "--identity", "personalEmail.address=Email"], env=env)
    assert other.exit_code == 2 and "other identity fields" in other.output
    same = runner.invoke(app, base, env=env)
    assert same.exit_code == 0, same.output


@pytest.mark.parametrize(
    ("name", "message"),
    [("people.csv", "unsupported file type"), ("missing.ndjson", "no such file")],
)
def test_unreadable_files_exit_2(
    tmp_path: Path, env: dict[str, str], name: str, message: str
) -> None:
    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_text("a,b\n")
    result = runner.invoke(app, ["ingest", str(path), "--dataset", "CRM"], env=env)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())  # the console wraps long lines


def test_a_file_that_cannot_be_read_fails_the_batch(tmp_path: Path, env: dict[str, str]) -> None:
    broken = tmp_path / "people.json"
    broken.write_text('[{"identityMap": {"Email": [{"id": "a@x.com"}]}},\n {"_id": }]')
    result = runner.invoke(app, ["ingest", str(broken), "--dataset", "CRM"], env=env)
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "INGEST-1101-400: people.json:2: malformed JSON" in output
    assert str(tmp_path) not in output  # where the file lives is not part of the report
    assert "(failed)" in output
