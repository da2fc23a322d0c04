"""DuckDBRunner.run_membership: statuses against the previous run (xdm.md §1.2), the counts it
returns, the Parquet it writes, SQL injection, and cancellation."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from engine_runs import run
from engine_testkit import NOW, Lake, Row, pql, write_lake

from segmint.engine import DuckDBRunner, MembershipStats, QueryCancelled
from segmint.engine.runners.duckdb import read_parquet
from segmint.xdm import PROFILE_ID_COLUMN

PARIS = pql('homeAddress.city = "Paris"')
EARLIER = datetime(2025, 6, 1, 8)
LONG_AGO = datetime(2025, 3, 1)


def profile(profile_id: str, city: str | None, *namespaces: str) -> Row:
    identity_map = [(namespace, [{"id": f"{profile_id}@{namespace}"}]) for namespace in namespaces]
    return {
        PROFILE_ID_COLUMN: profile_id,
        "homeAddress": None if city is None else {"city": city},
        "identityMap": identity_map or None,
    }


def write_previous(path: Path, rows: list[tuple[str, str, str, datetime]]) -> Path:
    schema = pa.schema(
        [
            (PROFILE_ID_COLUMN, pa.string()),
            ("segmentId", pa.string()),
            ("status", pa.string()),
            ("lastQualificationTime", pa.timestamp("us")),
        ]
    )
    columns = list(zip(*rows, strict=True)) if rows else [[], [], [], []]
    pq.write_table(pa.Table.from_arrays([pa.array(c) for c in columns], schema=schema), path)
    return path


def statuses(rows: list[Row], segment_id: str) -> dict[str, tuple[str, datetime]]:
    return {
        row[PROFILE_ID_COLUMN]: (row["status"], row["lastQualificationTime"])
        for row in rows
        if row["segmentId"] == segment_id
    }


class TestStatuses:
    @pytest.fixture
    def lake(self, tmp_path: Path) -> Lake:
        cities = {
            "new": "Paris",
            "kept-realized": "Paris",
            "kept-existing": "Paris",
            "back": "Paris",
            "left-realized": "Rome",
            "left-existing": None,
            "still-out": "Rome",
            "never": "Rome",
        }
        return write_lake(tmp_path / "lake", [profile(p, c) for p, c in cities.items()], [])

    @pytest.fixture
    def previous(self, tmp_path: Path) -> Path:
        return write_previous(
            tmp_path / "previous.parquet",
            [
                ("kept-realized", "paris", "realized", EARLIER),
                ("kept-existing", "paris", "existing", EARLIER),
                ("back", "paris", "exited", LONG_AGO),
                ("left-realized", "paris", "realized", EARLIER),
                ("left-existing", "paris", "existing", EARLIER),
                ("still-out", "paris", "exited", LONG_AGO),
                ("vanished", "paris", "realized", EARLIER),  # no longer among the profiles
                ("never", "other-segment", "realized", EARLIER),  # not asked for
            ],
        )

    def test_each_transition(self, lake: Lake, previous: Path, tmp_path: Path) -> None:
        stats, rows = run(
            lake, [("paris", PARIS)], tmp_path / "out", previous=[([previous], ["paris"])]
        )
        assert statuses(rows, "paris") == {
            "new": ("realized", NOW),
            "kept-realized": ("existing", NOW),
            "kept-existing": ("existing", NOW),
            "back": ("realized", NOW),
            "left-realized": ("exited", NOW),
            "left-existing": ("exited", NOW),
            "vanished": ("exited", NOW),
            "still-out": ("exited", LONG_AGO),
        }
        counts = stats.segments["paris"]
        assert (counts.qualified, counts.realized, counts.existing, counts.exited) == (4, 2, 2, 3)
        assert stats.total_profiles == 8

    def test_without_previous_everything_is_realized(self, lake: Lake, tmp_path: Path) -> None:
        stats, rows = run(lake, [("paris", PARIS)], tmp_path / "out")
        assert {s for s, _ in statuses(rows, "paris").values()} == {"realized"}
        assert stats.segments["paris"].realized == 4

    def test_only_the_listed_segments_are_read_from_a_batch(
        self, lake: Lake, previous: Path, tmp_path: Path
    ) -> None:
        _, rows = run(lake, [("paris", PARIS)], tmp_path / "out", previous=[([previous], [])])
        assert {s for s, _ in statuses(rows, "paris").values()} == {"realized"}

    def test_statuses_chain_across_runs(self, lake: Lake, tmp_path: Path) -> None:
        first, second = tmp_path / "run1", tmp_path / "run2"
        run(lake, [("paris", PARIS)], first)
        rome = pql('homeAddress.city = "Rome"')
        later = datetime(2025, 6, 19, 9)
        _, rows = run(
            lake,
            [("paris", rome)],
            second,
            now=later,
            previous=[(sorted(first.glob("*.parquet")), ["paris"])],
        )
        result = statuses(rows, "paris")
        assert result["new"] == ("exited", later)
        assert result["never"] == ("realized", later)
        assert "left-existing" not in result


def test_segments_take_their_previous_rows_from_their_own_batch(tmp_path: Path) -> None:
    lake = write_lake(tmp_path / "lake", [profile("a", "Paris"), profile("b", "Rome")], [])
    batch1 = write_previous(tmp_path / "b1.parquet", [("a", "s1", "realized", EARLIER)])
    batch2 = write_previous(
        tmp_path / "b2.parquet",
        [("a", "s1", "exited", LONG_AGO), ("b", "s2", "realized", EARLIER)],
    )
    segments = [("s1", PARIS), ("s2", PARIS)]
    previous = [([batch1], ["s1"]), ([batch2], ["s2"])]
    stats, rows = run(lake, segments, tmp_path / "out", previous=previous)
    assert statuses(rows, "s1") == {"a": ("existing", NOW)}
    assert statuses(rows, "s2") == {"a": ("realized", NOW), "b": ("exited", NOW)}
    assert stats.segments["s2"].exited == 1


def test_namespace_counts_of_qualified_profiles(tmp_path: Path) -> None:
    profiles = [
        profile("a", "Paris", "ECID", "Email"),
        profile("b", "Paris", "ECID"),
        profile("c", "Paris"),
        profile("d", "Rome", "ECID", "Phone"),
    ]
    lake = write_lake(tmp_path / "lake", profiles, [])
    stats, _ = run(
        lake, [("paris", PARIS), ("nobody", pql('homeAddress.city = "x"'))], tmp_path / "o"
    )
    assert stats.segments["paris"].namespaces == {"ECID": 2, "Email": 1}
    assert stats.segments["nobody"].namespaces == {}
    assert stats.segments["nobody"].qualified == 0


def test_the_written_batch_has_the_membership_schema(tmp_path: Path) -> None:
    lake = write_lake(tmp_path / "lake", [profile("a", "Paris")], [])
    out = tmp_path / "out"
    stats = DuckDBRunner().run_membership(
        profile_files=lake.profile_files,
        event_files=[],
        segments=[("paris", PARIS)],
        now=NOW,
        previous=[],
        out_dir=out,
        namespaces=False,
    )
    (written,) = out.glob("*.parquet")
    schema = pq.read_schema(written)
    assert [(f.name, str(f.type)) for f in schema] == [
        (PROFILE_ID_COLUMN, "string"),
        ("segmentId", "string"),
        ("status", "string"),
        ("lastQualificationTime", "timestamp[us]"),
    ]
    assert isinstance(stats, MembershipStats)
    assert stats.evaluate_ms >= 0 and stats.write_ms >= 0
    assert stats.segments["paris"].namespaces == {}


def test_no_profiles_and_no_segments(tmp_path: Path) -> None:
    runner = DuckDBRunner()
    empty = runner.run_membership(
        profile_files=[],
        event_files=[],
        segments=[("paris", PARIS)],
        now=NOW,
        previous=[],
        out_dir=tmp_path / "a",
    )
    assert empty.total_profiles == 0 and empty.segments["paris"].qualified == 0
    lake = write_lake(tmp_path / "lake", [profile("a", "Paris")], [])
    none = runner.run_membership(
        profile_files=lake.profile_files,
        event_files=[],
        segments=[],
        now=NOW,
        previous=[],
        out_dir=tmp_path / "b",
    )
    assert none.total_profiles == 1 and none.segments == {}
    assert pq.read_table(next((tmp_path / "b").glob("*.parquet"))).num_rows == 0


def test_duplicate_segment_ids_are_refused(tmp_path: Path) -> None:
    lake = write_lake(tmp_path / "lake", [profile("a", "Paris")], [])
    with pytest.raises(ValueError, match="unique"):
        run(lake, [("s", PARIS), ("s", PARIS)], tmp_path / "out")
    batch = write_previous(tmp_path / "p.parquet", [])
    with pytest.raises(ValueError, match="given twice"):
        run(lake, [("s", PARIS)], tmp_path / "out", previous=[([batch], ["s"]), ([batch], ["s"])])


def test_pql_strings_and_file_names_cannot_inject_sql(tmp_path: Path) -> None:
    hostile = "x'); DROP TABLE qualified; SELECT ('"
    directory = tmp_path / "it's; a dir"
    lake = write_lake(directory, [profile("a", hostile), profile("b", "Paris")], [])
    segments = [
        ("hostile", pql(f'homeAddress.city = "{hostile}"')),
        ("semi'colon;--", pql('homeAddress.city like "%\'; --%"')),
    ]
    stats, rows = run(lake, segments, tmp_path / "out")
    assert statuses(rows, "hostile") == {"a": ("realized", NOW)}
    assert stats.segments["semi'colon;--"].qualified == 0
    assert stats.total_profiles == 2


def test_interrupt_cancels_a_running_evaluation(tmp_path: Path) -> None:
    events = tmp_path / "events.parquet"
    profiles = tmp_path / "profiles.parquet"
    with duckdb.connect() as connection:
        connection.sql(
            "SELECT 'p' || (i % 200000) AS __profile_id, "
            "TIMESTAMP '2025-06-01' + to_seconds(i % 1500000) AS timestamp, "
            "'type' || (i % 10) AS eventType FROM range(2000000) t(i)"
        ).write_parquet(str(events))
        connection.sql(
            "SELECT 'p' || i AS __profile_id, {'city': 'c' || (i % 7)} AS homeAddress "
            "FROM range(200000) t(i)"
        ).write_parquet(str(profiles))
    conditions = [
        pql(
            f'(select X from xEvent where X.eventType = "type{n}" and X.timestamp occurs '
            f"<= {n + 1} days before now).count() > {n}"
        )
        for n in range(10)
    ]
    runner = DuckDBRunner(threads=2)
    outcome: list[BaseException | MembershipStats] = []

    def evaluate() -> None:
        try:
            outcome.append(
                runner.run_membership(
                    profile_files=[profiles],
                    event_files=[events] * 200,  # 400M rows: minutes of work
                    segments=[(f"s{n}", c) for n, c in enumerate(conditions)],
                    now=NOW,
                    previous=[],
                    out_dir=tmp_path / "out",
                    namespaces=False,
                )
            )
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=evaluate)
    worker.start()
    worker.join(timeout=1.0)
    runner.interrupt()
    worker.join(timeout=120)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], QueryCancelled)


def test_memory_limit_and_spill_directory(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    runner = DuckDBRunner(threads=1, memory_limit="256MB", temp_directory=spill)
    lake = write_lake(tmp_path / "lake", [profile("a", "Paris"), profile("b", "Rome")], [])
    stats, _ = run(lake, [("paris", PARIS)], tmp_path / "out", runner=runner)
    assert stats.segments["paris"].qualified == 1


def test_interrupt_when_idle_does_nothing(tmp_path: Path) -> None:
    runner = DuckDBRunner()
    runner.interrupt()
    lake = write_lake(tmp_path / "lake", [profile("a", "Paris")], [])
    stats, _ = run(lake, [("paris", PARIS)], tmp_path / "out", runner=runner)
    assert stats.segments["paris"].qualified == 1


def test_a_closed_runner_refuses_work(tmp_path: Path) -> None:
    lake = write_lake(tmp_path / "lake", [profile("a", "Paris")], [])
    with DuckDBRunner() as runner:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        run(lake, [("paris", PARIS)], tmp_path / "out", runner=runner)


def test_read_parquet_quotes_file_names() -> None:
    source = read_parquet([Path("/tmp/a'b.parquet")])
    assert (
        source.sql(dialect="duckdb") == "READ_PARQUET(['/tmp/a''b.parquet'], union_by_name = TRUE)"
    )
