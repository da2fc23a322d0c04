"""The materialised profile views of a sandbox and keeping them current.

Two kinds of view live under ``<sandbox>/profiles/``: the identity graph (``graph/<version>``)
and, per merge policy, the merged profiles (``merged/<policy>/<version>``). Each version is
built in a staging directory, renamed into place, and then recorded in the metadata with the
batches it covers; the newest recorded version is current. A view is rebuilt when a batch was
committed after it, when the graph it used changed, or when its policy changed. The graph grows
incrementally: only the new batches are read, on top of the previous version.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from segmint.engine.runners.session import SqlSession
from segmint.pql.types import Schema
from segmint.profiles.graph import KEYS, SourceFile, build_identity_graph
from segmint.profiles.lake import Lake, commit, staging_dir
from segmint.profiles.merge import PROFILES, MergeInputs, PreviousMerge, merge_profiles
from segmint.profiles.namespaces import NamespaceCatalog
from segmint.profiles.policies import MergePolicy
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS, profile_schema

GRAPH_VIEW = "identity-graph"
KEPT_VERSIONS = 2  # the current version and the one before it (a reader may still hold it)


class Sandbox(Protocol):
    """The sandbox a view belongs to (``segmint.jobs.model.Tenant`` has this shape)."""

    @property
    def org_id(self) -> str: ...

    @property
    def sandbox_id(self) -> str: ...

    @property
    def sandbox_name(self) -> str: ...


@dataclass(frozen=True)
class CommittedBatch:
    """A successful batch of a dataset and its Parquet files."""

    dataset_id: str
    schema_name: str
    batch_id: str
    created_ms: int
    files: tuple[Path, ...]

    def sources(self) -> list[SourceFile]:
        return [SourceFile(p, self.dataset_id, self.batch_id, self.created_ms) for p in self.files]


@dataclass(frozen=True)
class ViewVersion:
    """One recorded version of a view."""

    name: str
    version: int
    batch_ids: frozenset[str]
    source_version: int | None = None  # the graph version a merged view was built on
    policy_version: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)


class ViewLog(Protocol):
    """Where view versions are recorded (the metadata database)."""

    def current(self, tenant: Sandbox, name: str) -> ViewVersion | None: ...

    def record(self, tenant: Sandbox, version: ViewVersion) -> bool:
        """Record a new version; False when that version number is taken already."""


@dataclass(frozen=True)
class MergedView:
    """What a segment job reads for one merge policy: merged profiles, the events of the
    policy's datasets, and (when stitched) the identity → person keys that relate the two."""

    policy: MergePolicy
    profile_files: tuple[Path, ...]
    event_files: tuple[Path, ...]
    person_keys: tuple[Path, ...]
    profiles: int
    version: int
    fragments: tuple[SourceFile, ...] = ()  # the profile records merged into the view


