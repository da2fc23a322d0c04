"""Merged profiles under a merge policy: one test per rule of xdm.md §4, and the engine against
an independent reading of the rules on generated fragments."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.engine.runners.session import DuckDBSession
from segmint.profiles.graph import SourceFile
from segmint.profiles.merge import PROFILES, MergeInputs, PreviousMerge, merge_profiles
from segmint.profiles.policies import MergePolicy
from segmint.xdm import build_schema, parse_field_groups
from tests.profiles.profile_data import (
    Fragment,
    Lake,
    _compact,
    build_graph,
    event,
    expected_merge,
    identities_of,
    merge,
    policy,
    record,
)

DANIEL = {"person": {"name": {"firstName": "Daniel", "lastName": "Doe"}}}
DANNY = {"person": {"name": {"firstName": "Danny"}}}


def _crm_and_loyalty(tmp_path: Path, *, loyalty_first: bool = False) -> Lake:
    """Adobe's example: "Daniel" in the CRM, "Danny" in the loyalty data, one person."""
    lake = Lake(tmp_path / "lake")
    crm = ("crm", [record([("CRMID", "1"), ("Email", "d@x.com")], **DANIEL)])
    loyalty = ("loyalty", [record([("Email", "d@x.com")], **DANNY)])
    for dataset, rows in (loyalty, crm) if loyalty_first else (crm, loyalty):
        lake.profile_batch(dataset, rows)
    return lake


def test_timestamp_ordered_prefers_the_latest_ingested_fragment(tmp_path: Path) -> None:
    profiles, _ = merge(_crm_and_loyalty(tmp_path), policy("pdg"), tmp_path)
    assert profiles["CRMID:1"]["person"]["name"] == {"firstName": "Danny", "lastName": "Doe"}


def test_the_order_of_ingestion_decides_not_the_dataset(tmp_path: Path) -> None:
    lake = _crm_and_loyalty(tmp_path, loyalty_first=True)
    profiles, _ = merge(lake, policy("pdg"), tmp_path)
    (person,) = profiles.values()
    assert person["person"]["name"]["firstName"] == "Daniel"


