"""Merge policies of a sandbox in the metadata database, and the rules that bind a
sandbox's policies together: one default per schema class, at most one active on edge, and
no deleting a policy that is the default, active on edge, or used by segment definitions.

Every write locks the sandbox's policies (see ``_lock_sandbox``) and checks the rules in
the same transaction, so concurrent requests cannot break them. Errors::

    MergePolicyError (ValueError)
    ├── InvalidMergePolicy    the policy itself breaks a rule (class, name, dataset order)
    ├── MergePolicyConflict   the change clashes with the sandbox's policies (default, edge)
    └── MergePolicyInUse      segment definitions still use the policy
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from segmint.clock import now_ms
from segmint.jobs.model import Tenant
from segmint.profiles.policies import AttributeMergeType, IdentityGraphType, MergePolicy
from segmint.store.database import Database
from segmint.store.tables import datasets, merge_policies, sandboxes, segment_definitions
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

SUPPORTED_CLASSES = (PROFILE_CLASS,)
ORDERABLE_DATASET_CLASSES = (PROFILE_CLASS, EXPERIENCE_EVENT_CLASS)
MAX_NAME_LENGTH = 256  # the column's width
SORTABLE_FIELDS = {"name": merge_policies.c.name, "updateEpoch": merge_policies.c.updated_ms}


class MergePolicyError(ValueError):
    """A merge-policy write that the rules refuse."""


class InvalidMergePolicy(MergePolicyError):
    """The policy itself breaks a rule: its class, its name, or its dataset order."""


class MergePolicyConflict(MergePolicyError):
    """The change clashes with the sandbox's other policies (default, active on edge)."""


class MergePolicyInUse(MergePolicyError):
    """Segment definitions still use the policy."""

    def __init__(self, policy_id: str, definitions: int) -> None:
        noun = "definition uses" if definitions == 1 else "definitions use"
        super().__init__(
            f"merge policy {policy_id} cannot be deleted: {definitions} segment {noun} it"
        )
        self.policy_id = policy_id
        self.definitions = definitions


@dataclass(frozen=True)
class PolicyChanges:
    """A partial update (PATCH): the fields to change; ``None`` leaves a field as it is."""

    name: str | None = None
    schema_name: str | None = None
    identity_graph: IdentityGraphType | None = None
    attribute_merge: AttributeMergeType | None = None
    order: tuple[str, ...] | None = None
    is_default: bool | None = None
    is_active_on_edge: bool | None = None

    def apply_to(self, current: MergePolicy, updated_ms: int) -> MergePolicy:
        """``current`` with these changes, its version bumped."""
        changed: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }
        if self.attribute_merge is AttributeMergeType.TIMESTAMP_ORDERED and self.order is None:
            changed["order"] = ()  # timestamp order has no use for the dataset order it replaces
        return replace(current, **changed, version=current.version + 1, updated_ms=updated_ms)


