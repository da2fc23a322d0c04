import hashlib
import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from segmint.cli.main import app
from segmint.profiles import primary_identity, read_records, validate_record
from segmint.profiles.generate import generate
from segmint.profiles.namespaces import MAX_IDENTITIES_PER_GRAPH
from segmint.profiles.people import (
    BLOCK_PEOPLE,
    DATASETS,
    NICKNAMES,
    TRUTH_SCHEMA,
    PeopleResult,
    generate_people,
)
from segmint.xdm import DEFAULT_SCHEMA, PROFILE_CLASS, event_schema, profile_schema

NOW = datetime(2025, 6, 30, 12, 0, 0)
PEOPLE = 25_000  # three blocks, the last one partial
CHUNK = BLOCK_PEOPLE


def _generate(out: Path, seed: int = 7, chunk_size: int = CHUNK) -> PeopleResult:
    return generate_people(out, people=PEOPLE, seed=seed, now=NOW, chunk_size=chunk_size)


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> PeopleResult:
    return _generate(tmp_path_factory.mktemp("people"))


def _scan(paths: tuple[Path, ...] | list[Path]) -> str:
    return "read_parquet([" + ", ".join(f"'{p}'" for p in paths) + "])"


def _batch(result: PeopleResult, directory: str, batch_id: str = "batch-1") -> str:
    batch = next(
        b for b in result.batches if b.dataset.directory == directory and b.batch_id == batch_id
    )
    return _scan(batch.files)


def _dataset(result: PeopleResult, directory: str) -> str:
    files = [f for b in result.batches if b.dataset.directory == directory for f in b.files]
    return _scan(files)


def _rows(sql: str) -> list[tuple[Any, ...]]:
    relation = duckdb.sql(sql)
    assert relation is not None
    return relation.fetchall()


def _one(sql: str) -> tuple[Any, ...]:
    rows = _rows(sql)
    assert len(rows) == 1
    return tuple(rows[0])


@pytest.fixture(scope="module")
def crm(result: PeopleResult) -> str:
    return _batch(result, "crm-profiles")


@pytest.fixture(scope="module")
def loyalty(result: PeopleResult) -> str:
    return _batch(result, "loyalty-profiles")


@pytest.fixture(scope="module")
def updates(result: PeopleResult) -> str:
    return _batch(result, "loyalty-profiles", "batch-2")


@pytest.fixture(scope="module")
def web(result: PeopleResult) -> str:
    return _batch(result, "web-events")


@pytest.fixture(scope="module")
def emails(result: PeopleResult) -> str:
    return _batch(result, "email-events")


@pytest.fixture(scope="module")
def truth(result: PeopleResult) -> str:
    return _scan(result.truth_files)


# --- layout and manifest --------------------------------------------------------------------


def test_manifest_lists_datasets_and_batches_in_ingestion_order(result: PeopleResult) -> None:
    manifest = json.loads(result.manifest.read_text())
    assert result.manifest == result.manifest.parent / "manifest.json"
    assert (manifest["format"], manifest["people"], manifest["seed"]) == (
        "segmint-people/1",
        PEOPLE,
        7,
    )
    assert [
        (d["name"], d["class"], d["directory"], d["primaryNamespace"]) for d in manifest["datasets"]
    ] == [
        ("CRM Profiles", "_xdm.context.profile", "crm-profiles", "CRMID"),
        ("Loyalty Profiles", "_xdm.context.profile", "loyalty-profiles", "Email"),
        ("Web and App Events", "_xdm.context.experienceevent", "web-events", "ECID"),
        ("Email Marketing Events", "_xdm.context.experienceevent", "email-events", "Email"),
    ]
    batches = sorted(
        (b["sequence"], d["directory"], b["id"], b["ingestedAt"])
        for d in manifest["datasets"]
        for b in d["batches"]
    )
    assert [(s, d, i) for s, d, i, _ in batches] == [
        (1, "crm-profiles", "batch-1"),
        (2, "loyalty-profiles", "batch-1"),
        (3, "web-events", "batch-1"),
        (4, "email-events", "batch-1"),
        (5, "loyalty-profiles", "batch-2"),
    ]
    times = [at for *_, at in batches]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_manifest_files_and_counts_match_the_result(result: PeopleResult) -> None:
    manifest = json.loads(result.manifest.read_text())
    root = result.manifest.parent
    entries = {(d["directory"], b["id"]): b for d in manifest["datasets"] for b in d["batches"]}
    for batch in result.batches:
        entry = entries[(batch.dataset.directory, batch.batch_id)]
        assert [root / f for f in entry["files"]] == list(batch.files)
        assert [f.parent for f in batch.files] == [
            root / batch.dataset.directory / batch.batch_id
        ] * 3
        rows = sum(pq.read_metadata(f).num_rows for f in batch.files)
        assert entry["records"] == batch.records == rows > 0
    per_dataset = {d["directory"]: d["records"] for d in manifest["datasets"]}
    assert per_dataset == result.records
    assert manifest["truth"]["rows"] == result.identities
    assert [root / f for f in manifest["truth"]["files"]] == list(result.truth_files)


