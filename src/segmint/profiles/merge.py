"""Merged profiles under a merge policy: one row per person in the lake's profile layout.

A fragment is the latest record of one primary identity in one dataset (a later batch replaces
it). A person is the primary identity itself (``identityGraph: none``) or the identity graph's
person key (``pdg``). Fragments are ranked by the policy (xdm.md §4.3): ``timestampOrdered`` by
ingestion time, ``dataSetPrecedence`` by the dataset's place in ``order`` and then by time.
Every leaf attribute takes the value of the highest-ranked fragment that has one (objects are
merged leaf by leaf, arrays are whole values); maps merge by key, each key's value taken whole
from the highest-ranked fragment holding the key; ``identityMap`` is the union of the person's
identities; ``segmentMembership`` keeps, per namespace and segment, the entry qualified last.
People known only from events get a row with their identities alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from segmint.engine.runners.session import SqlSession, sql_template
from segmint.pql.types import ArrayType, MapType, ObjectType, PQLType, ScalarKind, ScalarType
from segmint.profiles.graph import KEYS, SourceFile
from segmint.profiles.policies import AttributeMergeType, MergePolicy
from segmint.xdm.arrow import PROFILE_ID_COLUMN, table_schema

PROFILES = "profiles.parquet"
IDENTITY_MAP = "identityMap"
SEGMENT_MEMBERSHIP = "segmentMembership"
ROW_BITS = 2**40  # rows per file stay below this: priority = file rank * 2^40 + row

KEY_SCHEMA = pa.schema(
    [
        ("identity", pa.string()),
        ("namespace", pa.string()),
        ("value", pa.string()),
        ("person", pa.string()),
    ]
)


@dataclass(frozen=True)
class MergeInputs:
    """What one merged view is built from."""

    policy: MergePolicy
    profile: ObjectType
    fragments: Sequence[SourceFile]
    events: Sequence[SourceFile]
    graph: Path | None = None  # the identity graph version, when the policy stitches


@dataclass(frozen=True)
class PreviousMerge:
    """An earlier merged view to update instead of rebuilding: its profiles, the person keys
    of the graph it was built on (when stitched), and the files of the batches it lacks."""

    profiles: Path
    keys: Path | None
    new_files: Sequence[SourceFile]


@dataclass(frozen=True)
class MergeStats:
    """``profiles`` in the view; ``merged`` people merged in this build, from ``fragments``
    fragments; ``event_only`` of them known only from events."""

    profiles: int
    fragments: int
    event_only: int
    merged: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


# The latest record of each (dataset, primary identity), ranked on narrow rows first: the wide
# rows are only joined to the winners.
LATEST_FRAGMENTS = sql_template(
    f"""
    SELECT filename, file_row_number, __priority, __person FROM (
        SELECT r.filename, r.file_row_number,
               f.file_priority * {ROW_BITS} + r.file_row_number AS __priority,
               COALESCE(k.person, r.{PROFILE_ID_COLUMN}) AS __person,
               ROW_NUMBER() OVER (
                   PARTITION BY f.dataset_id, r.{PROFILE_ID_COLUMN}
                   ORDER BY f.file_order DESC, r.file_row_number DESC
               ) AS __rank
        FROM fragment_rows AS r
        JOIN fragment_files AS f ON f.filename = r.filename
        LEFT JOIN person_keys AS k ON k.identity = r.{PROFILE_ID_COLUMN}
    ) AS ranked
    WHERE __rank = 1
    """
)
FRAGMENTS = sql_template(
    """
    SELECT r.*, l.__priority, l.__person
    FROM fragment_rows AS r
    JOIN latest_fragments AS l
      ON l.filename = r.filename AND l.file_row_number = r.file_row_number
    """
)
EVENT_PERSONS = sql_template(
    f"""
    SELECT DISTINCT COALESCE(k.person, e.{PROFILE_ID_COLUMN}) AS __person
    FROM event_rows AS e LEFT JOIN person_keys AS k ON k.identity = e.{PROFILE_ID_COLUMN}
    """
)
# An incremental build: identities whose person changed with the graph, the people touched by
# the new batches or by those changes (new keys), and the rows of the old view they replace.
CHANGED_KEYS = sql_template(
    """
    SELECT COALESCE(n.identity, o.identity) AS identity, o.person AS old_person,
           n.person AS new_person
    FROM person_keys AS n FULL OUTER JOIN old_keys AS o ON o.identity = n.identity
    WHERE o.person IS NULL OR n.person IS NULL OR o.person <> n.person
    """
)
AFFECTED = sql_template(
    f"""
    SELECT COALESCE(k.person, t.{PROFILE_ID_COLUMN}) AS __person
    FROM touched_rows AS t LEFT JOIN person_keys AS k ON k.identity = t.{PROFILE_ID_COLUMN}
    UNION SELECT new_person FROM changed_keys WHERE new_person IS NOT NULL
    """
)
RETIRED = sql_template(
    """
    SELECT __person FROM affected
    UNION SELECT old_person FROM changed_keys WHERE old_person IS NOT NULL
    """
)
AFFECTED_KEYS = sql_template(
    """
    SELECT k.identity FROM person_keys AS k JOIN affected AS a ON a.__person = k.person
    UNION SELECT __person FROM affected
    """
)
AFFECTED_SELVES = sql_template("SELECT __person AS identity FROM affected")
AFFECTED_ROWS = sql_template(
    f"""
    SELECT * FROM rows
    WHERE {PROFILE_ID_COLUMN} IN (SELECT identity FROM affected_identities)
    """
)
PERSONS = sql_template(
    """
    SELECT __person FROM attributes
    UNION SELECT __person FROM event_persons
    """
)
# Identities of each person: the graph's (stitched), or the fragments' own plus the key.
GRAPH_IDENTITIES = sql_template(
    """
    SELECT k.person AS __person, k.namespace, k.value
    FROM person_keys AS k JOIN persons AS p ON p.__person = k.person
    """
)
FRAGMENT_IDENTITIES = sql_template(
    """
    SELECT __person, namespace, item.id AS value FROM (
        SELECT __person, e.key AS namespace, UNNEST(e.value) AS item FROM (
            SELECT __person, UNNEST(MAP_ENTRIES(identityMap)) AS e FROM fragments
        ) AS entries
    ) AS items
    UNION
    SELECT __person, SPLIT_PART(__person, ':', 1) AS namespace,
           SUBSTRING(__person, STRPOS(__person, ':') + 1) AS value
    FROM persons
    """
)
# The identities of a person by namespace, each namespace's ids in order (person_identities
# holds each identity once). The namespaces' order within the map carries no meaning.
IDENTITY_MAPS = sql_template(
    """
    SELECT __person, MAP_FROM_ENTRIES(LIST(STRUCT_PACK(key := namespace, value := ids)))
           AS identityMap
    FROM (
        SELECT __person, namespace, LIST_SORT(LIST(STRUCT_PACK(
                   id := value,
                   authenticatedState := CAST(NULL AS VARCHAR),
                   "primary" := namespace || ':' || value = __person))) AS ids
        FROM person_identities
        WHERE value IS NOT NULL
        GROUP BY __person, namespace
    ) AS by_namespace
    GROUP BY __person
    """
)
# Per namespace and segment, the membership qualified last (then the higher fragment).
SEGMENT_MEMBERSHIPS = sql_template(
    """
    SELECT __person,
           MAP_FROM_ENTRIES(LIST(
               STRUCT_PACK(key := namespace, value := segments) ORDER BY namespace
           )) AS segmentMembership
    FROM (
        SELECT __person, namespace,
               MAP_FROM_ENTRIES(LIST(
                   STRUCT_PACK(key := segment, value := membership) ORDER BY segment
               )) AS segments
        FROM (
            SELECT __person, namespace, segment,
                   ARG_MAX(membership, STRUCT_PACK(
                       t := membership.lastQualificationTime, p := __priority)) AS membership
            FROM (
                SELECT __person, __priority, namespace, s.key AS segment, s.value AS membership
                FROM (
                    SELECT __person, __priority, e.key AS namespace,
                           UNNEST(MAP_ENTRIES(e.value)) AS s
                    FROM (
                        SELECT __person, __priority, UNNEST(MAP_ENTRIES(segmentMembership)) AS e
                        FROM fragments
                    ) AS namespaces
                ) AS entries
            ) AS memberships
            GROUP BY __person, namespace, segment
        ) AS latest
        GROUP BY __person, namespace
    ) AS by_namespace
    GROUP BY __person
    """
)


def merge_profiles(
    session: SqlSession, inputs: MergeInputs, out_dir: Path, previous: PreviousMerge | None = None
) -> MergeStats:
    """Build the merged profiles of ``inputs`` and write them to ``out_dir/profiles.parquet``.
    With ``previous``, only the people its new batches or a changed graph touch are merged
    again; the other rows are copied from the previous view."""
    _register_keys(session, inputs)
    if previous is not None:
        _register_affected(session, inputs, previous)
    _register_inputs(session, inputs, restricted=previous is not None)
    plan = AttributePlan.of(inputs.profile, present_paths(f.path for f in inputs.fragments))
    session.create("attributes", plan.aggregate())
    for index, (path, _) in enumerate(plan.maps):
        session.create(f"map_{index}", plan.map_merge(path))
    session.create("persons", PERSONS)
    identities = GRAPH_IDENTITIES if inputs.graph is not None else FRAGMENT_IDENTITIES
    session.create("person_identities", identities)
    session.create("identity_maps", IDENTITY_MAPS)
    if SEGMENT_MEMBERSHIP in plan.special:
        session.create("segment_memberships", SEGMENT_MEMBERSHIPS)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: exp.Query = plan.assemble()
    if previous is not None:
        rows = exp.union(rows, _kept_rows(session, inputs.profile, previous), distinct=False)
    session.write(rows, out_dir / PROFILES)
    return _stats(session, out_dir / PROFILES)


def _register_keys(session: SqlSession, inputs: MergeInputs) -> None:
    if inputs.graph is not None:
        session.files("person_keys_files", [inputs.graph / KEYS], KEY_SCHEMA.names)
        session.create("person_keys", exp.select(*KEY_SCHEMA.names).from_("person_keys_files"))
    else:
        session.arrow("person_keys", KEY_SCHEMA.empty_table())


def _register_inputs(session: SqlSession, inputs: MergeInputs, *, restricted: bool) -> None:
    """Fragments and event people, of the affected identities only when ``restricted``."""
    session.arrow("fragment_files", fragment_files(inputs.policy, inputs.fragments))
    if inputs.fragments:
        _rows(session, "fragment_rows", [f.path for f in inputs.fragments], (), restricted)
        session.create("latest_fragments", LATEST_FRAGMENTS)
        session.create("fragments", FRAGMENTS)
    else:
        session.arrow("fragments", _empty_fragments(inputs.profile))
    if inputs.events:
        events = [f.path for f in inputs.events]
        _rows(session, "event_rows", events, (PROFILE_ID_COLUMN,), restricted)
        session.create("event_persons", EVENT_PERSONS)
    else:
        session.arrow("event_persons", pa.schema([("__person", pa.string())]).empty_table())


def _rows(
    session: SqlSession, name: str, files: Sequence[Path], columns: Sequence[str], restricted: bool
) -> None:
    if not restricted:
        session.files(name, files, columns)
        return
    session.files(f"{name}_all", files, columns)
    session.create(name, exp.replace_tables(AFFECTED_ROWS.copy(), {"rows": f"{name}_all"}))


def _register_affected(session: SqlSession, inputs: MergeInputs, previous: PreviousMerge) -> None:
    """The people to merge again (new keys) and to drop from the previous view (old keys)."""
    if previous.keys is not None:
        session.files("old_keys_files", [previous.keys], ["identity", "person"])
        session.create("old_keys", exp.select("identity", "person").from_("old_keys_files"))
        session.create("changed_keys", CHANGED_KEYS)
    else:
        names = ("identity", "old_person", "new_person")
        session.arrow("changed_keys", pa.schema([(n, pa.string()) for n in names]).empty_table())
    if previous.new_files:
        session.files("touched_rows", [f.path for f in previous.new_files], [PROFILE_ID_COLUMN])
    else:
        session.arrow("touched_rows", pa.schema([(PROFILE_ID_COLUMN, pa.string())]).empty_table())
    session.create("affected", AFFECTED)
    session.create("retired", RETIRED)
    stitched = inputs.graph is not None
    session.create("affected_identities", AFFECTED_KEYS if stitched else AFFECTED_SELVES)


def _kept_rows(session: SqlSession, profile: ObjectType, previous: PreviousMerge) -> exp.Query:
    session.files("previous_profiles", [previous.profiles])
    columns = [PROFILE_ID_COLUMN, *profile.fields]
    return (
        exp.select(*(exp.column(c, quoted=True) for c in columns))
        .from_("previous_profiles")
        .where(
            exp.Not(
                this=exp.In(
                    this=exp.column(PROFILE_ID_COLUMN, quoted=True),
                    query=exp.Subquery(this=exp.select("__person").from_("retired")),
                )
            )
        )
    )


def _empty_fragments(profile: ObjectType) -> pa.Table:
    schema = table_schema(profile)
    extra = [("__priority", pa.int64()), ("__person", pa.string())]
    for name, arrow_type in extra:
        schema = schema.append(pa.field(name, arrow_type))
    return schema.empty_table()


def fragment_files(policy: MergePolicy, fragments: Sequence[SourceFile]) -> pa.Table:
    """Per file: its dataset, its order within the dataset (later batches replace records) and
    its rank under the policy (higher wins)."""

    def by_time(f: SourceFile) -> tuple[int, str, str]:
        return (f.batch_ms, f.batch_id, str(f.path))

    def by_policy(f: SourceFile) -> tuple[int, int, str, str]:
        rank = 0
        if policy.attribute_merge is AttributeMergeType.DATASET_PRECEDENCE:
            rank = policy.dataset_rank(f.dataset_id)
        return (rank, *by_time(f))

    time_order = {f.path: i for i, f in enumerate(sorted(fragments, key=by_time))}
    priority = {f.path: i for i, f in enumerate(sorted(fragments, key=by_policy))}
    return pa.table(
        {
            "filename": pa.array([str(f.path) for f in fragments], pa.string()),
            "dataset_id": pa.array([f.dataset_id for f in fragments], pa.string()),
            "file_order": pa.array([time_order[f.path] for f in fragments], pa.int64()),
            "file_priority": pa.array([priority[f.path] for f in fragments], pa.int64()),
        }
    )


def _stats(session: SqlSession, written: Path) -> MergeStats:
    merged = session.fetch(exp.select("COUNT(*)").from_("persons"))[0][0]
    fragments = session.fetch(exp.select("COUNT(*)").from_("fragments"))[0][0]
    attributed = session.fetch(exp.select("COUNT(*)").from_("attributes"))[0][0]
    return MergeStats(
        profiles=pq.ParquetFile(written).metadata.num_rows,
        fragments=fragments,
        event_only=merged - attributed,
        merged=merged,
    )


# --- which attributes hold data -----------------------------------------------------------------


def present_paths(files: Iterator[Path] | Sequence[Path]) -> set[str]:
    """Dotted Parquet column paths that hold a value in some row group of ``files`` (from the
    footers' statistics; a column without statistics counts as present)."""
    present: set[str] = set()
    for path in files:
        metadata = pq.ParquetFile(path).metadata
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                column = row_group.column(index)
                if column.path_in_schema not in present and _holds_values(column):
                    present.add(column.path_in_schema)
    return present


def _holds_values(column: pq.ColumnChunkMetaData) -> bool:
    stats = column.statistics
    if stats is None or not stats.has_null_count:
        return True
    return bool(stats.null_count < column.num_values)


def _holds(present: set[str], path: tuple[str, ...]) -> bool:
    dotted = ".".join(path)
    return any(p == dotted or p.startswith(dotted + ".") for p in present)


# --- the attribute plan -------------------------------------------------------------------------


@dataclass
class AttributePlan:
    """How each top-level attribute of the profile is merged: leaves and object presence as
    aggregate columns of one grouped pass, maps as passes of their own."""

    profile: ObjectType
    present: set[str]
    leaves: list[tuple[tuple[str, ...], PQLType]] = field(default_factory=list)
    objects: list[tuple[str, ...]] = field(default_factory=list)
    maps: list[tuple[tuple[str, ...], MapType]] = field(default_factory=list)
    special: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, profile: ObjectType, present: set[str]) -> AttributePlan:
        plan = cls(profile, present)
        for name, field_type in profile.fields.items():
            if name in (IDENTITY_MAP, SEGMENT_MEMBERSHIP):
                if name == IDENTITY_MAP or _holds(present, (name,)):
                    plan.special.add(name)
            else:
                plan._collect((name,), field_type)
        return plan

    def _collect(self, path: tuple[str, ...], field_type: PQLType) -> None:
        if not _holds(self.present, path):
            return
        if isinstance(field_type, ObjectType):
            self.objects.append(path)
            for name, child in field_type.fields.items():
                self._collect((*path, name), child)
        elif isinstance(field_type, MapType):
            self.maps.append((path, field_type))
        else:
            self.leaves.append((path, field_type))

    def aggregate(self) -> exp.Select:
        """One row per person: the winning value of each leaf, and whether each object is set."""
        columns: list[exp.Expr] = [exp.column("__person")]
        for index, (path, _) in enumerate(self.leaves):
            value = _path(path)
            winner = exp.Filter(
                this=exp.ArgMax(this=value, expression=exp.column("__priority")),
                expression=exp.Where(
                    this=exp.Not(this=exp.Is(this=value.copy(), expression=exp.null()))
                ),
            )
            columns.append(exp.alias_(winner, f"leaf_{index}"))
        for index, path in enumerate(self.objects):
            is_set = exp.GT(this=exp.Count(this=_path(path)), expression=exp.Literal.number(0))
            columns.append(exp.alias_(is_set, f"object_{index}"))
        return exp.select(*columns).from_("fragments").group_by(exp.column("__person"))

    def map_merge(self, path: tuple[str, ...]) -> exp.Select:
        """Per person: the map at ``path`` merged by key, each value from the highest fragment."""
        entries = (
            exp.select(
                "__person",
                "__priority",
                exp.Alias(
                    this=exp.Unnest(expressions=[exp.func("MAP_ENTRIES", _path(path))]),
                    alias=exp.to_identifier("e"),
                ),
            )
            .from_("fragments")
            .subquery("entries")
        )
        winners = (
            exp.select(
                "__person",
                exp.alias_(exp.column("key", table="e"), "k"),
                exp.alias_(
                    exp.ArgMax(
                        this=exp.column("value", table="e"), expression=exp.column("__priority")
                    ),
                    "v",
                ),
            )
            .from_(entries)
            .group_by("__person", exp.column("key", table="e"))
            .subquery("winners")
        )
        entry = exp.Struct(
            expressions=[_named("key", exp.column("k")), _named("value", exp.column("v"))]
        )
        # In key order where the engine can order an aggregate (map order carries no meaning).
        pairs = exp.ArrayAgg(
            this=exp.Order(this=entry, expressions=[exp.Ordered(this=exp.column("k"))])
        )
        return (
            exp.select("__person", exp.alias_(exp.func("MAP_FROM_ENTRIES", pairs), "value"))
            .from_(winners)
            .group_by("__person")
        )

    def assemble(self) -> exp.Select:
        """The merged profile rows, every column cast to its exact lake type."""
        leaf_index = {path: i for i, (path, _) in enumerate(self.leaves)}
        object_index = {path: i for i, path in enumerate(self.objects)}
        map_index = {path: i for i, (path, _) in enumerate(self.maps)}
        parts = _Parts(leaf_index, object_index, map_index)
        columns: list[exp.Expr] = [
            exp.alias_(exp.column("__person", table="p"), PROFILE_ID_COLUMN, quoted=True)
        ]
        for name, field_type in self.profile.fields.items():
            value = self._top_level(name, field_type, parts)
            columns.append(exp.alias_(exp.cast(value, sql_type(field_type)), name, quoted=True))
        query = (
            exp.select(*columns)
            .from_(exp.alias_(exp.to_table("persons"), "p"))
            .join(
                exp.alias_(exp.to_table("attributes"), "a"), on=_same_person("a"), join_type="left"
            )
            .join(
                exp.alias_(exp.to_table("identity_maps"), "i"),
                on=_same_person("i"),
                join_type="left",
            )
        )
        for index in range(len(self.maps)):
            query = query.join(
                exp.alias_(exp.to_table(f"map_{index}"), f"m{index}"),
                on=_same_person(f"m{index}"),
                join_type="left",
            )
        if SEGMENT_MEMBERSHIP in self.special:
            query = query.join(
                exp.alias_(exp.to_table("segment_memberships"), "s"),
                on=_same_person("s"),
                join_type="left",
            )
        return query

    def _top_level(self, name: str, field_type: PQLType, parts: _Parts) -> exp.Expr:
        if name == IDENTITY_MAP:
            return exp.column(IDENTITY_MAP, table="i")
        if name == SEGMENT_MEMBERSHIP:
            if SEGMENT_MEMBERSHIP in self.special:
                return exp.column(SEGMENT_MEMBERSHIP, table="s")
            return exp.null()
        return parts.value((name,), field_type)