@dataclass(frozen=True)
class PolicyDraft:
    """What a client sets on create (POST) and replace (PUT). ``None`` flags mean false on
    create and unchanged on replace."""

    name: str
    schema_name: str
    identity_graph: IdentityGraphType
    attribute_merge: AttributeMergeType
    order: tuple[str, ...] = ()
    is_default: bool | None = None
    is_active_on_edge: bool | None = None

    def changes(self) -> PolicyChanges:
        return PolicyChanges(**{f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True)
class PolicyFilter:
    """Exact-match list filters; ``None`` does not filter."""

    is_default: bool | None = None
    schema_name: str | None = None
    identity_graph: IdentityGraphType | None = None
    attribute_merge: AttributeMergeType | None = None
    is_active_on_edge: bool | None = None
    version: int | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        c = merge_policies.c
        wanted: list[tuple[Any, Any]] = [
            (c.is_default, self.is_default),
            (c.schema_name, self.schema_name),
            (c.identity_graph, self.identity_graph and self.identity_graph.value),
            (c.attribute_merge, self.attribute_merge and self.attribute_merge.value),
            (c.is_active_on_edge, self.is_active_on_edge),
            (c.version, self.version),
        ]
        return [column == value for column, value in wanted if value is not None]


@dataclass(frozen=True)
class PolicyOrder:
    """A field of ``SORTABLE_FIELDS``; ties are broken by id in the same direction."""

    field: str = "name"
    descending: bool = False


@dataclass(frozen=True)
class PolicyCursor:
    """The last policy of a page: its sort key and id. The next page starts after it."""

    key: str | int
    id: str


@dataclass(frozen=True)
class PolicyQuery:
    """One page of a list: which policies, in which order, starting after ``after`` (or
    after skipping ``offset`` policies), at most ``limit`` of them."""

    filters: PolicyFilter = field(default_factory=PolicyFilter)
    order: PolicyOrder = field(default_factory=PolicyOrder)
    limit: int = 20
    after: PolicyCursor | None = None
    offset: int = 0


@dataclass(frozen=True)
class PolicyPage:
    policies: list[MergePolicy]
    total_count: int  # every policy the filters match, on all pages
    next: PolicyCursor | None  # None on the last page


class MergePolicyRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, tenant: Tenant, draft: PolicyDraft) -> MergePolicy:
        """Store a new policy (version 1); making it the default un-defaults the previous one."""
        now = now_ms()
        policy = MergePolicy(
            id=str(uuid.uuid4()),
            name=draft.name,
            schema_name=draft.schema_name,
            identity_graph=draft.identity_graph,
            attribute_merge=draft.attribute_merge,
            order=draft.order,
            is_default=bool(draft.is_default),
            is_active_on_edge=bool(draft.is_active_on_edge),
            created_ms=now,
            updated_ms=now,
        )
        with self.db.transaction() as conn:
            self._lock_sandbox(conn, tenant)
            self._check(conn, tenant, policy)
            if policy.is_default:
                _undefault_others(conn, tenant, policy)
            conn.execute(
                insert(merge_policies).values(
                    id=policy.id, sandbox_id=tenant.sandbox_id, **_values(policy)
                )
            )
        return policy

    def get(self, tenant: Tenant, policy_id: str) -> MergePolicy | None:
        with self.db.engine.connect() as conn:
            return _select_one(conn, tenant, policy_id)

    def many(self, tenant: Tenant, ids: Sequence[str]) -> dict[str, MergePolicy]:
        query = select(merge_policies).where(
            merge_policies.c.sandbox_id == tenant.sandbox_id, merge_policies.c.id.in_(list(ids))
        )
        with self.db.engine.connect() as conn:
            return {p.id: p for p in map(_policy, conn.execute(query))}

    def default(self, tenant: Tenant, schema_name: str = PROFILE_CLASS) -> MergePolicy:
        """The sandbox's default policy for ``schema_name`` (every sandbox has one)."""
        query = select(merge_policies).where(
            merge_policies.c.sandbox_id == tenant.sandbox_id,
            merge_policies.c.schema_name == schema_name,
            merge_policies.c.is_default.is_(True),
        )
        with self.db.engine.connect() as conn:
            return _policy(conn.execute(query).one())

    def page(self, tenant: Tenant, query: PolicyQuery) -> PolicyPage:
        matching = [merge_policies.c.sandbox_id == tenant.sandbox_id, *query.filters.conditions()]
        column = SORTABLE_FIELDS[query.order.field]
        rows = select(merge_policies).where(*matching)
        if query.after is not None:
            rows = rows.where(_after(column, query.after, query.order.descending))
        rows = rows.order_by(*_ordering(column, query.order.descending))
        rows = rows.offset(query.offset).limit(query.limit + 1)
        count = select(func.count()).select_from(merge_policies).where(*matching)
        with self.db.engine.connect() as conn:
            total = conn.execute(count).scalar_one()
            found = [_policy(row) for row in conn.execute(rows)]
        chosen = found[: query.limit]
        more = len(found) > query.limit
        cursor = PolicyCursor(_sort_key(chosen[-1], query.order), chosen[-1].id) if more else None
        return PolicyPage(chosen, total, cursor)

    def replace(self, tenant: Tenant, policy_id: str, draft: PolicyDraft) -> MergePolicy | None:
        """PUT: every field of ``draft`` replaces the stored one. None when there is no such
        policy in the sandbox."""
        return self.patch(tenant, policy_id, draft.changes())

    def patch(self, tenant: Tenant, policy_id: str, changes: PolicyChanges) -> MergePolicy | None:
        """Apply ``changes`` and bump the version. None when there is no such policy."""
        with self.db.transaction() as conn:
            self._lock_sandbox(conn, tenant)
            current = _select_one(conn, tenant, policy_id)
            if current is None:
                return None
            policy = changes.apply_to(current, now_ms())
            _check_keeps_default(current, policy)
            self._check(conn, tenant, policy)
            if policy.is_default and not _same_default(current, policy):
                _undefault_others(conn, tenant, policy)
            conn.execute(
                update(merge_policies)
                .where(*_identified(tenant, policy_id))
                .values(**_values(policy))
            )
        return policy

    def delete(self, tenant: Tenant, policy_id: str) -> bool:
        """Delete the policy; False when there is no such policy in the sandbox."""
        try:
            with self.db.transaction() as conn:
                self._lock_sandbox(conn, tenant)
                current = _select_one(conn, tenant, policy_id)
                if current is None:
                    return False
                _check_deletable(current)
                users = _usage(conn, tenant, policy_id)
                if users:
                    raise MergePolicyInUse(policy_id, users)
                conn.execute(delete(merge_policies).where(*_identified(tenant, policy_id)))
        except IntegrityError as exc:  # a definition started using it meanwhile
            with self.db.engine.connect() as conn:
                raise MergePolicyInUse(policy_id, max(1, _usage(conn, tenant, policy_id))) from exc
        return True

    def _lock_sandbox(self, conn: Connection, tenant: Tenant) -> None:
        """Serialise the policy writes of one sandbox, so the one-default and one-on-edge
        rules hold under concurrent requests. SQLite's BEGIN IMMEDIATE already serialises
        writers; on PostgreSQL the sandbox row is locked (NO KEY UPDATE, which does not
        block inserts of rows that reference the sandbox)."""
        if not self.db.is_sqlite:
            conn.execute(
                select(sandboxes.c.id)
                .where(sandboxes.c.id == tenant.sandbox_id)
                .with_for_update(key_share=True)
            )

    def _check(self, conn: Connection, tenant: Tenant, policy: MergePolicy) -> None:
        _check_rules(policy)
        _check_datasets(conn, tenant, policy.order)
        _check_edge(conn, tenant, policy)


