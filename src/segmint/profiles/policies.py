"""Merge policies as the profile layer sees them: which fragments make one person
(``identityGraph``) and which value wins when they disagree (``attributeMerge``).

Semantics (xdm.md §4): ``none`` keys a profile by its primary identity, ``pdg`` by its identity
graph; ``timestampOrdered`` prefers the most recently ingested fragment, ``dataSetPrecedence``
the fragment of the highest dataset in ``order`` and merges only the datasets listed there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IdentityGraphType(StrEnum):
    NONE = "none"
    PDG = "pdg"


class AttributeMergeType(StrEnum):
    TIMESTAMP_ORDERED = "timestampOrdered"
    DATASET_PRECEDENCE = "dataSetPrecedence"


@dataclass(frozen=True)
class MergePolicy:
    """One merge policy of a sandbox. ``order`` lists dataset ids, highest priority first
    (used by ``dataSetPrecedence`` only)."""

    id: str
    name: str
    schema_name: str
    identity_graph: IdentityGraphType
    attribute_merge: AttributeMergeType
    order: tuple[str, ...] = ()
    version: int = 1
    is_default: bool = False
    is_active_on_edge: bool = False
    created_ms: int = 0
    updated_ms: int = 0

    @property
    def stitches(self) -> bool:
        """Whether profiles are stitched through the identity graph."""
        return self.identity_graph is IdentityGraphType.PDG

    def merges_dataset(self, dataset_id: str) -> bool:
        """Whether fragments or events of ``dataset_id`` take part in this policy's profiles."""
        if self.attribute_merge is AttributeMergeType.TIMESTAMP_ORDERED:
            return True
        return dataset_id in self.order

    def dataset_rank(self, dataset_id: str) -> int:
        """Higher wins: the first dataset of ``order`` ranks highest; unlisted ones rank 0."""
        if dataset_id not in self.order:
            return 0
        return len(self.order) - self.order.index(dataset_id)
