"""Synthetic people made of several fragments: CRM and loyalty profile records, web/app and
email experience events, written as datasets of batches that identity stitching must join
again, with the ground truth of which identities belong to whom.

Randomness is drawn per block of :data:`BLOCK_PEOPLE` people, so the records do not depend
on the chunk size; a chunk (one part file per batch) is a whole number of blocks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segmint.profiles.generate import (
    _CITY_COUNTRY,
    _CITY_WEIGHTS,
    _EMAIL_KINDS,
    _EVENT_TYPES,
    _FIRST_NAMES,
    CITIES,
    COUNTRIES,
    DEVICES,
    EVENT_SCHEMA,
    EVENT_TYPE_WEIGHTS,
    LAST_NAMES,
    PROFILE_SCHEMA,
    TIER_POINTS,
    TIERS,
    Bools,
    Chars,
    Ints,
    _address,
    _ascii,
    _audit_dates,
    _choose,
    _city_in_country,
    _Clock,
    _commerce_columns,
    _concat,
    _constant,
    _decimal_chars,
    _device_columns,
    _ecid_chars,
    _ecid_parts,
    _emails,
    _event_counts,
    _event_times,
    _Events,
    _finish,
    _literal,
    _loyalty_details,
    _Names,
    _names,
    _person,
    _phone,
    _record_ids,
    _struct,
    _table,
    _take,
    _timestamps,
    _type,
    _vocab,
    _web,
    _weights,
    _work_address,
)
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

BLOCK_PEOPLE = 10_000
MAX_PEOPLE = 5 * 10**10  # CRMIDs (11 digits, two per person) stay unique up to here
MANIFEST_NAME = "manifest.json"
TRUTH_DIRECTORY = "truth"
MANIFEST_FORMAT = "segmint-people/1"

SHARE_WITH_CRM = 0.85
SHARE_WITH_SECOND_CRM = 0.02  # of CRM customers with an email: a duplicate customer record
SHARE_LOYALTY_MEMBERS = 0.5  # of people with an email
SHARE_USING_NICKNAME = 0.5  # of loyalty members whose first name has a nickname
SHARE_MOVED = 0.08  # loyalty members whose loyalty address is another city
SHARE_LOYALTY_UPDATED = 0.3  # loyalty members in the second loyalty batch
SHARE_SUBSCRIBED = 0.75  # of people with an email
SHARE_LOGGING_IN = 0.8  # of CRM customers; the others browse anonymously only
SHARE_OTHER_DEVICE_LOGIN = 0.85  # the first device of a customer who logs in always does
DEVICE_COUNT_WEIGHTS = (0.55, 0.3, 0.15)  # one, two or three devices
WEB_EVENTS_PER_DEVICE = 4.5
EXTRA_LOGINS_PER_DEVICE = 0.2
SHARE_IN_HOUSEHOLD = 0.04  # people who share a household with the person before them
SHARE_HOUSEHOLD_DEVICE = 0.6  # households with a family device several members log in on
KIOSK_PEOPLE = (25, 60)  # each block has one kiosk: a device many customers log in on
SHARED_DEVICE_EVENTS = 8.0  # anonymous browsing on each shared device
EMAILS_SENT_PER_SUBSCRIBER = 2.0
SHARE_OPENED, SHARE_CLICKED, SHARE_BOUNCED, SHARE_UNSUBSCRIBED = 0.3, 0.3, 0.03, 0.02
LOYALTY_POINTS_EARNED = (50, 5_000)

ECID, CRMID, EMAIL = "ECID", "CRMID", "Email"
LOGIN_EVENT_TYPE = "userAccount.login"
EMAIL_EVENT_TYPES = (
    "directMarketing.emailSent",
    "directMarketing.emailOpened",
    "directMarketing.emailClicked",
    "directMarketing.emailBounced",
    "directMarketing.emailUnsubscribed",
)
NICKNAMES: Mapping[str, str] = {
    "Daniel": "Danny", "Robert": "Bob", "William": "Bill", "James": "Jim", "Michael": "Mike",
    "Joseph": "Joe", "Thomas": "Tom", "Christopher": "Chris", "Richard": "Rick",
    "Matthew": "Matt", "Anthony": "Tony", "Andrew": "Andy", "Steven": "Steve",
    "Joshua": "Josh", "Kenneth": "Ken", "Timothy": "Tim", "Edward": "Ed", "Jeffrey": "Jeff",
    "Nicholas": "Nick", "Jonathan": "Jon", "Benjamin": "Ben", "Samuel": "Sam",
    "Gregory": "Greg", "Alexander": "Alex", "Patrick": "Pat", "Raymond": "Ray",
    "Zachary": "Zach", "Douglas": "Doug", "Nathan": "Nate", "Vincent": "Vince",
    "Gabriel": "Gabe", "Elizabeth": "Liz", "Jennifer": "Jen", "Patricia": "Patty",
    "Margaret": "Maggie", "Kimberly": "Kim", "Rebecca": "Becky", "Katherine": "Kate",
    "Catherine": "Cathy", "Christine": "Chris", "Deborah": "Debbie", "Stephanie": "Steph",
    "Samantha": "Sam", "Victoria": "Vicky", "Jessica": "Jess", "Susan": "Sue",
    "Cynthia": "Cindy", "Pamela": "Pam", "Jacqueline": "Jackie", "Abigail": "Abby",
    "Kathleen": "Kathy", "Barbara": "Barb", "Madison": "Maddie", "Isabella": "Bella",
    "Danielle": "Dani", "Nicole": "Nikki", "Natalie": "Nat", "Charlotte": "Charlie",
}  # fmt: skip
if not set(NICKNAMES) <= set(_FIRST_NAMES):
    raise RuntimeError("every NICKNAMES key must be a first name of the generator")


@dataclass(frozen=True)
class PeopleDataset:
    """One dataset the generator writes: its name, directory, XDM class and the namespace of
    its records' primary identity."""

    name: str
    directory: str
    schema_name: str
    primary_namespace: str