def test_attributes_without_conflict_are_all_kept(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.profile_batch("crm", [record([("CRMID", "1")], homeAddress={"city": "Lyon"})])
    lake.profile_batch("web", [record([("CRMID", "1")], homeAddress={"postalCode": "69001"})])
    profiles, _ = merge(lake, policy(), tmp_path)
    assert profiles["CRMID:1"]["homeAddress"] == {"city": "Lyon", "postalCode": "69001"}


def test_an_absent_value_in_a_newer_fragment_erases_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.profile_batch("crm", [record([("CRMID", "1")], loyalty={"tier": "gold", "points": 10})])
    lake.profile_batch("app", [record([("CRMID", "1")], loyalty={"points": 20})])
    profiles, _ = merge(lake, policy(), tmp_path)
    assert profiles["CRMID:1"]["loyalty"] == {"tier": "gold", "points": 20}


def test_a_later_record_replaces_its_fragment_in_the_dataset(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.profile_batch("crm", [record([("CRMID", "1")], loyalty={"tier": "gold", "points": 10})])
    lake.profile_batch("crm", [record([("CRMID", "1")], loyalty={"points": 20})])
    profiles, stats = merge(lake, policy(), tmp_path)
    assert profiles["CRMID:1"]["loyalty"] == {"points": 20}
    assert stats.fragments == 1


def test_dataset_precedence_prefers_the_higher_dataset(tmp_path: Path) -> None:
    lake = _crm_and_loyalty(tmp_path)
    profiles, _ = merge(lake, policy("pdg", "dataSetPrecedence", ["crm", "loyalty"]), tmp_path)
    assert profiles["CRMID:1"]["person"]["name"] == {"firstName": "Daniel", "lastName": "Doe"}
    reverse = policy("pdg", "dataSetPrecedence", ["loyalty", "crm"])
    profiles, _ = merge(lake, reverse, tmp_path / "reverse")
    assert profiles["CRMID:1"]["person"]["name"]["firstName"] == "Danny"


def test_dataset_precedence_merges_only_the_listed_datasets(tmp_path: Path) -> None:
    lake = _crm_and_loyalty(tmp_path)
    lake.profile_batch("survey", [record([("Email", "s@x.com")], person={"gender": "female"})])
    lake.event_batch("web", [event([("ECID", "e1")])])
    profiles, _ = merge(lake, policy("none", "dataSetPrecedence", ["crm"]), tmp_path)
    assert set(profiles) == {"CRMID:1"}
    assert profiles["CRMID:1"]["person"]["name"]["firstName"] == "Daniel"


def test_dataset_precedence_ties_within_a_dataset_go_by_time(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.profile_batch("crm", [record([("CRMID", "1"), ("Email", "a@x.com")], **DANIEL)])
    lake.profile_batch("crm", [record([("Email", "a@x.com")], **DANNY)])
    chosen = policy("pdg", "dataSetPrecedence", ["crm"])
    profiles, _ = merge(lake, chosen, tmp_path)
    assert profiles["CRMID:1"]["person"]["name"]["firstName"] == "Danny"


def test_arrays_are_whole_values(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.profile_batch("crm", [record([("CRMID", "1")], loyalty={"loyaltyID": ["a", "b"]})])
    lake.profile_batch("app", [record([("CRMID", "1")], loyalty={"loyaltyID": ["c"]})])
    profiles, _ = merge(lake, policy(), tmp_path)
    assert profiles["CRMID:1"]["loyalty"]["loyaltyID"] == ["c"]


def test_maps_merge_by_key(tmp_path: Path) -> None:
    schema = build_schema(parse_field_groups({"_acme": {"scores": {"$map": "double"}}}))
    lake = Lake(tmp_path / "lake", schema=schema)
    lake.profile_batch("crm", [record([("CRMID", "1")], _acme={"scores": {"a": 1.0, "b": 2.0}})])
    lake.profile_batch("app", [record([("CRMID", "1")], _acme={"scores": {"b": 3.0, "c": 4.0}})])
    profiles, _ = merge(lake, policy(), tmp_path)
    assert profiles["CRMID:1"]["_acme"]["scores"] == {"a": 1.0, "b": 3.0, "c": 4.0}


def test_identity_map_is_the_union_of_the_persons_identities(tmp_path: Path) -> None:
    lake = _crm_and_loyalty(tmp_path)
    lake.event_batch("web", [event([("ECID", "e1"), ("CRMID", "1")])])
    profiles, _ = merge(lake, policy("pdg"), tmp_path)
    assert identities_of(profiles["CRMID:1"]) == {"CRMID:1", "Email:d@x.com", "ECID:e1"}
    unstitched, _ = merge(lake, policy("none"), tmp_path / "none")
    assert identities_of(unstitched["CRMID:1"]) == {"CRMID:1", "Email:d@x.com"}
    assert identities_of(unstitched["Email:d@x.com"]) == {"Email:d@x.com"}


def test_segment_membership_keeps_the_latest_qualification(tmp_path: Path) -> None:
    older = {"status": "realized", "lastQualificationTime": datetime(2026, 1, 1)}
    newer = {"status": "exited", "lastQualificationTime": datetime(2026, 2, 1)}
    lake = Lake(tmp_path / "lake")
    lake.profile_batch("b", [record([("CRMID", "1")], segmentMembership={"aam": {"s": newer}})])
    lake.profile_batch("a", [record([("CRMID", "1")], segmentMembership={"aam": {"s": older}})])
    profiles, _ = merge(lake, policy(), tmp_path)
    assert profiles["CRMID:1"]["segmentMembership"]["aam"]["s"]["status"] == "exited"


def test_without_stitching_each_primary_identity_is_a_profile(tmp_path: Path) -> None:
    profiles, stats = merge(_crm_and_loyalty(tmp_path), policy("none"), tmp_path)
    assert set(profiles) == {"CRMID:1", "Email:d@x.com"}
    assert profiles["Email:d@x.com"]["person"]["name"] == {"firstName": "Danny"}
    assert stats.profiles == 2


def test_people_known_only_from_events_are_profiles(tmp_path: Path) -> None:
    lake = _crm_and_loyalty(tmp_path)
    lake.event_batch(
        "web", [event([("ECID", "anonymous")]), event([("ECID", "e1"), ("CRMID", "1")])]
    )
    profiles, stats = merge(lake, policy("pdg"), tmp_path)
    assert set(profiles) == {"CRMID:1", "ECID:anonymous"}
    assert identities_of(profiles["ECID:anonymous"]) == {"ECID:anonymous"}
    assert stats.event_only == 1


# --- the engine against the independent reading -------------------------------------------------

_names = st.sampled_from(["Ann", "Bea", "Cy", None])
_cities = st.sampled_from(["Lyon", "Oslo", None])
_row = st.tuples(
    st.lists(
        st.tuples(st.sampled_from(["Email", "CRMID"]), st.sampled_from(["1", "2", "3"])),
        min_size=1,
        max_size=2,
    ),
    _names,
    _cities,
)
_batch = st.tuples(
    st.sampled_from(["crm", "loyalty", "app"]), st.lists(_row, min_size=1, max_size=4)
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(_batch, min_size=1, max_size=4),
    graph=st.sampled_from(["none", "pdg"]),
    precedence=st.none() | st.permutations(["crm", "loyalty", "app"]).map(lambda p: p[:2]),
)
def test_merged_profiles_match_the_rules(
    tmp_path_factory: object,
    batches: list[tuple[str, list[tuple[list[tuple[str, str]], str | None, str | None]]]],
    graph: str,
    precedence: list[str] | None,
) -> None:
    root = tmp_path_factory.mktemp("merge")  # type: ignore[attr-defined]
    lake = Lake(root / "lake")
    fragments: list[Fragment] = []
    for dataset, rows in batches:
        written = []
        for index, (ids, name, city) in enumerate(rows):
            attributes = {"person.name.firstName": name, "homeAddress.city": city}
            person = {"name": {"firstName": name}} if name else None
            home = {"city": city} if city else None
            written.append(record(ids, person=person, homeAddress=home))
            fragments.append(Fragment(dataset, 0, index, tuple(ids), attributes))
        source = lake.profile_batch(dataset, written)
        fragments[-len(rows) :] = [
            Fragment(f.dataset, source.batch_ms, f.row, f.identities, f.attributes)
            for f in fragments[-len(rows) :]
        ]
    chosen = policy(graph, "dataSetPrecedence", precedence) if precedence else policy(graph)
    person_of: dict[str, str] = {}
    if chosen.stitches:
        build_graph(lake, root / "graph")
        profiles, _ = merge(lake, chosen, root, root / "graph")
        keys = pq.read_table(root / "graph" / "keys.parquet").to_pylist()
        person_of = {row["identity"]: row["person"] for row in keys}
    else:
        profiles, _ = merge(lake, chosen, root)
    expected = expected_merge(fragments, chosen, person_of)
    assert set(profiles) == set(expected)
    for key, attributes in expected.items():
        got = profiles[key]
        assert got.get("person", {}).get("name", {}).get("firstName") == attributes.get(
            "person.name.firstName"
        )
        assert got.get("homeAddress", {}).get("city") == attributes.get("homeAddress.city")


# --- updating a view in place -------------------------------------------------------------------

_step = st.tuples(
    st.sampled_from(["crm", "loyalty", "web"]),
    st.lists(
        st.tuples(
            st.lists(
                st.tuples(st.sampled_from(["ECID", "Email", "CRMID"]), st.sampled_from("1234")),
                min_size=1,
                max_size=3,
            ),
            _names,
            _cities,
        ),
        min_size=1,
        max_size=3,
    ),
)


def _write_step(lake: Lake, dataset: str, rows: list[Any]) -> SourceFile:
    if dataset == "web":
        return lake.event_batch(dataset, [event(ids) for ids, _, _ in rows])
    return lake.profile_batch(
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


def _rows(path: Path) -> list[dict[str, Any]]:
    return [_compact(r) for r in pq.read_table(path).sort_by("__profile_id").to_pylist()]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(_step, min_size=2, max_size=5), graph=st.sampled_from(["none", "pdg"]))
def test_a_view_updated_batch_by_batch_equals_a_full_build(
    tmp_path_factory: Any, steps: list[tuple[str, list[Any]]], graph: str
) -> None:
    root = tmp_path_factory.mktemp("incremental")
    lake = Lake(root / "lake")
    chosen = policy(graph)
    view: Path | None = None
    graph_dir: Path | None = None
    for index, (dataset, rows) in enumerate(steps):
        source = _write_step(lake, dataset, rows)
        new_graph = root / f"graph-{index}"
        build_graph(lake, new_graph, previous=graph_dir, records=[source])
        update = None
        if view is not None:
            old_keys = graph_dir / "keys.parquet" if chosen.stitches and graph_dir else None
            update = PreviousMerge(view, old_keys, [source])
        out = root / f"view-{index}"
        _merge_into(lake, chosen, new_graph, out, update)
        view, graph_dir = out / PROFILES, new_graph
    assert view is not None and graph_dir is not None
    _merge_into(lake, chosen, graph_dir, root / "full", None)
    assert _rows(view) == _rows(root / "full" / PROFILES)


def _merge_into(
    lake: Lake, chosen: MergePolicy, graph_dir: Path, out: Path, update: PreviousMerge | None
) -> None:
    inputs = MergeInputs(
        chosen,
        lake.schema.profile,
        lake.profiles,
        lake.events,
        graph_dir if chosen.stitches else None,
    )
    with DuckDBSession() as session:
        merge_profiles(session, inputs, out, update)
