"""The unmodified ``aepp`` client's merge-policy methods (``customerprofile.Profile``,
aepp.md §5.7) against a real server, configured as aepp.md §4."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from segmint.store import Store
from segmint.xdm import PROFILE_CLASS
from tests.api.live_server import configure_aepp, live_server
from tests.support import ORG

aepp = pytest.importorskip("aepp")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, FastAPI]]:
    with live_server(tmp_path_factory.mktemp("aepp-policies") / "home") as running:
        yield running


@pytest.fixture
def profile(server: tuple[str, FastAPI], monkeypatch: pytest.MonkeyPatch) -> Any:
    base, _ = server
    configure_aepp(aepp, base)
    try:
        importlib.import_module("pandas")
    except ImportError:
        monkeypatch.setitem(sys.modules, "pandas", pandas_stand_in())
    from aepp import customerprofile

    return customerprofile.Profile()


def pandas_stand_in() -> types.ModuleType:
    """aepp.customerprofile imports pandas at module level, yet only its DataFrame outputs use
    it, never the merge-policy methods; ``DataFrame`` is needed by annotations evaluated on
    import. This lets the test run where pandas (not a Segmint dependency) is missing."""
    module = types.ModuleType("pandas")
    module.DataFrame = type("DataFrame", (), {})  # type: ignore[attr-defined]
    return module


def profile_dataset(server: tuple[str, FastAPI]) -> str:
    store: Store = server[1].state.segmint.store
    prod = store.tenants.resolve(ORG, "prod")
    assert prod is not None
    return next(d.id for d in store.catalog.datasets(prod) if d.schema_name == PROFILE_CLASS)


def policy(name: str, **overrides: Any) -> dict[str, Any]:
    """A body like the one in aepp's ``createMergePolicy`` docstring."""
    body: dict[str, Any] = {
        "name": name,
        "imsOrgId": ORG,
        "schema": {"name": "_xdm.context.profile"},
        "default": False,
        "identityGraph": {"type": "pdg"},
        "attributeMerge": {"type": "timestampOrdered"},
        "updateEpoch": 1234567890,
    }
    body.update(overrides)
    return body


def test_aepp_pages_through_merge_policies(profile: Any) -> None:
    existing = {p["id"] for p in profile.getMergePolicies()}
    created = [profile.createMergePolicy(policy(f"aepp paged {i}"))["id"] for i in range(5)]
    listed = profile.getMergePolicies(limit=2)
    ids = [p["id"] for p in listed]
    assert len(ids) == len(set(ids)) == len(existing) + 5
    assert set(created) | existing == set(ids)
    for policy_id in created:
        assert profile.deleteMergePolicy(policy_id) == 200


def test_aepp_manages_a_merge_policy(profile: Any, server: tuple[str, FastAPI]) -> None:
    created = profile.createMergePolicy(policy("aepp managed"))
    assert (created["version"], created["default"], created["isActiveOnEdge"]) == (1, False, False)
    assert profile.getMergePolicy(created["id"]) == created
    dataset = profile_dataset(server)
    replaced = profile.updateMergePolicy(
        created["id"],
        policy(
            "aepp managed",
            attributeMerge={"type": "dataSetPrecedence", "order": [dataset]},
            identityGraph={"type": "none"},
        ),
    )
    assert replaced["version"] == 2
    assert replaced["attributeMerge"] == {"type": "dataSetPrecedence", "order": [dataset]}
    patched = profile.patchMergePolicy(
        created["id"], [{"op": "add", "path": "/isActiveOnEdge", "value": "true"}]
    )
    assert (patched["isActiveOnEdge"], patched["version"]) == (True, 3)
    assert profile.getMergePolicyActiveOnEdge()["id"] == created["id"]
    refused = profile.deleteMergePolicy(created["id"])
    assert refused["statusCode"] == "422" and "isActiveOnEdge" in refused["message"]
    profile.patchMergePolicy(
        created["id"], [{"op": "add", "path": "/isActiveOnEdge", "value": "false"}]
    )
    assert profile.getMergePolicyActiveOnEdge() is None
    assert profile.deleteMergePolicy(created["id"]) == 200
    assert profile.getMergePolicy(created["id"])["statusCode"] == "404"