CRM_PROFILES = PeopleDataset("CRM Profiles", "crm-profiles", PROFILE_CLASS, CRMID)
LOYALTY_PROFILES = PeopleDataset("Loyalty Profiles", "loyalty-profiles", PROFILE_CLASS, EMAIL)
WEB_EVENTS = PeopleDataset("Web and App Events", "web-events", EXPERIENCE_EVENT_CLASS, ECID)
EMAIL_EVENTS = PeopleDataset(
    "Email Marketing Events", "email-events", EXPERIENCE_EVENT_CLASS, EMAIL
)
DATASETS = (CRM_PROFILES, LOYALTY_PROFILES, WEB_EVENTS, EMAIL_EVENTS)
# Ingestion order: the second loyalty batch comes last, so its records are the newest.
BATCHES: tuple[tuple[PeopleDataset, str], ...] = (
    (CRM_PROFILES, "batch-1"),
    (LOYALTY_PROFILES, "batch-1"),
    (WEB_EVENTS, "batch-1"),
    (EMAIL_EVENTS, "batch-1"),
    (LOYALTY_PROFILES, "batch-2"),
)
# One row per (person, identity of theirs that some record carries). ``graph`` names the
# identity graph the records' links form around it (``Namespace:id`` of one of its members),
# before any size cap; ``shared`` marks a device several people log in on.
TRUTH_SCHEMA = pa.schema(
    [
        pa.field("person", pa.int64(), nullable=False),
        pa.field("namespace", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("graph", pa.string(), nullable=False),
        pa.field("shared", pa.bool_(), nullable=False),
    ]
)


def _key(dataset: PeopleDataset, batch_id: str) -> str:
    return f"{dataset.directory}/{batch_id}"


_CRM_BATCH, _LOYALTY_BATCH, _WEB_BATCH, _EMAIL_BATCH, _LOYALTY_UPDATE_BATCH = (
    _key(dataset, batch_id) for dataset, batch_id in BATCHES
)


@dataclass(frozen=True)
class PeopleBatch:
    """One written batch: its part files and record count; ``sequence`` is its place in the
    ingestion order (1 first)."""

    dataset: PeopleDataset
    batch_id: str
    sequence: int
    ingested_at: datetime
    files: tuple[Path, ...]
    records: int


@dataclass(frozen=True)
class PeopleResult:
    people: int
    manifest: Path
    batches: tuple[PeopleBatch, ...]  # in ingestion order
    truth_files: tuple[Path, ...]
    identities: int  # rows of the truth: (person, identity) pairs

    @property
    def records(self) -> dict[str, int]:
        """Records per dataset directory, all batches together."""
        counts = {dataset.directory: 0 for dataset in DATASETS}
        for batch in self.batches:
            counts[batch.dataset.directory] += batch.records
        return counts


def generate_people(
    out_dir: Path,
    *,
    people: int,
    seed: int = 42,
    now: datetime,
    chunk_size: int = 100_000,
    on_progress: Callable[[int, int], None] | None = None,
) -> PeopleResult:
    """Write ``people`` synthetic people as the datasets of :data:`DATASETS` under ``out_dir``.

    Each batch is ``<dataset>/<batch>/part-NNNNN.parquet``, one part per chunk of
    ``chunk_size`` people (rounded up to whole blocks of :data:`BLOCK_PEOPLE`); the truth is
    ``truth/part-NNNNN.parquet``; ``manifest.json`` is written last. The records are the same
    for every chunk size. ``on_progress(people_written, people)`` is called after each chunk.
    """
    _check_people_arguments(people, chunk_size)
    clock = _Clock.at(now)
    blocks_per_chunk = math.ceil(chunk_size / BLOCK_PEOPLE)
    writer = _PartWriter(out_dir)
    counter = _Sequences()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="segmint-people") as pool:
        pending: list[Future[None]] = []
        for chunk, start in enumerate(range(0, people, blocks_per_chunk * BLOCK_PEOPLE)):
            end = min(people, start + blocks_per_chunk * BLOCK_PEOPLE)
            tables = _chunk(seed, start, end, clock, counter)
            _finish(pending, on_progress, start, people)
            pending = writer.submit(pool, chunk, tables)
        _finish(pending, on_progress, people, people)
    return _write_manifest(out_dir, writer, people, seed, clock)


