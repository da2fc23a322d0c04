"""The PQL compliance suite (``compliance/*.json``): hand-worked expected members per case.

Every case is parsed, checked against its file's schema and run by the reference interpreter
over each profile of the file's dataset; the qualified set (or the error kind) must match.
Cases that ``check_supported`` accepts for DuckDB are also run, per file in one
``DuckDBRunner.run_membership`` pass over the dataset written as Parquet, and must give the
same members. The cases DuckDB cannot run yet are listed in ``compliance/duckdb_pending.txt``,
kept exact by :func:`test_duckdb_pending_cases_are_listed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from compliance_data import ROOT, Case, Suite, load_suites, write_memberships, write_parquet

from segmint.engine import DuckDBRunner, check_supported, evaluate
from segmint.pql import PQLError, check, parse
from segmint.pql.ast import Expr
from segmint.pql.errors import PQLUnsupportedError
from segmint.xdm import PROFILE_ID_COLUMN

SUITES = load_suites()
SUITE_BY_NAME = {suite.name: suite for suite in SUITES}
CASES = [case for suite in SUITES for case in suite.cases]
MEMBER_CASES = [case for case in CASES if case.expected_error is None]
PENDING_FILE = ROOT / "duckdb_pending.txt"
MINIMUM_CASES = 300


def checked(suite: Suite, case: Case) -> Expr:
    return check(parse(case.expression), suite.schema, source=case.expression)


def interpreted(suite: Suite, expr: Expr) -> frozenset[str]:
    members = set()
    for profile in suite.profiles:
        profile_id = profile[PROFILE_ID_COLUMN]
        memberships: Mapping[str, str] | None = None
        if suite.memberships is not None:
            memberships = suite.memberships.get(profile_id, {})
        events = suite.events_of(profile_id)
        if evaluate(expr, profile, events, suite.now, memberships=memberships):
            members.add(profile_id)
    return frozenset(members)


def duckdb_supported(suite: Suite, case: Case) -> Expr | None:
    if case.expected_error is not None:
        return None
    expr = checked(suite, case)
    try:
        check_supported(expr)
    except PQLUnsupportedError:
        return None
    return expr


@cache
def duckdb_members(suite_name: str, directory: Path) -> Mapping[str, frozenset[str]]:
    """Every DuckDB-supported case of one suite, run together; members per case id."""
    suite = SUITE_BY_NAME[suite_name]
    segments = [(case.id, expr) for case in suite.cases if (expr := duckdb_supported(suite, case))]
    profile_files, event_files = write_parquet(suite, directory / "lake")
    out_dir = directory / "out"
    DuckDBRunner(threads=1).run_membership(
        profile_files=profile_files,
        event_files=event_files,
        segments=segments,
        now=suite.now,
        previous=(),
        out_dir=out_dir,
        memberships=write_memberships(suite, directory / "lake"),
    )
    members: dict[str, set[str]] = {case_id: set() for case_id, _ in segments}
    for path in sorted(out_dir.glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            if row["status"] in ("realized", "existing"):
                members[row["segmentId"]].add(row[PROFILE_ID_COLUMN])
    return {case_id: frozenset(found) for case_id, found in members.items()}


@pytest.mark.parametrize("case", CASES, ids=[case.key for case in CASES])
def test_interpreter(case: Case) -> None:
    suite = SUITE_BY_NAME[case.file]
    if case.expected_error is not None:
        with pytest.raises(PQLError) as raised:
            interpreted(suite, checked(suite, case))
        assert raised.value.kind == case.expected_error, raised.value.message
        return
    assert interpreted(suite, checked(suite, case)) == case.expected_members


@pytest.mark.parametrize("case", MEMBER_CASES, ids=[case.key for case in MEMBER_CASES])
def test_duckdb_agrees(case: Case, tmp_path_factory: pytest.TempPathFactory) -> None:
    suite = SUITE_BY_NAME[case.file]
    if duckdb_supported(suite, case) is None:
        assert case.key in pending_cases(), "unsupported on DuckDB but not listed as pending"
        return
    directory = _suite_directory(tmp_path_factory, suite.name)
    assert duckdb_members(suite.name, directory)[case.id] == case.expected_members


@cache
def _suite_directory_cache() -> dict[str, Path]:
    return {}


def _suite_directory(factory: pytest.TempPathFactory, name: str) -> Path:
    known = _suite_directory_cache()
    if name not in known:
        known[name] = factory.mktemp(f"compliance-{name}")
    return known[name]


@cache
def pending_cases() -> frozenset[str]:
    lines = PENDING_FILE.read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def test_duckdb_pending_cases_are_listed() -> None:
    """The cases DuckDB cannot run yet, exactly: a newly supported construct shrinks the list."""
    pending = {
        case.key
        for case in MEMBER_CASES
        if duckdb_supported(SUITE_BY_NAME[case.file], case) is None
    }
    assert pending == set(pending_cases())
    ran = len(MEMBER_CASES) - len(pending)
    print(f"DuckDB runs {ran} compliance cases; {len(pending)} pending")


def test_suite_size_and_unique_ids() -> None:
    keys = [case.key for case in CASES]
    assert len(keys) == len(set(keys))
    assert len(CASES) >= MINIMUM_CASES


def test_every_profile_id_is_unique_per_suite() -> None:
    for suite in SUITES:
        ids = [profile[PROFILE_ID_COLUMN] for profile in suite.profiles]
        assert len(ids) == len(set(ids)), suite.name
        for case in suite.cases:
            assert case.expected_members is None or case.expected_members <= set(ids), case.key
