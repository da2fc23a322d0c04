"""The segment-job benchmark: its 100 definitions are valid PQL over the generated schema, its
hand-written SQL agrees with the reference interpreter, and it runs end to end on tiny data."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from benchmarks.definitions import (
    ATTRIBUTE,
    BY_KEY,
    DEFINITIONS,
    EVENT,
    SEGMENTS,
    SEQUENCE,
    dependencies,
    hand_written_sql,
)
from benchmarks.oracle import checked, interpreted_counts
from benchmarks.segment_job import main, triage

from segmint.profiles.generate import generate

KEYS = [d.key for d in DEFINITIONS]


def test_one_hundred_definitions_of_the_four_kinds() -> None:
    assert len(KEYS) == len(set(KEYS)) == 100
    kinds = Counter(d.kind for d in DEFINITIONS)
    assert kinds == {ATTRIBUTE: 40, EVENT: 40, SEQUENCE: 10, SEGMENTS: 10}
    for definition in DEFINITIONS:
        assert all(reference in BY_KEY for reference in definition.references())
        assert bool(definition.references()) == (definition.kind == SEGMENTS)
        assert ("chain(" in definition.pql) == (definition.kind == SEQUENCE)


@pytest.mark.parametrize("key", KEYS)
def test_definition_checks_against_the_generated_schema(key: str) -> None:
    checked(key, {k: f"bench-{k}" for k in KEYS})


def test_references_come_first() -> None:
    assert dependencies(["g10"]) == ["a01", "a04", "g01", "e01", "g02", "g10"]


def test_triage_accounts_for_every_definition() -> None:
    accepted, rejected = triage()
    assert sorted(accepted + list(rejected)) == sorted(KEYS)
    assert all(reason for reason in rejected.values())


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("lake")
    generate(directory, profiles=500, seed=7, now=datetime.now(UTC).replace(tzinfo=None))
    return directory


def test_hand_written_sql_agrees_with_the_interpreter(lake: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    profiles = sorted((lake / "profiles").glob("*.parquet"))
    events = sorted((lake / "events").glob("*.parquet"))
    connection = duckdb.connect()
    connection.read_parquet([str(f) for f in profiles]).create_view("profiles")
    connection.read_parquet([str(f) for f in events]).create_view("events")
    row = connection.execute(hand_written_sql(KEYS, now)).fetchone()
    assert row is not None
    hand = dict(zip(KEYS, row, strict=True))
    oracle = interpreted_counts(profiles, events, KEYS, now)
    assert {k: (hand[k], oracle[k]) for k in KEYS if hand[k] != oracle[k]} == {}
    assert sum(hand.values()) > 0


def test_the_benchmark_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--profiles", "2000", "--repeat", "1", "--warmup", "0", "--data-dir", str(tmp_path)]
    status = main(argv)
    out, err = capsys.readouterr()
    assert "ratios over the" in out or "0 run by the engine" in out
    assert "job total" in out
    assert "hand-written SQL, all 100" in out
    assert status == 0, err
    assert (tmp_path / "p2000-e10" / "done").exists()