def _check_people_arguments(people: int, chunk_size: int) -> None:
    if not 0 <= people <= MAX_PEOPLE:
        raise ValueError(f"people must be between 0 and {MAX_PEOPLE}, got {people}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")


# --- chunks, blocks and writing ----------------------------------------------------------------


class _Sequences:
    """Running record counts per batch: the sequence numbers that make ``_id`` unique.

    Each batch has its own tag in the top hex digit of the 12-digit sequence, so ``_id`` is
    unique across all datasets (events of several datasets are merged by ``_id``).
    """

    def __init__(self) -> None:
        self.next = {_key(dataset, batch_id): 0 for dataset, batch_id in BATCHES}

    def take(self, batch: str, count: int) -> Ints:
        first = self.next[batch]
        self.next[batch] = first + count
        tag = list(self.next).index(batch) << 44
        return np.arange(first, first + count, dtype=np.int64) + tag


def _chunk(
    seed: int, start: int, end: int, clock: _Clock, counter: _Sequences
) -> dict[str, pa.Table]:
    """Every batch's table (and the truth) for people ``start`` to ``end``, block by block."""
    parts: dict[str, list[pa.Table]] = {}
    for block_start in range(start, end, BLOCK_PEOPLE):
        size = min(BLOCK_PEOPLE, end - block_start)
        for name, table in _block(seed, block_start, size, clock, counter).items():
            parts.setdefault(name, []).append(table)
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}


