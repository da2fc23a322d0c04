"""The identity graph (xdm.md §3): links from records with two or more identities, connected
components, incremental growth, the 50-identity cap."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.profiles.namespaces import IdentityType, Namespace, NamespaceCatalog
from tests.profiles.profile_data import (
    Lake,
    build_graph,
    components,
    event,
    expected_components,
    record,
)


def test_a_chain_of_links_is_one_person(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.profile_batch("crm", [record([("CRMID", "1"), ("Email", "a@x.com")])])
    lake.event_batch("web", [event([("ECID", "e1"), ("CRMID", "1")])])
    lake.event_batch("app", [event([("ECID", "e2"), ("ECID", "e1")])])
    build_graph(lake, tmp_path / "graph")
    assert components(tmp_path / "graph") == {
        frozenset({"CRMID:1", "Email:a@x.com", "ECID:e1", "ECID:e2"})
    }


def test_an_event_with_one_identity_links_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.event_batch("web", [event([("ECID", "e1")]), event([("ECID", "e2")])])
    stats = build_graph(lake, tmp_path / "graph")
    assert components(tmp_path / "graph") == {frozenset({"ECID:e1"}), frozenset({"ECID:e2"})}
    assert stats.links == 0


def test_namespace_and_value_both_make_an_identity(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.profile_batch("crm", [record([("Email", "x")]), record([("CRMID", "x")])])
    build_graph(lake, tmp_path / "graph")
    assert components(tmp_path / "graph") == {frozenset({"Email:x"}), frozenset({"CRMID:x"})}


def test_non_people_identities_do_not_link(tmp_path: Path) -> None:
    catalog = NamespaceCatalog([Namespace(2000, "StoreID", "Store", IdentityType.NON_PEOPLE)])
    lake = Lake(tmp_path / "lake")
    lake.event_batch("pos", [event([("CRMID", "1"), ("StoreID", "s1")])])
    lake.event_batch("pos", [event([("CRMID", "2"), ("StoreID", "s1")])])
    build_graph(lake, tmp_path / "graph", namespaces=catalog)
    assert frozenset({"CRMID:1"}) in components(tmp_path / "graph")
    assert frozenset({"CRMID:2"}) in components(tmp_path / "graph")


def test_a_new_link_merges_two_people_and_keeps_the_older_key(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    first = lake.profile_batch("crm", [record([("CRMID", "1"), ("Email", "a@x.com")])])
    second = lake.event_batch("web", [event([("ECID", "e1"), ("Phone", "555")])])
    build_graph(lake, tmp_path / "v1", records=[first, second])
    assert len(components(tmp_path / "v1")) == 2
    link = lake.event_batch("web", [event([("ECID", "e1"), ("CRMID", "1")])])
    stats = build_graph(lake, tmp_path / "v2", previous=tmp_path / "v1", records=[link])
    everyone = frozenset({"CRMID:1", "Email:a@x.com", "ECID:e1", "Phone:555"})
    assert components(tmp_path / "v2") == {everyone}
    keys = {r["person"] for r in pq.read_table(tmp_path / "v2" / "keys.parquet").to_pylist()}
    assert keys == {"CRMID:1"}  # the identity seen first keys the merged person
    assert stats.identities == 4


def test_the_cap_evicts_cookies_first_then_the_oldest(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    # One person: a CRMID, 3 emails, then 8 ECIDs arriving one batch at a time.
    lake.profile_batch(
        "crm", [record([("CRMID", "1"), ("Email", f"m{i}@x.com")]) for i in range(3)]
    )
    for i in range(8):
        lake.event_batch("web", [event([("ECID", f"e{i}"), ("CRMID", "1")])])
    stats = build_graph(lake, tmp_path / "graph", cap=6)
    kept = max(components(tmp_path / "graph"), key=len)
    # 12 identities, cap 6: the six oldest cookies go, emails and the CRMID stay.
    assert kept == frozenset(
        {"CRMID:1", "Email:m0@x.com", "Email:m1@x.com", "Email:m2@x.com", "ECID:e6", "ECID:e7"}
    )
    assert stats.evicted == 6 and stats.largest == 6
    evicted = {f"ECID:e{i}" for i in range(6)}
    assert {frozenset({e}) for e in evicted} <= components(tmp_path / "graph")


def test_the_cap_of_fifty_identities(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.event_batch("web", [event([("CRMID", "1"), ("ECID", f"e{i:02d}")]) for i in range(60)])
    stats = build_graph(lake, tmp_path / "graph")
    assert stats.largest == 50
    assert stats.evicted == 11  # 61 identities: 11 cookies leave
    assert max(len(c) for c in components(tmp_path / "graph")) == 50


def test_an_eviction_that_splits_a_graph_relabels_both_parts(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    # Two email clusters joined only through one cookie; the cookie is evicted first.
    lake.event_batch("web", [event([("ECID", "bridge"), ("Email", "a")])])
    lake.profile_batch("crm", [record([("Email", "a"), ("Phone", "1"), ("Phone", "2")])])
    lake.profile_batch("crm", [record([("Email", "b"), ("Phone", "3")])])
    lake.event_batch("web", [event([("ECID", "bridge"), ("Email", "b")])])
    build_graph(lake, tmp_path / "graph", cap=5)
    assert components(tmp_path / "graph") == {
        frozenset({"Email:a", "Phone:1", "Phone:2"}),
        frozenset({"Email:b", "Phone:3"}),
        frozenset({"ECID:bridge"}),
    }


_identity = st.tuples(
    st.sampled_from(["ECID", "Email", "CRMID"]), st.sampled_from([str(i) for i in range(8)])
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(
        st.lists(st.lists(_identity, min_size=1, max_size=3), min_size=1, max_size=4),
        min_size=1,
        max_size=5,
    )
)
def test_incremental_graph_matches_union_find(
    tmp_path_factory: object, batches: list[list[list[tuple[str, str]]]]
) -> None:
    root = tmp_path_factory.mktemp("graph")  # type: ignore[attr-defined]
    lake = Lake(root / "lake")
    previous = None
    for index, rows in enumerate(batches):
        source = lake.event_batch("web", [event(ids) for ids in rows])
        out = root / f"v{index}"
        build_graph(lake, out, previous=previous, records=[source])
        previous = out
    expected = expected_components(ids for rows in batches for ids in rows)
    assert components(previous) == expected  # type: ignore[arg-type]
