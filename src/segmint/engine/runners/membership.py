"""What a membership run reports, whatever engine runs it, and how it is cancelled.

Status rules per (profile, segment) against the previous run (xdm.md §1.2): qualifies now and
was absent or exited → ``realized``; qualifies and was realized/existing → ``existing``; does
not qualify but was realized/existing → ``exited`` (newly); was exited and still does not
qualify → ``exited`` carried over with its old ``lastQualificationTime``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

MEMBERSHIP_COLUMNS = ("__profile_id", "segmentId", "status", "lastQualificationTime")
QUALIFYING_STATUSES = ("realized", "existing")
EXITED = "exited"


class QueryCancelled(Exception):
    """A running evaluation was interrupted (the job is being cancelled)."""


class Transition(IntEnum):
    """How a (profile, segment) row came to its status in this run; the wire status is
    :attr:`status`."""

    REALIZED = 0
    EXISTING = 1
    EXITED = 2  # newly exited in this run
    CARRIED_EXITED = 3  # exited before, still out: kept with its old lastQualificationTime

    @property
    def status(self) -> str:
        return {0: "realized", 1: "existing"}.get(self.value, EXITED)


@dataclass(frozen=True)
class SegmentCounts:
    """One segment's result: ``qualified`` = realized + existing; ``exited`` counts only
    profiles that left in this run; ``namespaces`` counts qualified profiles per identity
    namespace present in their identityMap."""

    qualified: int = 0
    realized: int = 0
    existing: int = 0
    exited: int = 0
    namespaces: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MembershipStats:
    """The figures of one membership run; stage timings in milliseconds."""

    total_profiles: int
    segments: Mapping[str, SegmentCounts]
    evaluate_ms: float
    write_ms: float


def segment_counts(
    transitions: Mapping[Transition, int], by_namespace: Mapping[str, int]
) -> SegmentCounts:
    realized = transitions.get(Transition.REALIZED, 0)
    existing = transitions.get(Transition.EXISTING, 0)
    return SegmentCounts(
        qualified=realized + existing,
        realized=realized,
        existing=existing,
        exited=transitions.get(Transition.EXITED, 0),
        namespaces=dict(sorted(by_namespace.items())),
    )