def test_every_table_has_exactly_the_lake_layout(result: PeopleResult) -> None:
    for batch in result.batches:
        is_profile = batch.dataset.schema_name == PROFILE_CLASS
        expected = profile_schema(DEFAULT_SCHEMA) if is_profile else event_schema(DEFAULT_SCHEMA)
        for path in batch.files:
            assert pq.read_schema(path).equals(expected)
    for path in result.truth_files:
        assert pq.read_schema(path).equals(TRUTH_SCHEMA)


def test_scale_of_fragments_and_events(result: PeopleResult) -> None:
    fragments = sum(
        _one(f"select count(distinct __profile_id) from {_dataset(result, d.directory)}")[0]
        for d in DATASETS
    )
    events = result.records["web-events"] + result.records["email-events"]
    assert 3 * PEOPLE < fragments < 4 * PEOPLE
    assert 9 * PEOPLE < events < 12 * PEOPLE


# --- validity ---------------------------------------------------------------------------------


def _sample(path: Path, tmp_path: Path, size: int = 150) -> tuple[list[dict[str, Any]], list[str]]:
    """Evenly spaced rows of a part file as ingestion reads them, with their ``__profile_id``."""
    table = pq.read_table(path)
    rows = table.take(np.linspace(0, table.num_rows - 1, size).astype(np.int64))
    sample = tmp_path / f"sample-{path.parent.parent.name}-{path.parent.name}-{path.name}"
    pq.write_table(rows, sample)
    return list(read_records(sample)), rows.column("__profile_id").to_pylist()


def test_sampled_records_are_valid_xdm_and_keyed_by_their_primary_identity(
    result: PeopleResult, tmp_path: Path
) -> None:
    for batch in result.batches:
        is_profile = batch.dataset.schema_name == PROFILE_CLASS
        obj = DEFAULT_SCHEMA.profile if is_profile else DEFAULT_SCHEMA.event
        for path in batch.files:
            records, profile_ids = _sample(path, tmp_path)
            for row, (record, profile_id) in enumerate(zip(records, profile_ids, strict=True)):
                assert validate_record(record, obj, row=row) == []
                assert primary_identity(record) == profile_id
                assert profile_id.startswith(batch.dataset.primary_namespace + ":")


def test_identity_maps_keep_the_rules(result: PeopleResult) -> None:
    for batch in result.batches:
        table = _scan(batch.files)
        too_many, primaries, bad_ecids = _one(f"""
            select max(n), count(*) filter (where p <> 1), count(*) filter (where bad)
            from (
              select list_sum([len(v) for v in map_values(identityMap)]) as n,
                     list_sum([len(list_filter(v, lambda i: i.primary))
                               for v in map_values(identityMap)]) as p,
                     coalesce(list_bool_or([not regexp_full_match(i.id, '[0-9]{{38}}')
                                            for i in identityMap['ECID']]), false) as bad
              from {table})
        """)
        assert too_many <= 20
        assert (primaries, bad_ecids) == (0, 0)