class ProfileViews:
    """Builds and finds the current views of each sandbox."""

    def __init__(
        self,
        lake: Lake,
        log: ViewLog,
        session: Callable[[], AbstractContextManager[SqlSession]],
    ) -> None:
        self.lake = lake
        self.log = log
        self.session = session
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def merged(
        self,
        tenant: Sandbox,
        policy: MergePolicy,
        schema: Schema,
        batches: Sequence[CommittedBatch],
        namespaces: NamespaceCatalog,
    ) -> MergedView:
        """The current merged view of ``policy``, built first if it is out of date."""
        with self._lock(tenant):
            graph = self._graph(tenant, batches, namespaces) if policy.stitches else None
            chosen = [b for b in batches if policy.merges_dataset(b.dataset_id)]
            current = self._current_merged(tenant, policy, chosen, graph)
            if current is None:
                current = self._build_merged(tenant, policy, schema, chosen, graph)
            return self._view(tenant, policy, chosen, graph, current)

    def graph(
        self, tenant: Sandbox, batches: Sequence[CommittedBatch], namespaces: NamespaceCatalog
    ) -> ViewVersion:
        """The current identity graph, extended with any batch it does not cover yet."""
        with self._lock(tenant):
            return self._graph(tenant, batches, namespaces)

    def graph_dir(self, tenant: Sandbox, version: int) -> Path:
        return self._root(tenant) / "graph" / str(version)

    def merged_dir(self, tenant: Sandbox, policy_id: str, version: int) -> Path:
        return self._root(tenant) / "merged" / policy_id / str(version)

    # --- the identity graph ---------------------------------------------------------------------

    def _graph(
        self, tenant: Sandbox, batches: Sequence[CommittedBatch], namespaces: NamespaceCatalog
    ) -> ViewVersion:
        current = self.log.current(tenant, GRAPH_VIEW)
        covered = current.batch_ids if current else frozenset()
        new = [b for b in batches if b.batch_id not in covered]
        if current is not None and not new:
            return current
        version = (current.version if current else 0) + 1
        previous = self.graph_dir(tenant, current.version) if current else None
        records = [source for batch in new for source in batch.sources()]

        def build(out_dir: Path) -> dict[str, Any]:
            with self.session() as session:
                stats = build_identity_graph(
                    session,
                    previous=previous,
                    records=records,
                    namespaces=namespaces,
                    out_dir=out_dir,
                )
            return stats.to_json()

        made = ViewVersion(GRAPH_VIEW, version, covered | {b.batch_id for b in new})
        return self._publish(tenant, made, self.graph_dir(tenant, version), build)

    # --- merged profiles ------------------------------------------------------------------------

    def _current_merged(
        self,
        tenant: Sandbox,
        policy: MergePolicy,
        batches: Sequence[CommittedBatch],
        graph: ViewVersion | None,
    ) -> ViewVersion | None:
        current = self.log.current(tenant, _merged_name(policy))
        if current is None:
            return None
        fresh = (
            current.batch_ids == frozenset(b.batch_id for b in batches)
            and current.policy_version == policy.version
            and current.source_version == (graph.version if graph else None)
        )
        return current if fresh else None

    def _build_merged(
        self,
        tenant: Sandbox,
        policy: MergePolicy,
        schema: Schema,
        batches: Sequence[CommittedBatch],
        graph: ViewVersion | None,
    ) -> ViewVersion:
        latest = self.log.current(tenant, _merged_name(policy))
        version = (latest.version if latest else 0) + 1
        inputs = MergeInputs(
            policy=policy,
            profile=schema.profile,
            fragments=_sources(batches, PROFILE_CLASS),
            events=_sources(batches, EXPERIENCE_EVENT_CLASS),
            graph=self.graph_dir(tenant, graph.version) if graph else None,
        )

        previous = self._previous_merge(tenant, policy, schema, batches, latest)

        def build(out_dir: Path) -> dict[str, Any]:
            with self.session() as session:
                stats = merge_profiles(session, inputs, out_dir, previous).to_json()
            return {**stats, "incremental": previous is not None, "layout": _layout(schema)}

        made = ViewVersion(
            _merged_name(policy),
            version,
            frozenset(b.batch_id for b in batches),
            source_version=graph.version if graph else None,
            policy_version=policy.version,
        )
        return self._publish(tenant, made, self.merged_dir(tenant, policy.id, version), build)

    def _previous_merge(
        self,
        tenant: Sandbox,
        policy: MergePolicy,
        schema: Schema,
        batches: Sequence[CommittedBatch],
        latest: ViewVersion | None,
    ) -> PreviousMerge | None:
        """The latest view to update, when it can be: same policy version and layout, no batch
        of it gone, and the graph it was keyed on still on disk."""
        if latest is None or latest.policy_version != policy.version:
            return None
        if not latest.batch_ids <= {b.batch_id for b in batches}:
            return None
        profiles = self.merged_dir(tenant, policy.id, latest.version) / PROFILES
        keys = None
        if policy.stitches:
            if latest.source_version is None:
                return None
            keys = self.graph_dir(tenant, latest.source_version) / KEYS
            if not keys.exists():
                return None
        if not profiles.exists() or latest.stats.get("layout") != _layout(schema):
            return None
        new = [b for b in batches if b.batch_id not in latest.batch_ids]
        return PreviousMerge(profiles, keys, [s for b in new for s in b.sources()])

    def _view(
        self,
        tenant: Sandbox,
        policy: MergePolicy,
        batches: Sequence[CommittedBatch],
        graph: ViewVersion | None,
        merged: ViewVersion,
    ) -> MergedView:
        keys = (self.graph_dir(tenant, graph.version) / KEYS,) if graph else ()
        events = tuple(s.path for s in _sources(batches, EXPERIENCE_EVENT_CLASS))
        profiles = (self.merged_dir(tenant, policy.id, merged.version) / PROFILES,)
        return MergedView(
            policy=policy,
            profile_files=profiles,
            event_files=events,
            person_keys=keys,
            profiles=int(merged.stats.get("profiles", 0)),
            version=merged.version,
            fragments=tuple(_sources(batches, PROFILE_CLASS)),
        )

    # --- publishing -----------------------------------------------------------------------------

    def _publish(
        self,
        tenant: Sandbox,
        made: ViewVersion,
        final: Path,
        build: Callable[[Path], dict[str, Any]],
    ) -> ViewVersion:
        """Build into a staging directory, rename it to ``final`` and record the version; when
        another process recorded that version first, keep theirs."""
        if final.exists():  # left by a build that died before it was recorded
            shutil.rmtree(final)
        staging = staging_dir(final)
        try:
            stats = build(staging)
            commit(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        recorded = ViewVersion(**{**made.__dict__, "stats": stats})
        if not self.log.record(tenant, recorded):
            shutil.rmtree(final, ignore_errors=True)
            winner = self.log.current(tenant, made.name)
            assert winner is not None
            return winner
        self._drop_old_versions(final.parent, made.version)
        return recorded

    @staticmethod
    def _drop_old_versions(parent: Path, newest: int) -> None:
        for directory in parent.iterdir():
            if directory.name.isdigit() and int(directory.name) <= newest - KEPT_VERSIONS:
                shutil.rmtree(directory, ignore_errors=True)

    def _root(self, tenant: Sandbox) -> Path:
        return self.lake.sandbox_dir(tenant.org_id, tenant.sandbox_name) / "profiles"

    def _lock(self, tenant: Sandbox) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(tenant.sandbox_id, threading.Lock())


def _layout(schema: Schema) -> str:
    """A fingerprint of the profile layout: a view of another layout is not updated in place."""
    return hashlib.sha256(str(profile_schema(schema)).encode()).hexdigest()[:16]


def _merged_name(policy: MergePolicy) -> str:
    return f"merged:{policy.id}"


def _sources(batches: Sequence[CommittedBatch], schema_name: str) -> list[SourceFile]:
    return [s for b in batches if b.schema_name == schema_name for s in b.sources()]
