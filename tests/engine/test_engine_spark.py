"""SparkRunner and SparkCompiler: the same statuses, counts and Parquet as DuckDB on the same
lake, the golden Spark SQL of the three-segment plan, cancellation by job group, capability
errors before a job starts, and the settings that pick the engine.

Regenerate the golden file on purpose with
``SEGMINT_UPDATE_GOLDEN=1 pytest tests/engine/test_engine_spark.py`` and review the diff.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from engine_runs import run
from engine_testkit import NOW, pql
from test_engine_duckdb_runner import write_previous
from test_engine_planner import THREE_SEGMENTS

from segmint.engine import DuckDBRunner, QueryCancelled, check_supported, plan_segments
from segmint.engine.runners.spark import SparkJobError, SparkRunner
from segmint.engine.sql.spark import SparkCompiler
from segmint.jobs.executor import EngineSettings
from segmint.pql.errors import PQLUnsupportedError
from segmint.profiles.generate import generate
from segmint.settings import Settings, SettingsError
from tests.spark_support import spark_runner

GOLDEN = Path(__file__).parent / "golden" / "three_segments.spark.sql"
GENERATED_PROFILES = 400

SEGMENTS = [
    ("paris", pql('homeAddress.city = "Paris"')),
    ("buyers", pql('select X from xEvent where X.eventType = "commerce.purchases"')),
    (
        "views-30d",
        pql(
            '(select X from xEvent where X.eventType = "web.webpagedetails.pageViews" '
            "and X.timestamp occurs <= 30 days before now).count() >= 2"
        ),
    ),
    ("gold", pql('loyalty.tier.equals("gold", false) or person.birthYear >= 1990')),
]


def test_golden_spark_sql_for_three_segments() -> None:
    plan = plan_segments(THREE_SEGMENTS, NOW, compiler=SparkCompiler)
    emitted = plan.sql(dialect="spark", pretty=True) + "\n"
    if os.environ.get("SEGMINT_UPDATE_GOLDEN"):
        GOLDEN.write_text(emitted)
    assert emitted == GOLDEN.read_text()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[Path]]:
    out = tmp_path_factory.mktemp("generated")
    generate(out, profiles=GENERATED_PROFILES, seed=7, events_per_profile=6.0, now=NOW)
    return sorted((out / "profiles").glob("*.parquet")), sorted((out / "events").glob("*.parquet"))


def _run(
    runner: DuckDBRunner | SparkRunner,
    files: tuple[list[Path], list[Path]],
    out: Path,
    now: datetime,
    previous: list[tuple[list[Path], list[str]]],
) -> tuple[object, list[tuple[object, ...]]]:
    stats = runner.run_membership(
        profile_files=files[0],
        event_files=files[1],
        segments=SEGMENTS,
        now=now,
        previous=previous,
        out_dir=out,
    )
    rows = []
    for path in sorted(out.glob("*.parquet")):
        rows += [tuple(r.values()) for r in pq.read_table(path).to_pylist()]
    return stats, sorted(rows, key=repr)


def test_same_stats_and_rows_as_duckdb_across_two_runs(
    generated: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    """A first run, then a second one diffed against it (realized/existing/exited)."""
    later = datetime(2025, 7, 20, 9)
    results = {}
    for name, runner in (("duckdb", DuckDBRunner(threads=2)), ("spark", spark_runner())):
        first = tmp_path / name / "first"
        stats1, rows1 = _run(runner, generated, first, NOW, [])
        previous = [(sorted(first.glob("*.parquet")), [sid for sid, _ in SEGMENTS])]
        stats2, rows2 = _run(runner, generated, tmp_path / name / "second", later, previous)
        results[name] = (stats1, rows1, stats2, rows2)
    duck, spark = results["duckdb"], results["spark"]
    for index in (0, 2):  # stage timings differ; the counts must not
        d, s = duck[index], spark[index]
        assert (s.total_profiles, s.segments) == (d.total_profiles, d.segments)  # type: ignore[attr-defined]
    assert spark[1] == duck[1] and spark[3] == duck[3]
    assert any(stats.exited for stats in duck[2].segments.values())  # type: ignore[attr-defined]


def test_output_has_the_membership_schema(tmp_path: Path) -> None:
    previous = write_previous(tmp_path / "prev.parquet", [("p9", "paris", "exited", NOW)])
    lake_dir = tmp_path / "lake"
    from engine_testkit import write_lake

    lake = write_lake(lake_dir, [{"__profile_id": "p1", "homeAddress": {"city": "Paris"}}], [])
    _, rows = run(
        lake,
        SEGMENTS[:1],
        tmp_path / "out",
        previous=[([previous], ["paris"])],
        runner=spark_runner(),  # type: ignore[arg-type]
    )
    files = sorted((tmp_path / "out").glob("*"))
    assert files and all(f.name.startswith("membership-") for f in files)
    duck = pq.read_schema(_duck_file(lake, tmp_path))
    spark = pq.read_schema(files[0])
    assert [(f.name, f.type) for f in spark] == [(f.name, f.type) for f in duck]
    assert {(r["__profile_id"], r["status"]) for r in rows} == {
        ("p1", "realized"),
        ("p9", "exited"),
    }


def _duck_file(lake: object, tmp_path: Path) -> Path:
    out = tmp_path / "duck"
    run(lake, SEGMENTS[:1], out)  # type: ignore[arg-type]
    return sorted(out.glob("*.parquet"))[0]


def test_interrupt_cancels_a_running_spark_job(tmp_path: Path) -> None:
    runner = spark_runner()
    outcome: list[BaseException] = []

    def slow() -> None:
        spark = runner.session
        with runner._job_group():
            try:
                runner._action(
                    "run a slow job",
                    lambda: (
                        spark.range(0, 10**12, numPartitions=2)
                        .selectExpr("sum(cast(id AS DOUBLE))")
                        .collect()
                    ),
                )
            except BaseException as error:
                outcome.append(error)

    worker = threading.Thread(target=slow)
    worker.start()
    deadline = time.monotonic() + 30
    while runner._group is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    started = time.monotonic()
    runner.interrupt()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert outcome and isinstance(outcome[0], QueryCancelled)
    assert time.monotonic() - started < 30
    runner.interrupt()  # idle: nothing to cancel


def test_a_failing_query_is_a_clear_error_and_leaves_no_output(tmp_path: Path) -> None:
    missing = tmp_path / "missing.parquet"
    with pytest.raises(SparkJobError, match="Spark failed"):
        spark_runner().run_membership(
            profile_files=[missing],
            event_files=[],
            segments=SEGMENTS[:1],
            now=NOW,
            previous=(),
            out_dir=tmp_path / "out",
        )
    assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True


def test_a_closed_runner_refuses_work(tmp_path: Path) -> None:
    runner = spark_runner()
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.run_membership(
            profile_files=[],
            event_files=[],
            segments=[],
            now=NOW,
            previous=(),
            out_dir=tmp_path,
        )


def test_capability_table_rejects_before_the_job() -> None:
    expr = pql("exists A from xEvent, B from xEvent where A != B")
    check_supported(expr, "duckdb")
    with pytest.raises(PQLUnsupportedError, match="Spark"):
        check_supported(expr, "spark")


def test_settings_select_the_engine(tmp_path: Path) -> None:
    settings = Settings.from_env({"SEGMINT_ENGINE": "spark", "SEGMINT_SPARK_MASTER": "local[1]"})
    assert (settings.engine, settings.spark_master) == ("spark", "local[1]")
    assert Settings.from_env({}).engine == "duckdb"
    assert Settings.from_env({}).spark_master == "local[2]"
    with pytest.raises(SettingsError):
        Settings.from_env({"SEGMINT_ENGINE": "polars"})
    runner = EngineSettings(engine="spark", spark_master="local[1]").runner()
    assert isinstance(runner, SparkRunner) and runner.conf["spark.master"] == "local[1]"
    assert isinstance(EngineSettings().runner(), DuckDBRunner)
