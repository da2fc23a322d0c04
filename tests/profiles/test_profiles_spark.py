"""The identity graph and merged profiles built on Spark equal DuckDB's on the same batches."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.engine import DuckDBRunner
from segmint.engine.runners.session import DuckDBSession, SqlSession
from segmint.engine.runners.spark_session import SparkSqlSession
from segmint.jobs.expressions import compile_expression
from segmint.profiles.graph import build_identity_graph
from segmint.profiles.merge import PROFILES, MergeInputs, merge_profiles
from segmint.profiles.namespaces import NamespaceCatalog
from segmint.profiles.policies import MergePolicy
from segmint.xdm import DEFAULT_SCHEMA, build_schema, parse_field_groups
from tests.profiles.profile_data import Lake, event, policy, record
from tests.spark_support import shared_session, spark_runner

Session = Callable[[], AbstractContextManager[SqlSession]]
SCHEMA = build_schema(parse_field_groups({"_acme": {"scores": {"$map": "double"}}}))


def _engines() -> dict[str, Session]:
    return {"duckdb": DuckDBSession, "spark": lambda: SparkSqlSession(shared_session())}


def _build(
    lake: Lake, chosen: MergePolicy, out: Path, session: Session, cap: int = 50
) -> dict[str, Any]:
    with session() as graph_session:
        stats = build_identity_graph(
            graph_session,
            previous=None,
            records=lake.sources,
            namespaces=NamespaceCatalog(),
            out_dir=out / "graph",
            cap=cap,
        )
    inputs = MergeInputs(
        policy=chosen,
        profile=lake.schema.profile,
        fragments=[s for s in lake.profiles if chosen.merges_dataset(s.dataset_id)],
        events=[s for s in lake.events if chosen.merges_dataset(s.dataset_id)],
        graph=out / "graph" if chosen.stitches else None,
    )
    with session() as merge_session:
        merged = merge_profiles(merge_session, inputs, out / "merged")
    return {
        "graph": stats,
        "merge": merged,
        "nodes": pq.read_table(out / "graph" / "nodes.parquet").sort_by("node").to_pylist(),
        "keys": pq.read_table(out / "graph" / "keys.parquet").sort_by("identity").to_pylist(),
        "profiles": _unordered_maps(
            pq.read_table(out / "merged" / PROFILES).sort_by("__profile_id").to_pylist()
        ),
    }


def _unordered_maps(value: Any) -> Any:
    """Maps (Arrow gives lists of pairs) as dicts: the order of a map's entries means nothing."""
    if isinstance(value, dict):
        return {k: _unordered_maps(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) for v in value):
            return {k: _unordered_maps(v) for k, v in value}
        return [_unordered_maps(v) for v in value]
    return value


def _same_on_both(lake: Lake, chosen: MergePolicy, root: Path, cap: int = 50) -> dict[str, Any]:
    duckdb, spark = (
        _build(lake, chosen, root / name, make, cap) for name, make in _engines().items()
    )
    assert spark == duckdb
    return duckdb


def test_every_merge_rule_gives_the_same_profiles_on_spark(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake", schema=SCHEMA)
    member = {"status": "realized", "lastQualificationTime": datetime(2026, 1, 1)}
    lake.profile_batch(
        "crm",
        [
            record(
                [("CRMID", "1"), ("Email", "a@x.com")],
                person={"name": {"firstName": "Daniel"}},
                loyalty={"loyaltyID": ["a", "b"]},
                _acme={"scores": {"x": 1.0, "y": 2.0}},
            ),
            record(
                [("CRMID", "2")],
                homeAddress={"city": "Oslo"},
                segmentMembership={"aam": {"s": member}},
            ),
        ],
    )
    lake.profile_batch(
        "loyalty",
        [
            record(
                [("Email", "a@x.com")],
                person={"name": {"firstName": "Danny"}},
                _acme={"scores": {"y": 3.0}},
            ),
        ],
    )
    lake.event_batch("web", [event([("ECID", "e1"), ("CRMID", "1")]), event([("ECID", "e9")])])
    for chosen in (
        policy("pdg"),
        policy("none"),
        policy("pdg", "dataSetPrecedence", ["crm", "web"]),
    ):
        built = _same_on_both(
            lake, chosen, tmp_path / chosen.identity_graph / chosen.attribute_merge
        )
        assert built["merge"].profiles >= 2


def test_the_cap_evicts_the_same_identities_on_spark(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.event_batch("web", [event([("CRMID", "1"), ("ECID", f"e{i:02d}")]) for i in range(12)])
    built = _same_on_both(lake, policy("pdg"), tmp_path, cap=5)
    assert built["graph"].evicted == 8 and built["graph"].largest == 5


_identity = st.tuples(st.sampled_from(["ECID", "Email", "CRMID"]), st.sampled_from("1234"))
_row = st.tuples(
    st.lists(_identity, min_size=1, max_size=3),
    st.sampled_from(["Ann", "Bea", None]),
    st.sampled_from(["Lyon", "Oslo", None]),
)


@settings(
    max_examples=4,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    batches=st.lists(
        st.tuples(
            st.sampled_from(["crm", "loyalty", "web"]), st.lists(_row, min_size=1, max_size=4)
        ),
        min_size=1,
        max_size=4,
    ),
    graph=st.sampled_from(["none", "pdg"]),
)
def test_generated_batches_give_the_same_graph_and_profiles(
    tmp_path_factory: Any, batches: list[tuple[str, list[Any]]], graph: str
) -> None:
    root = tmp_path_factory.mktemp("spark")
    lake = Lake(root / "lake")
    for dataset, rows in batches:
        if dataset == "web":
            lake.event_batch(dataset, [event(ids) for ids, _, _ in rows])
            continue
        lake.profile_batch(
            dataset,
            [
                record(
                    ids,
                    person={"name": {"firstName": name}} if name else None,
                    homeAddress={"city": city} if city else None,
                )
                for ids, name, city in rows
            ],
        )
    _same_on_both(lake, policy(graph), root)


def test_both_runners_give_stitched_events_to_their_person(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.profile_batch("crm", [record([("CRMID", "1")], person={"name": {"firstName": "Ann"}})])
    lake.event_batch(
        "web",
        [
            event([("ECID", "e1")], eventType="commerce.purchases"),
            event([("ECID", "e1"), ("CRMID", "1")], eventType="web.webpagedetails.pageViews"),
            event([("ECID", "e2")], eventType="commerce.purchases"),
        ],
    )
    built = _build(lake, policy("pdg"), tmp_path / "view", DuckDBSession)
    assert built["merge"].profiles == 2
    expression = (
        'person.name.firstName = "Ann" and '
        '(select X from xEvent where X.eventType = "commerce.purchases").count() > 0'
    )
    counts = {}
    for name, runner in (("duckdb", DuckDBRunner()), ("spark", spark_runner())):
        segments = [("buyer", compile_expression("pql/text", expression, DEFAULT_SCHEMA, name))]
        stats = runner.run_membership(
            profile_files=[tmp_path / "view" / "merged" / PROFILES],
            event_files=[s.path for s in lake.events],
            segments=segments,
            now=datetime(2026, 6, 1),
            previous=[],
            out_dir=tmp_path / name,
            person_keys=[tmp_path / "view" / "graph" / "keys.parquet"],
        )
        counts[name] = (stats.total_profiles, stats.segments["buyer"])
    assert counts["spark"] == counts["duckdb"]
    assert counts["duckdb"][1].qualified == 1  # the anonymous purchase was Ann's