class _PartWriter:
    """Writes each chunk's tables as part files and remembers them for the manifest."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.files: dict[str, list[Path]] = {}
        self.rows: dict[str, int] = {}
        for name in (*(_key(d, b) for d, b in BATCHES), TRUTH_DIRECTORY):
            (out_dir / name).mkdir(parents=True, exist_ok=True)
            self.files[name], self.rows[name] = [], 0

    def submit(
        self, pool: ThreadPoolExecutor, chunk: int, tables: Mapping[str, pa.Table]
    ) -> list[Future[None]]:
        # Parquet encoding releases the GIL: this chunk is written while the next is drawn.
        futures = []
        for name, table in tables.items():
            path = self.out_dir / name / f"part-{chunk:05d}.parquet"
            self.files[name].append(path)
            self.rows[name] += table.num_rows
            futures.append(pool.submit(pq.write_table, table, path))
        return futures


def _block(
    seed: int, start: int, size: int, clock: _Clock, counter: _Sequences
) -> dict[str, pa.Table]:
    """All tables of one block of people; each dataset draws from its own stream."""
    block = start // BLOCK_PEOPLE

    def rng(stream: int) -> np.random.Generator:
        return np.random.default_rng([seed, block, stream])

    population = _population(rng(0), start, size)
    crm = _crm_records(rng(1), population, clock, counter)
    loyalty, updates = _loyalty_records(rng(2), population, clock, counter)
    web, devices = _web_events(rng(3), population, clock, counter)
    email, emailed = _email_events(rng(4), population, clock, counter)
    return {
        _CRM_BATCH: crm,
        _LOYALTY_BATCH: loyalty,
        _WEB_BATCH: web,
        _EMAIL_BATCH: email,
        _LOYALTY_UPDATE_BATCH: updates,
        TRUTH_DIRECTORY: _truth(population, devices, emailed),
    }


# --- the people of a block ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Population:
    """One block of people and what every dataset needs to know about them."""

    index: Ints  # global person numbers
    names: _Names
    home_city: Ints
    email: pa.Array  # null for people without one
    has_email: Bools
    crm: Bools
    second_crm: Bools
    loyal: Bools
    subscribed: Bools
    logs_in: Bools
    devices: Ints
    crm_id: Chars  # every person's CRMID digits (used only where ``crm``)
    second_crm_id: Chars
    shared: _SharedDevices

    @property
    def size(self) -> int:
        return len(self.index)


@dataclass(frozen=True)
class _SharedDevices:
    """Family devices and kiosks: devices that several customers log in on."""

    anchor: Ints  # the person whose number names each shared device
    user: Ints  # each customer logging in on a shared device (people, ascending)
    device: Ints  # the shared device of each user
    representative: Ints  # per person: the person whose CRMID names their identity graph


def _population(rng: np.random.Generator, start: int, size: int) -> _Population:
    index = np.arange(start, start + size, dtype=np.int64)
    names = _names(rng, size)
    home_city = _choose(rng, _CITY_WEIGHTS, size)
    email = _emails(rng, names, index)
    has_email = _valid(email)
    crm = rng.random(size) < SHARE_WITH_CRM
    logs_in = crm & (rng.random(size) < SHARE_LOGGING_IN)
    return _Population(
        index=index,
        names=names,
        home_city=home_city,
        email=email,
        has_email=has_email,
        crm=crm,
        second_crm=crm & has_email & (rng.random(size) < SHARE_WITH_SECOND_CRM),
        loyal=has_email & (rng.random(size) < SHARE_LOYALTY_MEMBERS),
        subscribed=has_email & (rng.random(size) < SHARE_SUBSCRIBED),
        logs_in=logs_in,
        devices=1 + _choose(rng, _weights(DEVICE_COUNT_WEIGHTS), size),
        crm_id=_crm_id_chars(2 * index),
        second_crm_id=_crm_id_chars(2 * index + 1),
        shared=_shared_devices(rng, crm),
    )


def _crm_id_chars(keys: Ints) -> Chars:
    """``C`` and 11 digits, a bijection of ``keys`` below 10^11 (so CRMIDs are unique)."""
    digits = _decimal_chars((keys * 48_271 + 1_234_567) % 10**11, 11)
    return np.hstack([_literal("C", len(keys)), digits])


def _shared_devices(rng: np.random.Generator, crm: Bools) -> _SharedDevices:
    """Households are runs of consecutive people, except the block's first people, who are
    one kiosk group. A group with at least two customers may share a device they all log in
    on, which joins all their identities into one graph (the kiosk always has one)."""
    size = len(crm)
    joins = rng.random(size) < SHARE_IN_HOUSEHOLD
    kiosk = int(rng.integers(KIOSK_PEOPLE[0], KIOSK_PEOPLE[1] + 1))
    joins[:kiosk] = True
    joins[kiosk : kiosk + 1] = False
    joins[:1] = False
    group = np.cumsum(~joins) - 1
    groups = int(group[-1]) + 1 if size else 0
    customers = np.bincount(group, weights=crm, minlength=groups)
    wants = rng.random(groups) < SHARE_HOUSEHOLD_DEVICE
    wants[:1] = True
    has_device = wants & (customers >= 2)
    user = np.flatnonzero(crm & has_device[group])
    device = (np.cumsum(has_device) - 1)[group[user]]
    first_user = user[np.flatnonzero(np.diff(device, prepend=-1))]
    representative = np.arange(size, dtype=np.int64)
    representative[user] = first_user[device]
    return _SharedDevices(
        anchor=np.flatnonzero(~joins)[has_device],
        user=user,
        device=device,
        representative=representative,
    )


# --- identities -----------------------------------------------------------------------------------

if _type(PROFILE_SCHEMA, "identityMap") != _type(EVENT_SCHEMA, "identityMap"):
    raise RuntimeError("profile and event identityMap layouts must agree")
_IDENTITY_MAP_TYPE = _type(PROFILE_SCHEMA, "identityMap")


@dataclass(frozen=True)
class _Identity:
    """One identity column of a table: ``ids`` is null on rows without it."""

    namespace: str
    ids: pa.Array
    state: str
    primary: bool


def _identity_map(identities: Sequence[_Identity]) -> pa.MapArray:
    """Per row, one map entry per present identity, in the order given."""
    n = len(identities[0].ids)
    present = np.column_stack([_valid(i.ids) for i in identities])
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    row, slot = np.nonzero(present)  # row-major: each row's entries together, in slot order
    items = _struct(
        _IDENTITY_MAP_TYPE.item_type.value_type,
        len(row),
        {
            "id": pa.concat_arrays([i.ids for i in identities]).take(slot * n + row),
            "authenticatedState": _vocab([i.state for i in identities]).take(slot),
            "primary": np.array([i.primary for i in identities])[slot],
        },
    )
    lists = pa.ListArray.from_arrays(np.arange(len(row) + 1, dtype=np.int32), items)
    keys = _vocab([i.namespace for i in identities]).take(slot)
    return pa.MapArray.from_arrays(offsets, keys, lists, type=_IDENTITY_MAP_TYPE)


def _valid(values: pa.Array) -> Bools:
    valid: Bools = values.is_valid().to_numpy(zero_copy_only=False)
    return valid


def _prefixed(namespace: str, chars: Chars) -> pa.Array:
    """``Namespace:id`` strings (the ``__profile_id`` form) from fixed-width identities."""
    return _ascii(np.hstack([_literal(f"{namespace}:", len(chars)), chars]))


# --- CRM profiles ---------------------------------------------------------------------------------


def _crm_records(
    rng: np.random.Generator, population: _Population, clock: _Clock, counter: _Sequences
) -> pa.Table:
    """One record per customer keyed by CRMID, with the email as second identity; a few
    customers also have a stale duplicate record under a second CRMID and the same email."""
    rows = np.flatnonzero(population.crm)
    n = len(rows)
    names = population.names
    names = _Names(gender=names.gender[rows], first=names.first[rows], last=names.last[rows])
    city = population.home_city[rows]
    email = population.email.take(rows)
    columns = {
        "_id": _record_ids(rng, counter.take(_CRM_BATCH, n)),
        "person": _person(rng, names, clock),
        "homeAddress": _address(rng, city, np.ones(n, dtype=bool)),
        "workAddress": _work_address(rng, city),
        "personalEmail": _personal_email(email),
        "mobilePhone": _phone(rng, _CITY_COUNTRY[city]),
        "extSourceSystemAudit": _audit(_audit_dates(rng, n, clock)),
        **_crm_identity(population.crm_id[rows], email),
    }
    customers = _table(PROFILE_SCHEMA, n, columns)
    return pa.concat_tables([customers, _duplicates(rng, customers, population, rows, counter)])


def _crm_identity(crm_id: Chars, email: pa.Array) -> dict[str, pa.Array]:
    identities = [
        _Identity(CRMID, _ascii(crm_id), "authenticated", True),
        _Identity(EMAIL, email, "authenticated", False),
    ]
    return {"__profile_id": _prefixed(CRMID, crm_id), "identityMap": _identity_map(identities)}


def _duplicates(
    rng: np.random.Generator,
    customers: pa.Table,
    population: _Population,
    rows: Ints,
    counter: _Sequences,
) -> pa.Table:
    """Copies of some customers' records under their second CRMID and the same email,
    without the phone (the older system never had it)."""
    which = np.flatnonzero(population.second_crm[rows])
    n = len(which)
    replaced = {
        **_crm_identity(population.second_crm_id[rows[which]], population.email.take(rows[which])),
        "_id": _record_ids(rng, counter.take(_CRM_BATCH, n)),
        "mobilePhone": pa.nulls(n, _type(PROFILE_SCHEMA, "mobilePhone")),
    }
    return _replace(customers.take(which), replaced)


def _replace(table: pa.Table, columns: Mapping[str, pa.Array]) -> pa.Table:
    for name, values in columns.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, table.schema.field(index), values)
    return table


def _personal_email(email: pa.Array) -> pa.StructArray:
    n = len(email)
    return _struct(
        _type(PROFILE_SCHEMA, "personalEmail"),
        n,
        {"address": email, "primary": _constant(True, n), "type": _constant("personal", n)},
        _valid(email),
    )


def _audit(dates: Mapping[str, Ints]) -> pa.StructArray:
    n = len(next(iter(dates.values())))
    values = {name: _timestamps(micros) for name, micros in dates.items()}
    return _struct(_type(PROFILE_SCHEMA, "extSourceSystemAudit"), n, values)


# --- loyalty profiles -----------------------------------------------------------------------------

_NICKNAME_VOCAB = (*_FIRST_NAMES, *dict.fromkeys(NICKNAMES.values()))
_NICKNAME_OF = np.array(
    [_NICKNAME_VOCAB.index(NICKNAMES[name]) if name in NICKNAMES else -1 for name in _FIRST_NAMES]
)


def _loyalty_records(
    rng: np.random.Generator, population: _Population, clock: _Clock, counter: _Sequences
) -> tuple[pa.Table, pa.Table]:
    """The members' records keyed by email (first batch), and later whole-record updates of
    some of them with points earned and tiers changed (second batch)."""
    rows = np.flatnonzero(population.loyal)
    n = len(rows)
    email = population.email.take(rows)
    audit = _audit_dates(rng, n, clock)
    columns = {
        "_id": _record_ids(rng, counter.take(_LOYALTY_BATCH, n)),
        "__profile_id": _concat(f"{EMAIL}:", email),
        "identityMap": _identity_map([_Identity(EMAIL, email, "authenticated", True)]),
        "person": _member_name(rng, population.names, rows),
        "homeAddress": _member_city(rng, population.home_city[rows]),
        "personalEmail": _personal_email(email),
        "loyalty": _loyalty_details(rng, clock, np.ones(n, dtype=bool)),
        "extSourceSystemAudit": _audit(audit),
    }
    members = _table(PROFILE_SCHEMA, n, columns)
    return members, _loyalty_updates(rng, members, audit, clock, counter)


def _member_name(rng: np.random.Generator, names: _Names, rows: Ints) -> pa.StructArray:
    """The name the member signed up with: often the nickname of the CRM first name."""
    first = names.first[rows]
    nickname = _NICKNAME_OF[first]
    use = (nickname >= 0) & (rng.random(len(rows)) < SHARE_USING_NICKNAME)
    first_name = _vocab(_NICKNAME_VOCAB).take(np.where(use, nickname, first))
    last_name = _vocab(LAST_NAMES).take(names.last[rows])
    person_type = _type(PROFILE_SCHEMA, "person")
    name = _struct(
        person_type.field("name").type,
        len(rows),
        {
            "firstName": first_name,
            "lastName": last_name,
            "fullName": _concat(first_name, " ", last_name),
        },
    )
    return _struct(person_type, len(rows), {"name": name})


def _member_city(rng: np.random.Generator, home_city: Ints) -> pa.StructArray:
    """City-level address; some members gave the program a city they moved to."""
    moved = rng.random(len(home_city)) < SHARE_MOVED
    city = np.where(moved, _city_in_country(rng, _CITY_COUNTRY[home_city]), home_city)
    country = _CITY_COUNTRY[city]
    return _struct(
        _type(PROFILE_SCHEMA, "homeAddress"),
        len(city),
        {
            "city": _vocab([c[0] for c in CITIES]).take(city),
            "stateProvince": _vocab([c[1] for c in CITIES]).take(city),
            "postalCode": _vocab([c[2] for c in CITIES]).take(city),
            "country": _vocab([c.name for c in COUNTRIES]).take(country),
            "countryCode": _vocab([c.code for c in COUNTRIES]).take(country),
        },
    )


_TIER_FLOORS = np.array([low for low, _ in TIER_POINTS[1:]], dtype=np.int64)
_TIER_CEILINGS = np.array([high for _, high in TIER_POINTS], dtype=np.int64)


def _loyalty_updates(
    rng: np.random.Generator,
    members: pa.Table,
    audit: Mapping[str, Ints],
    clock: _Clock,
    counter: _Sequences,
) -> pa.Table:
    """Whole records again for some members (ingestion replaces the fragment): more points,
    the tier those points reach, and a later ``lastUpdatedDate``."""
    which = np.flatnonzero(rng.random(members.num_rows) < SHARE_LOYALTY_UPDATED)
    n = len(which)
    old = members.column("loyalty").combine_chunks().take(which)
    earned = rng.integers(*LOYALTY_POINTS_EARNED, size=n)
    points = _numbers(old.field("points")) + earned
    tier = np.searchsorted(_TIER_FLOORS, points, "right")  # never below the old tier
    top = tier == len(TIERS) - 1
    loyalty = _struct(
        _type(PROFILE_SCHEMA, "loyalty"),
        n,
        {
            **{name: old.field(name) for name in ("status", "program", "joinDate")},
            "tier": _vocab(TIERS).take(tier),
            "points": points,
            "lifetimePoints": _numbers(old.field("lifetimePoints")) + earned,
            "pointsRedeemed": old.field("pointsRedeemed"),
            "nextTier": _vocab([*TIERS[1:], None]).take(tier),
            "pointsToNextTier": pa.array(_TIER_CEILINGS[tier] - points, mask=top),
        },
    )
    updated = audit["lastUpdatedDate"][which]
    later = updated + ((clock.now_us - updated) * rng.uniform(0.5, 1.0, n)).astype(np.int64)
    replaced = {
        "_id": _record_ids(rng, counter.take(_LOYALTY_UPDATE_BATCH, n)),
        "loyalty": loyalty,
        "extSourceSystemAudit": _audit(
            {"createdDate": audit["createdDate"][which], "lastUpdatedDate": later}
        ),
    }
    return _replace(members.take(which), replaced)


def _numbers(values: pa.Array) -> Ints:
    numbers: Ints = values.to_numpy(zero_copy_only=False).astype(np.int64)
    return numbers


# --- web and app events ---------------------------------------------------------------------------

_WEB_EVENT_TYPES = (*_EVENT_TYPES, LOGIN_EVENT_TYPE)
_LOGIN = len(_EVENT_TYPES)
_BROWSING_KINDS = np.array([k for k in range(len(_EVENT_TYPES)) if k not in _EMAIL_KINDS])
_BROWSING_WEIGHTS = _weights([EVENT_TYPE_WEIGHTS[_EVENT_TYPES[k]] for k in _BROWSING_KINDS])
_DEVICE_WEIGHTS = _weights([d[4] for d in DEVICES])


@dataclass(frozen=True)
class _Devices:
    """Every device of a block: the personal ones first, then the shared ones."""

    owner: Ints  # the person (for a shared device: its anchor)
    ecid: Chars
    linked: Bools  # per personal device: someone logs in on it, so its ECID joins a graph
    personal: int


@dataclass(frozen=True)
class _Visits:
    """Web and app events in (device, timestamp) order; ``customer`` is the person whose
    CRMID a login event carries (-1 on other events)."""

    device: Ints
    customer: Ints
    kind: Ints
    timestamp: Ints


def _web_events(
    rng: np.random.Generator, population: _Population, clock: _Clock, counter: _Sequences
) -> tuple[pa.Table, _Devices]:
    """Events keyed by each device's ECID: anonymous browsing and commerce carry the ECID
    only; login events also carry the customer's CRMID, which links the device to them."""
    devices = _devices(rng, population)
    visits = _visits(rng, population.shared, devices, clock)
    n = len(visits.device)
    ecid = devices.ecid[visits.device]
    country = _CITY_COUNTRY[population.home_city[devices.owner]]
    events = _Events(visits.device, visits.kind, country[visits.device])
    customer = visits.customer
    crm_id = _take(_ascii(population.crm_id), np.maximum(customer, 0), customer >= 0)
    identities = [
        _Identity(ECID, _ascii(ecid), "ambiguous", True),
        _Identity(CRMID, crm_id, "authenticated", False),
    ]
    columns = {
        "__profile_id": _prefixed(ECID, ecid),
        "_id": _record_ids(rng, counter.take(_WEB_BATCH, n)),
        "timestamp": _timestamps(visits.timestamp),
        "eventType": _vocab(_WEB_EVENT_TYPES).take(visits.kind),
        "identityMap": _identity_map(identities),
        **_commerce_columns(rng, events),
        "web": _web(rng, visits.kind),
        **_device_columns(rng, events, _choose(rng, _DEVICE_WEIGHTS, len(devices.owner))),
    }
    return _table(EVENT_SCHEMA, n, columns), devices