def test_record_and_event_ids_are_unique(result: PeopleResult, web: str, emails: str) -> None:
    assert _one(f"""select count(*) = count(distinct _id)
                    from (select _id from {web} union all select _id from {emails})""") == (True,)
    for directory in ("crm-profiles", "loyalty-profiles"):
        for batch_id in ("batch-1", "batch-2"):
            if directory == "crm-profiles" and batch_id == "batch-2":
                continue
            table = _batch(result, directory, batch_id)
            assert _one(f"""select count(*) = count(distinct __profile_id)
                              and count(*) = count(distinct _id) from {table}""") == (True,)


def test_events_fall_before_now(web: str, emails: str) -> None:
    latest = _one(f"select max(timestamp) from (from {web} union all by name from {emails})")[0]
    assert latest < NOW


# --- overlaps the identity graph must resolve ------------------------------------------------


def test_login_events_carry_the_ecid_and_the_crmid(web: str, crm: str) -> None:
    logins, authenticated, orphans = _one(f"""
        select count(*) filter (where eventType = 'userAccount.login'),
               count(*) filter (where identityMap['CRMID'] is not null),
               count(*) filter (where identityMap['CRMID'] is not null
                                and 'CRMID:' || identityMap['CRMID'][1].id
                                    not in (select __profile_id from {crm}))
        from {web}
    """)
    assert logins == authenticated > 0
    assert orphans == 0
    others = _one(f"""select count(*) from {web} where eventType <> 'userAccount.login'
                      and cardinality(identityMap) <> 1""")
    assert others == (0,)


def test_two_devices_of_one_person_are_joined_by_logins(truth: str) -> None:
    joined = _one(f"""
        select count(*) from (
          select person, graph from {truth}
          where namespace = 'ECID' and not shared group by all having count(*) >= 2)
    """)[0]
    assert joined > 0.1 * PEOPLE


def test_some_people_stay_anonymous(truth: str, web: str) -> None:
    customers, anonymous = _one(f"""
        select count(distinct person) filter (where namespace = 'CRMID'),
               count(distinct person) filter (where person not in
                   (select person from {truth} where namespace = 'ECID' and graph <> 'ECID:' || id))
        from {truth}
    """)
    assert 0.8 * PEOPLE < customers < 0.9 * PEOPLE
    assert 0.2 * PEOPLE < anonymous < 0.4 * PEOPLE
    never_linked = _one(f"""
        select count(*) from {web} e join {truth} t on e.__profile_id = 'ECID:' || t.id
        where t.graph = 'ECID:' || t.id and e.identityMap['CRMID'] is not null
    """)
    assert never_linked == (0,)


def test_chains_from_device_to_loyalty_record(web: str, crm: str, loyalty: str) -> None:
    chains = _one(f"""
        select count(distinct e.__profile_id) from {web} e
        join {crm} c on c.__profile_id = 'CRMID:' || e.identityMap['CRMID'][1].id
        join {loyalty} l on l.__profile_id = 'Email:' || c.identityMap['Email'][1].id
    """)[0]
    assert chains > 0.2 * PEOPLE


def test_two_crm_records_of_one_person_share_an_email(crm: str, truth: str) -> None:
    pairs = _rows(f"""
        select list(__profile_id order by __profile_id), count(*) from {crm}
        where personalEmail is not null group by personalEmail.address having count(*) > 1
    """)
    assert 0.005 * PEOPLE < len(pairs) < 0.05 * PEOPLE
    assert {count for _, count in pairs} == {2}
    owner = {
        f"CRMID:{identity}": (person, graph)
        for person, identity, graph in _rows(
            f"select person, id, graph from {truth} where namespace = 'CRMID'"
        )
    }
    assert all(owner[first] == owner[second] for (first, second), _ in pairs)


