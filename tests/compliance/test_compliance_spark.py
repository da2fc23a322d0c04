"""The compliance suite on Spark: every case Spark supports, per file in one
``SparkRunner.run_membership`` pass (local mode, one shared session), must give the hand-worked
members, which the interpreter and DuckDB are held to in ``test_compliance.py``: the three
engines agree on every case.

A case Spark cannot run is a strict xfail with its reason: listed in
``compliance/spark_pending.txt`` when only Spark rejects it, else pending on DuckDB as well
(``compliance/duckdb_pending.txt``). :func:`test_spark_pending_cases_are_listed` keeps the
Spark list exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from compliance_data import ROOT, Case, Suite, load_suites, write_memberships, write_parquet

from segmint.engine import check_supported
from segmint.pql import check, parse
from segmint.pql.ast import Expr
from segmint.pql.errors import PQLUnsupportedError
from segmint.xdm import PROFILE_ID_COLUMN
from tests.spark_support import spark_runner

SUITES = load_suites()
SUITE_BY_NAME = {suite.name: suite for suite in SUITES}
MEMBER_CASES = [c for suite in SUITES for c in suite.cases if c.expected_error is None]
SPARK_PENDING_FILE = ROOT / "spark_pending.txt"
DUCKDB_PENDING_FILE = ROOT / "duckdb_pending.txt"


def _listed(path: Path) -> dict[str, str]:
    """``key  # reason`` lines (the reason is optional)."""
    listed: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, reason = line.partition("#")
            listed[key.strip()] = reason.strip()
    return listed


SPARK_PENDING = _listed(SPARK_PENDING_FILE)
DUCKDB_PENDING = _listed(DUCKDB_PENDING_FILE)


def checked(suite: Suite, case: Case) -> Expr:
    return check(parse(case.expression), suite.schema, source=case.expression)


@cache
def spark_rejection(key: str) -> str | None:
    """Why Spark cannot run the case, or None when it can."""
    case = next(c for c in MEMBER_CASES if c.key == key)
    try:
        check_supported(checked(SUITE_BY_NAME[case.file], case), "spark")
    except PQLUnsupportedError as error:
        return error.message
    return None


def _param(case: Case) -> object:
    if spark_rejection(case.key) is None:
        return pytest.param(case, id=case.key)
    if case.key in SPARK_PENDING:
        reason = f"not on Spark: {SPARK_PENDING[case.key] or spark_rejection(case.key)}"
    elif case.key in DUCKDB_PENDING:
        reason = f"pending on DuckDB too: {spark_rejection(case.key)}"
    else:
        reason = "rejected on Spark but not listed in compliance/spark_pending.txt"
        return pytest.param(case, id=case.key)  # fails below, naming the case
    mark = pytest.mark.xfail(strict=True, raises=PQLUnsupportedError, reason=reason)
    return pytest.param(case, id=case.key, marks=mark)


@cache
def spark_members(suite_name: str, directory: Path) -> Mapping[str, frozenset[str]]:
    """Every Spark-supported case of one suite, run together; members per case id."""
    suite = SUITE_BY_NAME[suite_name]
    segments = [
        (case.id, checked(suite, case))
        for case in suite.cases
        if case.expected_error is None and spark_rejection(case.key) is None
    ]
    profile_files, event_files = write_parquet(suite, directory / "lake")
    out_dir = directory / "out"
    spark_runner().run_membership(
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


_directories: dict[str, Path] = {}


def _suite_directory(factory: pytest.TempPathFactory, name: str) -> Path:
    if name not in _directories:
        _directories[name] = factory.mktemp(f"spark-compliance-{name}")
    return _directories[name]


@pytest.mark.parametrize("case", [_param(case) for case in MEMBER_CASES])
def test_spark_agrees(case: Case, tmp_path_factory: pytest.TempPathFactory) -> None:
    suite = SUITE_BY_NAME[case.file]
    if spark_rejection(case.key) is not None:
        assert case.key in SPARK_PENDING or case.key in DUCKDB_PENDING, (
            f"{case.key} is rejected on Spark ({spark_rejection(case.key)}) but not listed"
        )
        check_supported(checked(suite, case), "spark")  # raises: the strict xfail
    directory = _suite_directory(tmp_path_factory, suite.name)
    assert spark_members(suite.name, directory)[case.id] == case.expected_members


def test_spark_pending_cases_are_listed() -> None:
    """The cases only Spark rejects, exactly, each with a reason: a newly supported construct
    shrinks the list."""
    rejected = {case.key for case in MEMBER_CASES if spark_rejection(case.key) is not None}
    assert rejected - set(DUCKDB_PENDING) == set(SPARK_PENDING)
    assert all(SPARK_PENDING.values()), "every Spark-pending case gives its reason"
    print(
        f"Spark runs {len(MEMBER_CASES) - len(rejected)} compliance cases; {len(rejected)} pending"
    )