def _devices(rng: np.random.Generator, population: _Population) -> _Devices:
    """One to three personal devices per person, then the block's shared devices. ECIDs are
    keyed by person number times four plus the device slot (3: the shared device)."""
    count = population.devices
    owner = np.repeat(np.arange(population.size), count)
    slot = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    again = rng.random(len(owner)) < SHARE_OTHER_DEVICE_LOGIN
    linked = population.logs_in[owner] & ((slot == 0) | again)
    anchor = population.shared.anchor
    keys = np.concatenate([4 * population.index[owner] + slot, 4 * population.index[anchor] + 3])
    return _Devices(
        owner=np.concatenate([owner, anchor]),
        ecid=_ecid_chars(*_ecid_parts(rng, keys)),
        linked=linked,
        personal=len(owner),
    )


def _visits(
    rng: np.random.Generator, shared: _SharedDevices, devices: _Devices, clock: _Clock
) -> _Visits:
    """Browsing on every device (at least one event each), logins on the linked personal
    devices, and one login per user on each shared device."""
    personal, total = devices.personal, len(devices.owner)
    browsing = np.concatenate(
        [
            _event_counts(rng, personal, WEB_EVENTS_PER_DEVICE),
            _event_counts(rng, total - personal, SHARED_DEVICE_EVENTS),
        ]
    )
    logins = np.where(devices.linked, 1 + rng.poisson(EXTRA_LOGINS_PER_DEVICE, personal), 0)
    browsing[:personal] = np.maximum(browsing[:personal], logins == 0)
    browsed = int(browsing.sum())
    device = np.concatenate(
        [
            np.repeat(np.arange(total), browsing),
            np.repeat(np.arange(personal), logins),
            personal + shared.device,
        ]
    )
    customer = np.concatenate(
        [np.full(browsed, -1), np.repeat(devices.owner[:personal], logins), shared.user]
    )
    kind = np.concatenate(
        [
            _BROWSING_KINDS[_choose(rng, _BROWSING_WEIGHTS, browsed)],
            np.full(len(device) - browsed, _LOGIN),
        ]
    )
    timestamp = _event_times(rng, len(device), clock)
    order = np.lexsort((timestamp, device))
    return _Visits(device[order], customer[order], kind[order], timestamp[order])


