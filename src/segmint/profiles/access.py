"""Looking up one person in a merged view: the merged profile, where it came from, its
experience events and its segment memberships.

Every lookup is a query over the view's Parquet files with the identity as a literal; the
rows come back through Arrow and are turned into JSON values (maps as objects, times as
ISO-8601 text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from segmint.engine.runners.session import DuckDBSession
from segmint.profiles.graph import SourceFile
from segmint.profiles.views import MergedView
from segmint.xdm.arrow import PROFILE_ID_COLUMN

UPS_NAMESPACE = "ups"


@dataclass(frozen=True)
class PersonProfile:
    """A merged profile as stored, and the datasets and last ingestion of its fragments."""

    person: str
    entity: dict[str, Any]
    sources: list[str]
    last_modified_ms: int | None


@dataclass(frozen=True)
class EventPage:
    """A page of a person's events in time order; ``next_start`` continues it."""

    events: list[dict[str, Any]]
    next_start: int | None


def find_person(view: MergedView, namespace: str, value: str) -> str | None:
    """The person an identity belongs to under the view's policy, or None."""
    identity = f"{namespace}:{value}"
    with DuckDBSession() as session:
        if view.person_keys:
            session.files("keys", view.person_keys, ["identity", "person"])
            rows = session.fetch(
                exp.select("person").from_("keys").where(_equals("identity", identity))
            )
            if not rows:
                return None
            identity = rows[0][0]
        session.files("profiles", view.profile_files, [PROFILE_ID_COLUMN])
        found = session.fetch(
            exp.select(exp.Count(this=exp.Star()))
            .from_("profiles")
            .where(_equals(PROFILE_ID_COLUMN, identity))
        )
    return identity if found[0][0] else None


def read_profile(view: MergedView, person: str) -> PersonProfile | None:
    with DuckDBSession() as session:
        session.files("profiles", view.profile_files)
        rows = _arrow(
            session,
            exp.select(exp.Star(except_=[exp.column("filename"), exp.column("file_row_number")]))
            .from_("profiles")
            .where(_equals(PROFILE_ID_COLUMN, person)),
        )
        if not rows:
            return None
        entity = {k: v for k, v in rows[0].items() if k != PROFILE_ID_COLUMN and v is not None}
        identities = _identities(entity)
        sources, last_ms = _fragment_sources(session, view.fragments, identities)
    return PersonProfile(person, entity, sources, last_ms)


def _identities(entity: dict[str, Any]) -> list[str]:
    identity_map = entity.get("identityMap") or {}
    return [f"{ns}:{item['id']}" for ns, items in identity_map.items() for item in items]


def _fragment_sources(
    session: DuckDBSession, fragments: Sequence[SourceFile], identities: Sequence[str]
) -> tuple[list[str], int | None]:
    if not fragments or not identities:
        return [], None
    session.files("fragments", [f.path for f in fragments], [PROFILE_ID_COLUMN])
    wanted = exp.In(
        this=exp.column(PROFILE_ID_COLUMN, quoted=True),
        expressions=[exp.Literal.string(i) for i in identities],
    )
    names = session.fetch(exp.select("filename").from_("fragments").where(wanted).distinct())
    by_path = {str(f.path): f for f in fragments}
    found = [by_path[name] for (name,) in names if name in by_path]
    datasets = sorted({f.dataset_id for f in found})
    return datasets, max((f.batch_ms for f in found), default=None)


def person_events(
    view: MergedView,
    person: str,
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    limit: int = 1000,
    descending: bool = False,
    offset: int = 0,
) -> EventPage:
    """The person's events with ``start_ms <= timestamp < end_ms``, by timestamp."""
    if not view.event_files:
        return EventPage([], None)
    with DuckDBSession() as session:
        session.files("events", view.event_files)
        identities = _person_identities(session, view, person)
        query = exp.select(
            exp.Star(except_=[exp.column("filename"), exp.column("file_row_number")])
        ).from_("events")
        query = query.where(
            exp.In(
                this=exp.column(PROFILE_ID_COLUMN, quoted=True),
                expressions=[exp.Literal.string(i) for i in identities],
            )
        )
        timestamp = exp.column("timestamp", quoted=True)
        if start_ms is not None:
            query = query.where(exp.GTE(this=timestamp, expression=_timestamp(start_ms)))
        if end_ms is not None:
            query = query.where(exp.LT(this=timestamp, expression=_timestamp(end_ms)))
        order = [
            exp.Ordered(this=timestamp.copy(), desc=descending),
            exp.Ordered(this=exp.column("_id", quoted=True), desc=descending),
        ]
        page = query.order_by(*order).limit(limit + 1).offset(offset)
        rows = _arrow(session, page)
    more = len(rows) > limit
    events = [{k: v for k, v in r.items() if v is not None} for r in rows[:limit]]
    return EventPage(events, offset + limit if more else None)


def _person_identities(session: DuckDBSession, view: MergedView, person: str) -> list[str]:
    if not view.person_keys:
        return [person]
    session.files("keys", view.person_keys, ["identity", "person"])
    rows = session.fetch(exp.select("identity").from_("keys").where(_equals("person", person)))
    return [identity for (identity,) in rows]


def memberships(
    batches: Sequence[tuple[Sequence[Path], Sequence[str]]], person: str
) -> dict[str, Any]:
    """``{segmentId: {status, lastQualificationTime}}`` from the latest batch of each segment."""
    found: dict[str, Any] = {}
    with DuckDBSession() as session:
        for index, (files, segment_ids) in enumerate(batches):
            if not files or not segment_ids:
                continue
            name = f"batch_{index}"
            session.files(name, files)
            query = (
                exp.select("segmentId", "status", "lastQualificationTime")
                .from_(name)
                .where(_equals(PROFILE_ID_COLUMN, person))
                .where(
                    exp.In(
                        this=exp.column("segmentId"),
                        expressions=[exp.Literal.string(s) for s in segment_ids],
                    )
                )
            )
            for segment_id, status, qualified in session.fetch(query):
                found[segment_id] = {
                    "status": status,
                    "lastQualificationTime": json_value(qualified),
                }
    return dict(sorted(found.items()))


def _equals(column: str, value: str) -> exp.Expr:
    return exp.EQ(this=exp.column(column, quoted=True), expression=exp.Literal.string(value))


def _timestamp(epoch_ms: int) -> exp.Expr:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).replace(tzinfo=None)
    text = moment.isoformat(sep=" ", timespec="microseconds")
    return exp.cast(exp.Literal.string(text), exp.DataType.Type.TIMESTAMP)


def _arrow(session: DuckDBSession, query: exp.Query) -> list[dict[str, Any]]:
    table: pa.Table = session.connection.sql(query.sql(dialect=session.dialect)).to_arrow_table()
    return [json_value(row) for row in table.to_pylist()]


def json_value(value: Any) -> Any:
    """A lake value as JSON: maps (lists of pairs) as objects, times as ISO-8601 text, and
    fields without a value left out (as XDM JSON leaves them out)."""
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {k: json_value(v) for k, v in value}
        return [json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return value