def _check_rules(policy: MergePolicy) -> None:
    if not policy.name.strip() or len(policy.name) > MAX_NAME_LENGTH:
        raise InvalidMergePolicy(f"name must be 1 to {MAX_NAME_LENGTH} characters, not blank")
    if policy.schema_name not in SUPPORTED_CLASSES:
        raise InvalidMergePolicy(
            f"schema.name must be {PROFILE_CLASS!r}, got {policy.schema_name!r}"
        )
    _check_order(policy)


def _check_order(policy: MergePolicy) -> None:
    if policy.attribute_merge is AttributeMergeType.TIMESTAMP_ORDERED:
        if policy.order:
            raise InvalidMergePolicy(
                "attributeMerge.order is only allowed with attributeMerge.type "
                f"{AttributeMergeType.DATASET_PRECEDENCE.value!r}"
            )
        return
    if not policy.order:
        raise InvalidMergePolicy(
            f"attributeMerge.type {AttributeMergeType.DATASET_PRECEDENCE.value!r} needs "
            "attributeMerge.order: the dataset ids, highest priority first"
        )
    repeated = sorted({d for d in policy.order if policy.order.count(d) > 1})
    if repeated:
        raise InvalidMergePolicy(
            f"attributeMerge.order lists datasets more than once: {', '.join(repeated)}"
        )


def _check_datasets(conn: Connection, tenant: Tenant, order: tuple[str, ...]) -> None:
    if not order:
        return
    query = select(datasets.c.id).where(
        datasets.c.sandbox_id == tenant.sandbox_id,
        datasets.c.schema_name.in_(ORDERABLE_DATASET_CLASSES),
        datasets.c.id.in_(list(order)),
    )
    known = set(conn.execute(query).scalars())
    missing = [d for d in order if d not in known]
    if missing:
        raise InvalidMergePolicy(
            "attributeMerge.order names datasets that do not exist in this sandbox: "
            + ", ".join(missing)
        )


def _check_edge(conn: Connection, tenant: Tenant, policy: MergePolicy) -> None:
    if not policy.is_active_on_edge:
        return
    query = select(merge_policies.c.id, merge_policies.c.name).where(
        merge_policies.c.sandbox_id == tenant.sandbox_id,
        merge_policies.c.is_active_on_edge.is_(True),
        merge_policies.c.id != policy.id,
    )
    other = conn.execute(query).first()
    if other is not None:
        raise MergePolicyConflict(
            f"merge policy {other.id} ({other.name!r}) is already active on edge and a "
            "sandbox has at most one; set its isActiveOnEdge to false first"
        )