# --- email marketing events -----------------------------------------------------------------------

_SENT, _OPENED, _CLICKED, _BOUNCED, _UNSUBSCRIBED = range(len(EMAIL_EVENT_TYPES))
US_PER_MINUTE = 60_000_000


def _email_events(
    rng: np.random.Generator, population: _Population, clock: _Clock, counter: _Sequences
) -> tuple[pa.Table, Bools]:
    """Campaign emails to subscribers and their reactions, keyed by the email address; and
    which people received any."""
    sends = np.where(population.subscribed, rng.poisson(EMAILS_SENT_PER_SUBSCRIBER), 0)
    person, kind, timestamp = _email_reactions(
        rng, np.repeat(np.arange(population.size), sends), clock
    )
    n = len(person)
    email = population.email.take(person)
    columns = {
        "__profile_id": _concat(f"{EMAIL}:", email),
        "_id": _record_ids(rng, counter.take(_EMAIL_BATCH, n)),
        "timestamp": _timestamps(timestamp),
        "eventType": _vocab(EMAIL_EVENT_TYPES).take(kind),
        "identityMap": _identity_map([_Identity(EMAIL, email, "authenticated", True)]),
    }
    return _table(EVENT_SCHEMA, n, columns), sends > 0


def _email_reactions(
    rng: np.random.Generator, person: Ints, clock: _Clock
) -> tuple[Ints, Ints, Ints]:
    """(person, kind, timestamp) of each send and the opens, clicks, bounces and unsubscribes
    that follow it, ordered by person and time; nothing happens after now."""
    n = len(person)
    sent = _event_times(rng, n, clock)
    opened = rng.random(n) < SHARE_OPENED
    clicked = opened & (rng.random(n) < SHARE_CLICKED)
    bounced = ~opened & (rng.random(n) < SHARE_BOUNCED)
    unsubscribed = opened & (rng.random(n) < SHARE_UNSUBSCRIBED)
    opened_at = sent + (rng.exponential(6 * 60, n) * US_PER_MINUTE).astype(np.int64)
    reacted_at = opened_at + (rng.uniform(0.1, 10, n) * US_PER_MINUTE).astype(np.int64)
    bounced_at = sent + (rng.uniform(0.01, 5, n) * US_PER_MINUTE).astype(np.int64)
    parts = (
        (np.ones(n, dtype=bool), _SENT, sent),
        (opened, _OPENED, opened_at),
        (clicked, _CLICKED, reacted_at),
        (bounced, _BOUNCED, bounced_at),
        (unsubscribed, _UNSUBSCRIBED, reacted_at),
    )
    who = np.concatenate([person[mask] for mask, _, _ in parts])
    kind = np.concatenate([np.full(int(mask.sum()), code) for mask, code, _ in parts])
    at = np.minimum(np.concatenate([times[mask] for mask, _, times in parts]), clock.now_us - 1)
    order = np.lexsort((kind, at, who))
    return who[order], kind[order], at[order]