@dataclass(frozen=True)
class _Parts:
    leaves: dict[tuple[str, ...], int]
    objects: dict[tuple[str, ...], int]
    maps: dict[tuple[str, ...], int]

    def value(self, path: tuple[str, ...], field_type: PQLType) -> exp.Expr:
        if path in self.leaves:
            return exp.column(f"leaf_{self.leaves[path]}", table="a")
        if path in self.maps:
            return exp.column("value", table=f"m{self.maps[path]}")
        if path not in self.objects or not isinstance(field_type, ObjectType):
            return exp.null()
        fields = [
            _named(name, self.value((*path, name), child))
            for name, child in field_type.fields.items()
        ]
        is_set = exp.column(f"object_{self.objects[path]}", table="a")
        return exp.Case().when(is_set, exp.Struct(expressions=fields))


def _path(path: tuple[str, ...]) -> exp.Expr:
    node: exp.Expr = exp.column(path[0], quoted=True)
    for name in path[1:]:
        node = exp.Dot(this=node, expression=exp.to_identifier(name, quoted=True))
    return node


def _named(name: str, value: exp.Expr) -> exp.PropertyEQ:
    return exp.PropertyEQ(this=exp.to_identifier(name, quoted=True), expression=value)


def _same_person(alias: str) -> exp.Expr:
    return exp.EQ(
        this=exp.column("__person", table=alias), expression=exp.column("__person", table="p")
    )