def _check_keeps_default(current: MergePolicy, policy: MergePolicy) -> None:
    """A class must keep a default: it moves only by making another policy the default."""
    if current.is_default and not _same_default(current, policy):
        raise MergePolicyConflict(
            f"merge policy {current.id} is the default for {current.schema_name!r}; make "
            "another merge policy the default instead"
        )


def _check_deletable(policy: MergePolicy) -> None:
    if policy.is_default:
        raise MergePolicyConflict(
            f"merge policy {policy.id} is the default for {policy.schema_name!r} and cannot be "
            "deleted; make another merge policy the default first"
        )
    if policy.is_active_on_edge:
        raise MergePolicyConflict(
            f"merge policy {policy.id} is active on edge and cannot be deleted; set its "
            "isActiveOnEdge to false first"
        )


def _same_default(current: MergePolicy, policy: MergePolicy) -> bool:
    """Whether ``policy`` is still the default it was, for the same class."""
    return current.is_default and policy.is_default and current.schema_name == policy.schema_name


def _undefault_others(conn: Connection, tenant: Tenant, policy: MergePolicy) -> None:
    """The previous default of the class stops being one: an update, so its version moves."""
    conn.execute(
        update(merge_policies)
        .where(
            merge_policies.c.sandbox_id == tenant.sandbox_id,
            merge_policies.c.schema_name == policy.schema_name,
            merge_policies.c.is_default.is_(True),
            merge_policies.c.id != policy.id,
        )
        .values(
            is_default=False,
            version=merge_policies.c.version + 1,
            updated_ms=policy.updated_ms,
        )
    )


def _usage(conn: Connection, tenant: Tenant, policy_id: str) -> int:
    query = (
        select(func.count())
        .select_from(segment_definitions)
        .where(
            segment_definitions.c.sandbox_id == tenant.sandbox_id,
            segment_definitions.c.merge_policy_id == policy_id,
        )
    )
    count: int = conn.execute(query).scalar_one()
    return count


def _select_one(conn: Connection, tenant: Tenant, policy_id: str) -> MergePolicy | None:
    row = conn.execute(select(merge_policies).where(*_identified(tenant, policy_id))).first()
    return _policy(row) if row is not None else None


def _identified(tenant: Tenant, policy_id: str) -> list[ColumnElement[bool]]:
    return [merge_policies.c.id == policy_id, merge_policies.c.sandbox_id == tenant.sandbox_id]


def _after(column: Any, cursor: PolicyCursor, descending: bool) -> ColumnElement[bool]:
    """Rows past ``cursor`` in the list's order (sort key, then id)."""
    ids = merge_policies.c.id
    if descending:
        return or_(column < cursor.key, and_(column == cursor.key, ids < cursor.id))
    return or_(column > cursor.key, and_(column == cursor.key, ids > cursor.id))


def _ordering(column: Any, descending: bool) -> list[Any]:
    ids = merge_policies.c.id
    return [column.desc(), ids.desc()] if descending else [column.asc(), ids.asc()]


def _sort_key(policy: MergePolicy, order: PolicyOrder) -> str | int:
    return policy.name if order.field == "name" else policy.updated_ms


def _policy(row: Row[Any]) -> MergePolicy:
    return MergePolicy(
        id=row.id,
        name=row.name,
        schema_name=row.schema_name,
        identity_graph=IdentityGraphType(row.identity_graph),
        attribute_merge=AttributeMergeType(row.attribute_merge),
        order=tuple(row.attribute_merge_order or ()),
        version=row.version,
        is_default=row.is_default,
        is_active_on_edge=row.is_active_on_edge,
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
    )


def _values(policy: MergePolicy) -> dict[str, Any]:
    """Column values of everything but the keys. Enums go in as their plain wire strings."""
    return {
        "name": policy.name,
        "schema_name": policy.schema_name,
        "version": policy.version,
        "is_default": policy.is_default,
        "identity_graph": policy.identity_graph.value,
        "attribute_merge": policy.attribute_merge.value,
        "attribute_merge_order": list(policy.order),
        "is_active_on_edge": policy.is_active_on_edge,
        "created_ms": policy.created_ms,
        "updated_ms": policy.updated_ms,
    }