# --- ground truth ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Owned:
    """Identities of one kind and the people they belong to."""

    person: Ints
    namespace: str
    ids: pa.Array
    graph: pa.Array
    shared: bool = False


def _truth(population: _Population, devices: _Devices, emailed: Bools) -> pa.Table:
    """Every identity that appears in the records, once per person it belongs to, with the
    identity graph the records' links put it in (named by one of its identities: the
    representative customer's CRMID, or the identity itself when nothing links it)."""
    core = _prefixed(CRMID, population.crm_id[population.shared.representative])
    parts = [
        *_customer_identities(population, core),
        _email_identities(population, core, emailed),
        *_device_identities(population, devices, core),
    ]
    person = np.concatenate([part.person for part in parts])
    order = np.argsort(person, kind="stable")
    columns = {
        "person": population.index[person],
        "namespace": np.concatenate([np.full(len(p.person), p.namespace) for p in parts]),
        "id": pa.concat_arrays([part.ids for part in parts]),
        "graph": pa.concat_arrays([part.graph for part in parts]),
        "shared": np.concatenate([np.full(len(p.person), p.shared) for p in parts]),
    }
    return _table(TRUTH_SCHEMA, len(person), columns).take(order)


def _customer_identities(population: _Population, core: pa.Array) -> list[_Owned]:
    owned = []
    for has, chars in (
        (population.crm, population.crm_id),
        (population.second_crm, population.second_crm_id),
    ):
        person = np.flatnonzero(has)
        owned.append(_Owned(person, CRMID, _ascii(chars[person]), core.take(person)))
    return owned