def test_shared_devices_make_graphs_beyond_the_guardrail(truth: str) -> None:
    sizes = _rows(f"""
        select count(distinct namespace || ':' || id) as n, bool_or(shared), count(distinct person)
        from {truth} group by graph having n > {MAX_IDENTITIES_PER_GRAPH} order by n
    """)
    blocks = -(-PEOPLE // BLOCK_PEOPLE)
    assert len(sizes) == blocks  # one kiosk per block
    assert all(shared and people >= 10 for _, shared, people in sizes)
    families = _one(f"""
        select count(*) from (select graph from {truth} where shared group by graph
                              having count(distinct person) between 2 and 6)
    """)[0]
    assert families > 0.005 * PEOPLE


# --- the truth ----------------------------------------------------------------------------------


def _find(parent: dict[str, str], node: str) -> str:
    while parent.setdefault(node, node) != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


def _stitched(result: PeopleResult) -> set[frozenset[str]]:
    """Connected components of every identity of every record, linked within each record."""
    every = " union all ".join(f"select identityMap from {_scan(b.files)}" for b in result.batches)
    records = _rows(f"""
        select distinct flatten([[e.key || ':' || i.id for i in e.value]
                                 for e in map_entries(identityMap)])
        from ({every})
    """)
    parent: dict[str, str] = {}
    for (identities,) in records:
        root = _find(parent, identities[0])
        for other in identities[1:]:
            parent[_find(parent, other)] = root
    components: dict[str, set[str]] = defaultdict(set)
    for node in list(parent):
        components[_find(parent, node)].add(node)
    return {frozenset(c) for c in components.values()}


def test_truth_graphs_are_what_the_records_stitch_into(result: PeopleResult, truth: str) -> None:
    graphs: dict[str, set[str]] = defaultdict(set)
    for graph, namespace, identity in _rows(f"select graph, namespace, id from {truth}"):
        graphs[graph].add(f"{namespace}:{identity}")
    expected = {frozenset(identities) for identities in graphs.values()}
    assert _stitched(result) == expected
    assert all(graph in identities for graph, identities in graphs.items())


def test_truth_covers_every_person_and_their_identities(truth: str, crm: str) -> None:
    people, first, last, duplicates = _one(f"""
        select count(distinct person), min(person), max(person),
               count(*) - count(distinct (person, namespace, id))
        from {truth}
    """)
    assert (people, first, last, duplicates) == (PEOPLE, 0, PEOPLE - 1, 0)
    owners = _one(f"""
        select max(n) from (select namespace, id, count(*) n from {truth}
                            where not shared group by all)
    """)
    assert owners == (1,)
    emails_of_customers = _one(f"""
        select count(*) from {crm} c join {truth} t
          on t.namespace = 'CRMID' and c.__profile_id = 'CRMID:' || t.id
        join {truth} e on e.person = t.person and e.namespace = 'Email'
        where c.personalEmail.address <> e.id
    """)
    assert emails_of_customers == (0,)


# --- conflicting attribute values -------------------------------------------------------------


def test_loyalty_names_and_cities_sometimes_disagree_with_crm(crm: str, loyalty: str) -> None:
    joined, renamed, moved = _one(f"""
        select count(*),
               count(*) filter (where c.person.name.firstName <> l.person.name.firstName),
               count(*) filter (where c.homeAddress.city <> l.homeAddress.city)
        from {crm} c join {loyalty} l on c.personalEmail.address = l.personalEmail.address
    """)
    assert 0.1 * joined < renamed < 0.4 * joined
    assert 0.03 * joined < moved < 0.15 * joined
    pairs = _rows(f"""
        select distinct c.person.name.firstName, l.person.name.firstName
        from {crm} c join {loyalty} l on c.personalEmail.address = l.personalEmail.address
        where c.person.name.firstName <> l.person.name.firstName
    """)
    assert all(NICKNAMES[formal] == nickname for formal, nickname in pairs)
    assert ("Daniel", "Danny") in pairs


def test_second_loyalty_batch_updates_points_and_tiers(loyalty: str, updates: str) -> None:
    updated, members, upgraded, problems = _one(f"""
        select count(*), (select count(*) from {loyalty}),
               count(*) filter (where b.loyalty.tier <> a.loyalty.tier),
               count(*) filter (where b.loyalty.points <= a.loyalty.points
                   or b.extSourceSystemAudit.lastUpdatedDate
                      <= a.extSourceSystemAudit.lastUpdatedDate
                   or b.extSourceSystemAudit.lastUpdatedDate >= TIMESTAMP '{NOW}'
                   or b.person <> a.person or b.homeAddress <> a.homeAddress
                   or b._id = a._id
                   or b.loyalty.lifetimePoints - a.loyalty.lifetimePoints
                      <> b.loyalty.points - a.loyalty.points)
        from {updates} b join {loyalty} a using (__profile_id)
    """)
    assert (0.2 * members < updated < 0.4 * members, problems) == (True, 0)
    assert upgraded > 0.1 * updated
    assert _one(f"select count(*) from {updates} anti join {loyalty} using (__profile_id)") == (0,)
    tiers = _one(f"""
        select bool_and(case loyalty.tier when 'bronze' then points < 1000
                                          when 'silver' then points between 1000 and 4999
                                          when 'gold' then points between 5000 and 19999
                                          else points >= 20000 end)
        from (select loyalty, loyalty.points as points from {updates})
    """)
    assert tiers == (True,)


# --- determinism and chunking -------------------------------------------------------------------


def _tables(result: PeopleResult) -> list[pa.Table]:
    groups = [batch.files for batch in result.batches] + [result.truth_files]
    return [pa.concat_tables([pq.read_table(f) for f in files]) for files in groups]


def test_same_seed_gives_identical_output(result: PeopleResult, tmp_path: Path) -> None:
    again = _generate(tmp_path / "again")
    for a, b in zip(_tables(result), _tables(again), strict=True):
        assert a.equals(b)


def test_another_seed_gives_other_people(result: PeopleResult, tmp_path: Path) -> None:
    other = _generate(tmp_path / "other", seed=8)
    assert not pq.read_table(other.batches[0].files[0]).equals(
        pq.read_table(result.batches[0].files[0])
    )


def test_records_do_not_depend_on_the_chunk_size(result: PeopleResult, tmp_path: Path) -> None:
    bigger = _generate(tmp_path / "bigger", chunk_size=15_000)  # two blocks per chunk
    assert [len(batch.files) for batch in bigger.batches] == [2] * len(bigger.batches)
    for a, b in zip(_tables(result), _tables(bigger), strict=True):
        assert a.equals(b)


def test_progress_is_reported_per_chunk(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    generate_people(
        tmp_path,
        people=250,
        now=NOW,
        chunk_size=100,
        on_progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(250, 250)]  # a chunk is at least one block


def test_zero_people_write_an_empty_manifest(tmp_path: Path) -> None:
    out = generate_people(tmp_path, people=0, now=NOW)
    assert out.records == {d.directory: 0 for d in DATASETS}
    assert out.truth_files == () and out.identities == 0
    assert json.loads(out.manifest.read_text())["people"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"people": -1}, "people"), ({"people": 1, "chunk_size": 0}, "chunk_size")],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_people(tmp_path, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_command_line_writes_the_people_layout(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    done = runner.invoke(app, ["generate", "--out", str(out), "--people", "1200", "--seed", "3"])
    assert done.exit_code == 0, done.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["people"] == 1200 and manifest["seed"] == 3
    both = runner.invoke(app, ["generate", "--out", str(out), "--people", "5", "--profiles", "5"])
    assert both.exit_code != 0


# --- the single-dataset generator is unchanged ------------------------------------------------


def test_generate_output_is_pinned(tmp_path: Path) -> None:
    """``generate()`` shares its builders with this module; its output must not move."""
    out = generate(tmp_path, profiles=300, seed=3, events_per_profile=6, now=NOW, chunk_size=120)
    digest = hashlib.sha256()
    for path in out.profile_files + out.event_files:
        rows = pq.read_table(path).to_pylist()
        digest.update(json.dumps(rows, sort_keys=True, default=str).encode())
    assert digest.hexdigest() == "815e7d9ba0c0a4fb36c89c0c8b6b1be74c2c853a1e5ffb758875a4033bf3576b"