# --- lake types as SQL types --------------------------------------------------------------------

_SCALAR_SQL = {
    ScalarKind.BOOLEAN: exp.DataType.Type.BOOLEAN,
    ScalarKind.INTEGER: exp.DataType.Type.BIGINT,
    ScalarKind.DOUBLE: exp.DataType.Type.DOUBLE,
    ScalarKind.STRING: exp.DataType.Type.VARCHAR,
    ScalarKind.DATE: exp.DataType.Type.DATE,
    ScalarKind.DATETIME: exp.DataType.Type.TIMESTAMPNTZ,  # naive UTC, as the lake stores it
}


def sql_type(field_type: PQLType) -> exp.DataType:
    """The SQL type of a lake column holding ``field_type`` (see :mod:`segmint.xdm.arrow`)."""
    if isinstance(field_type, ScalarType):
        return exp.DataType(this=_SCALAR_SQL[field_type.kind])
    if isinstance(field_type, ArrayType):
        return exp.DataType(
            this=exp.DataType.Type.ARRAY, expressions=[sql_type(field_type.item)], nested=True
        )
    if isinstance(field_type, MapType):
        key = exp.DataType(this=exp.DataType.Type.VARCHAR)
        return exp.DataType(
            this=exp.DataType.Type.MAP, expressions=[key, sql_type(field_type.value)], nested=True
        )
    assert isinstance(field_type, ObjectType)
    members = [
        exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=sql_type(child))
        for name, child in field_type.fields.items()
    ]
    return exp.DataType(this=exp.DataType.Type.STRUCT, expressions=members, nested=True)