def _email_identities(population: _Population, core: pa.Array, emailed: Bools) -> _Owned:
    """Emails that some record carries; a customer's is linked to their CRMID."""
    appears = population.has_email & (population.crm | population.loyal | emailed)
    person = np.flatnonzero(appears)
    email = population.email.take(person)
    own = _concat(f"{EMAIL}:", email)
    graph = pc.if_else(pa.array(population.crm[person]), core.take(person), own)
    return _Owned(person, EMAIL, email, graph)


def _device_identities(population: _Population, devices: _Devices, core: pa.Array) -> list[_Owned]:
    """Personal ECIDs (linked to their owner's graph when someone logs in on them), and each
    shared ECID once per customer who logs in on it."""
    personal = np.arange(devices.personal)
    owner = devices.owner[personal]
    graph = pc.if_else(
        pa.array(devices.linked), core.take(owner), _prefixed(ECID, devices.ecid[personal])
    )
    shared = population.shared
    ecid = devices.ecid[devices.personal + shared.device]
    return [
        _Owned(owner, ECID, _ascii(devices.ecid[personal]), graph),
        _Owned(shared.user, ECID, _ascii(ecid), core.take(shared.user), shared=True),
    ]


# --- manifest -------------------------------------------------------------------------------------


def _write_manifest(
    out_dir: Path, writer: _PartWriter, people: int, seed: int, clock: _Clock
) -> PeopleResult:
    """The manifest lists every dataset and its batches with a global ingestion ``sequence``;
    it is written last, so its presence means the output is complete."""
    batches = tuple(
        PeopleBatch(
            dataset=dataset,
            batch_id=batch_id,
            sequence=sequence,
            ingested_at=_instant(clock.now_us + sequence * US_PER_MINUTE),
            files=tuple(writer.files[_key(dataset, batch_id)]),
            records=writer.rows[_key(dataset, batch_id)],
        )
        for sequence, (dataset, batch_id) in enumerate(BATCHES, start=1)
    )
    truth_files = tuple(writer.files[TRUTH_DIRECTORY])
    document = {
        "format": MANIFEST_FORMAT,
        "people": people,
        "seed": seed,
        "now": _iso(_instant(clock.now_us)),
        "datasets": [_dataset_entry(dataset, batches, out_dir) for dataset in DATASETS],
        "truth": {
            "directory": TRUTH_DIRECTORY,
            "rows": writer.rows[TRUTH_DIRECTORY],
            "files": [_relative(path, out_dir) for path in truth_files],
        },
    }
    manifest = out_dir / MANIFEST_NAME
    manifest.write_text(json.dumps(document, indent=2) + "\n")
    return PeopleResult(people, manifest, batches, truth_files, writer.rows[TRUTH_DIRECTORY])


def _dataset_entry(
    dataset: PeopleDataset, batches: Sequence[PeopleBatch], out_dir: Path
) -> dict[str, Any]:
    own = [batch for batch in batches if batch.dataset == dataset]
    return {
        "name": dataset.name,
        "class": dataset.schema_name,
        "directory": dataset.directory,
        "primaryNamespace": dataset.primary_namespace,
        "records": sum(batch.records for batch in own),
        "batches": [
            {
                "id": batch.batch_id,
                "sequence": batch.sequence,
                "ingestedAt": _iso(batch.ingested_at),
                "records": batch.records,
                "files": [_relative(path, out_dir) for path in batch.files],
            }
            for batch in own
        ],
    }


def _instant(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _relative(path: Path, out_dir: Path) -> str:
    return path.relative_to(out_dir).as_posix()
