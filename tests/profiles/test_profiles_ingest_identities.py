"""Ingestion rules about identities (xdm.md §1.1, §3): identity fields add their values to the
record's identityMap and a primary one decides the profile id; identityMap namespaces must be
in the org's catalogue. Also: reading batch files where a bad line is a record error, and
events deduplicated by ``_id`` against a dataset's committed files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from segmint.profiles.ingest import (
    CorruptRecord,
    ErrorKind,
    IdentityDescriptor,
    IngestError,
    IngestRules,
    check_file,
    descriptor_problems,
    read_batch_file,
    stage_batch,
    validate_record,
    write_batch,
)
from segmint.profiles.namespaces import IdentityType, Namespace, NamespaceCatalog
from segmint.xdm import DEFAULT_SCHEMA, event_schema

ECID = "12345678901234567890123456789012345678"
EMAIL = IdentityDescriptor("personalEmail.address", "Email", primary=True)
PHONE = IdentityDescriptor("mobilePhone.number", "Phone")
CATALOG = NamespaceCatalog()


def write_one(record: dict[str, Any], out: Path, rules: IngestRules) -> dict[str, Any]:
    result = write_batch([record], kind="profile", schema=DEFAULT_SCHEMA, out_dir=out, rules=rules)
    assert result.errors == [], result.errors
    [row] = pq.read_table(result.files[0]).to_pylist()
    row["identityMap"] = dict(row["identityMap"])
    return dict(row)


def errors_of(record: Any, rules: IngestRules, kind: str = "profile") -> list[tuple[str, str]]:
    obj = DEFAULT_SCHEMA.profile if kind == "profile" else DEFAULT_SCHEMA.event
    return [(e.field, e.reason) for e in validate_record(record, obj, rules=rules)]


# --- identity fields ---------------------------------------------------------------------------


def test_a_primary_identity_field_decides_the_profile_id(tmp_path: Path) -> None:
    record = {"personalEmail": {"address": "jane@example.com"}}
    row = write_one(record, tmp_path / "b", IngestRules((EMAIL,), CATALOG))
    assert row["__profile_id"] == "Email:jane@example.com"
    assert row["identityMap"] == {
        "Email": [{"id": "jane@example.com", "authenticatedState": None, "primary": True}]
    }
    assert row["personalEmail"]["address"] == "jane@example.com"


def test_the_primary_identity_field_wins_over_identity_map_flags(tmp_path: Path) -> None:
    record = {
        "identityMap": {"ECID": [{"id": ECID, "primary": True}]},
        "personalEmail": {"address": "jane@example.com"},
    }
    row = write_one(record, tmp_path / "b", IngestRules((EMAIL,), CATALOG))
    assert row["__profile_id"] == "Email:jane@example.com"
    assert [item["primary"] for item in row["identityMap"]["ECID"]] == [False]


def test_other_identity_fields_are_added_but_do_not_decide(tmp_path: Path) -> None:
    record = {
        "identityMap": {"ECID": [{"id": ECID}]},
        "mobilePhone": {"number": "+15555550100"},
    }
    row = write_one(record, tmp_path / "b", IngestRules((PHONE,), CATALOG))
    assert row["__profile_id"] == f"ECID:{ECID}"
    assert row["identityMap"]["Phone"] == [
        {"id": "+15555550100", "authenticatedState": None, "primary": False}
    ]


def test_an_identity_already_in_the_map_is_not_repeated(tmp_path: Path) -> None:
    record = {
        "identityMap": {
            "Email": [{"id": "jane@example.com", "authenticatedState": "authenticated"}]
        },
        "personalEmail": {"address": "jane@example.com"},
    }
    row = write_one(record, tmp_path / "b", IngestRules((EMAIL,), CATALOG))
    assert row["identityMap"]["Email"] == [
        {"id": "jane@example.com", "authenticatedState": "authenticated", "primary": True}
    ]


def test_the_record_itself_is_not_changed() -> None:
    record = {"identityMap": {"ECID": [{"id": ECID, "primary": True}]}}
    rules = IngestRules((IdentityDescriptor("personalEmail.address", "Email", True),), CATALOG)
    validate_record(
        {**record, "personalEmail": {"address": "a@b.c"}}, DEFAULT_SCHEMA.profile, rules=rules
    )
    assert record == {"identityMap": {"ECID": [{"id": ECID, "primary": True}]}}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            {"identityMap": {"ECID": [{"id": ECID}]}},
            [("personalEmail.address", "primary identity field is missing")],
        ),
        ({"personalEmail": {}}, [("personalEmail.address", "primary identity field is missing")]),
        (
            {"personalEmail": {"address": ""}},
            [("personalEmail.address", "an identity needs a non-empty id")],
        ),
        (
            {"personalEmail": {"address": 7}},
            [("personalEmail.address", "expected string, got integer")],
        ),
        (
            {"personalEmail": {"address": "x" * 1025}},
            [("personalEmail.address", "identity longer than 1024 characters")],
        ),
    ],
)
def test_identity_field_errors_name_the_field(
    record: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    found = errors_of(record, IngestRules((EMAIL,), CATALOG))
    assert found[: len(expected)] == expected
    assert all(field.startswith("personalEmail") for field, _ in found), found


def test_an_ecid_identity_field_must_be_38_digits() -> None:
    ecid_field = IdentityDescriptor("personID", "ECID", primary=True)
    assert errors_of({"personID": "123"}, IngestRules((ecid_field,), CATALOG)) == [
        ("personID", "ECID values must be exactly 38 digits")
    ]


def test_a_missing_identity_field_that_is_not_primary_is_fine(tmp_path: Path) -> None:
    record = {"identityMap": {"ECID": [{"id": ECID}]}}
    row = write_one(record, tmp_path / "b", IngestRules((PHONE,), CATALOG))
    assert row["identityMap"] == {
        "ECID": [{"id": ECID, "authenticatedState": None, "primary": None}]
    }


def test_events_take_identity_fields_too(tmp_path: Path) -> None:
    rules = IngestRules((IdentityDescriptor("_id", "CRMID", primary=True),), CATALOG)
    records = [{"_id": "c-1", "timestamp": "2024-05-01T00:00:00Z"}]
    result = write_batch(
        records, kind="event", schema=DEFAULT_SCHEMA, out_dir=tmp_path / "b", rules=rules
    )
    assert pq.read_table(result.files[0])["__profile_id"].to_pylist() == ["CRMID:c-1"]


@pytest.mark.parametrize(
    ("descriptors", "problem"),
    [
        ((IdentityDescriptor("personalEmail", "Email"),), "personalEmail: not a string field"),
        (
            (IdentityDescriptor("person.birthYear", "Email"),),
            "person.birthYear: not a string field",
        ),
        ((IdentityDescriptor("nope.address", "Email"),), "nope.address: not a string field"),
        ((IdentityDescriptor("personalEmail.address", "Loyalty"),), "unknown identity namespace"),
        ((EMAIL, IdentityDescriptor("mobilePhone.number", "Phone", True)), "at most one"),
        ((PHONE, PHONE), "mobilePhone.number: described twice"),
    ],
)
def test_descriptor_problems(descriptors: tuple[IdentityDescriptor, ...], problem: str) -> None:
    problems = descriptor_problems(descriptors, DEFAULT_SCHEMA.profile, CATALOG)
    assert any(problem in p for p in problems), problems


def test_good_descriptors_have_no_problems() -> None:
    assert descriptor_problems((EMAIL, PHONE), DEFAULT_SCHEMA.profile, CATALOG) == []


# --- namespaces --------------------------------------------------------------------------------


def test_identity_map_namespaces_must_be_in_the_catalogue() -> None:
    record = {"identityMap": {"Loyalty": [{"id": "L1"}], "ECID": [{"id": ECID}]}}
    assert errors_of(record, IngestRules(namespaces=CATALOG)) == [
        ("identityMap.Loyalty", "unknown identity namespace 'Loyalty'")
    ]
    loyalty = Namespace(10_000_000, "Loyalty", "Loyalty", IdentityType.CROSS_DEVICE, custom=True)
    assert errors_of(record, IngestRules(namespaces=NamespaceCatalog([loyalty]))) == []
    assert errors_of(record, IngestRules()) == []  # no catalogue: codes are not checked


def test_namespace_codes_are_case_sensitive_with_a_hint() -> None:
    [(field, reason)] = errors_of(
        {"identityMap": {"ecid": [{"id": ECID}]}}, IngestRules(namespaces=CATALOG)
    )
    assert field == "identityMap.ecid"
    assert reason == (
        "unknown identity namespace 'ecid' (namespace codes are case-sensitive: "
        "did you mean 'ECID'?)"
    )


def test_record_errors_carry_their_kind() -> None:
    obj = DEFAULT_SCHEMA.event
    errors = validate_record(
        {"nickname": 1, "identityMap": {"X": [{"id": "1"}]}},
        obj,
        rules=IngestRules(namespaces=CATALOG),
    )
    kinds = {e.field: e.kind for e in errors}
    assert kinds == {
        "nickname": ErrorKind.UNKNOWN_FIELD,
        "_id": ErrorKind.MISSING,
        "timestamp": ErrorKind.MISSING,
        "identityMap.X": ErrorKind.IDENTITY,
    }


# --- reading batch files -----------------------------------------------------------------------


def test_a_bad_line_is_a_corrupt_record_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    path.write_bytes(b'{"_id": "a"}\n{"_id": \n\n[1]\n\xff\n{"_id": "b"}\n')
    rows = list(read_batch_file(path))
    assert rows[0] == {"_id": "a"} and rows[-1] == {"_id": "b"}
    assert [type(r) for r in rows[1:4]] == [CorruptRecord] * 3
    assert rows[1].reason.startswith("line 2: malformed JSON")
    assert rows[2].reason == "line 4: expected a JSON object, got array"
    assert rows[3].reason.startswith("line 5: not UTF-8 text")


def test_a_json_file_may_hold_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"_id": "a"}\n{"_id": "b"}\n')
    assert list(read_batch_file(path)) == [{"_id": "a"}, {"_id": "b"}]
    path.write_text('{\n  "_id": "a"\n}\n')
    assert list(read_batch_file(path)) == [{"_id": "a"}]
    path.write_text('[{"_id": "a"}, 5]')
    assert list(read_batch_file(path)) == [{"_id": "a"}, 5]


def test_corrupt_records_fail_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    path.write_text(json.dumps({"_id": "a", "identityMap": {"ECID": [{"id": ECID}]}}) + "\n{oops\n")
    result = write_batch(
        read_batch_file(path), kind="profile", schema=DEFAULT_SCHEMA, out_dir=tmp_path / "b"
    )
    assert (result.records_read, result.records_written, result.records_failed) == (2, 1, 1)
    [error] = result.errors
    assert (error.row, error.field, error.kind) == (1, "", ErrorKind.CORRUPT)
    assert error.reason.startswith("line 2: malformed JSON")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", b"a,b", "unsupported file type '.csv'"),
        ("a.parquet", b"nope", "cannot read Parquet"),
        ("a.json", b'[{"_id": 1},\n{]', "malformed JSON"),
        ("a.json", b"[\xff]", "UTF-8"),
    ],
)
def test_files_that_cannot_be_read_at_all(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        check_file(path)


def test_json_lines_with_bad_lines_pass_the_file_check(tmp_path: Path) -> None:
    for name in ("a.ndjson", "a.json"):
        path = tmp_path / name
        path.write_text('{"_id": "a"}\n{oops\n')
        check_file(path)


# --- events: unique by _id in their dataset ----------------------------------------------------


def event(_id: str, **fields: Any) -> dict[str, Any]:
    base = {
        "_id": _id,
        "timestamp": "2024-05-01T10:00:00Z",
        "identityMap": {"ECID": [{"id": ECID}]},
    }
    return {**base, **fields}


def test_events_already_committed_are_dropped(tmp_path: Path) -> None:
    first = write_batch(
        [event("e1"), event("e2")], kind="event", schema=DEFAULT_SCHEMA, out_dir=tmp_path / "b1"
    )
    second = write_batch(
        [event("e2", eventType="again"), event("e3"), event("e3"), event("e1")],
        kind="event",
        schema=DEFAULT_SCHEMA,
        out_dir=tmp_path / "b2",
        committed_files=first.files,
        rows_per_file=1,
    )
    assert (second.records_read, second.records_written, second.duplicates) == (4, 1, 3)
    assert [p.name for p in second.files] == ["part-00001.parquet"]
    assert pq.read_schema(second.files[0]).equals(event_schema(DEFAULT_SCHEMA))
    relation = duckdb.sql(f"select _id, eventType from read_parquet('{tmp_path}/b2/*.parquet')")
    assert relation is not None
    assert relation.fetchall() == [("e3", None)]


def test_a_batch_of_nothing_but_known_events_writes_nothing(tmp_path: Path) -> None:
    first = write_batch([event("e1")], kind="event", schema=DEFAULT_SCHEMA, out_dir=tmp_path / "b1")
    again = write_batch(
        [event("e1")],
        kind="event",
        schema=DEFAULT_SCHEMA,
        out_dir=tmp_path / "b2",
        committed_files=first.files,
    )
    assert (again.records_written, again.duplicates, again.files) == (0, 1, ())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b1"]


def test_first_occurrence_in_a_batch_wins_across_part_files(tmp_path: Path) -> None:
    records = [event(f"e{i % 3}", eventType=f"t{i}") for i in range(7)]
    result = write_batch(
        records, kind="event", schema=DEFAULT_SCHEMA, out_dir=tmp_path / "b", rows_per_file=2
    )
    assert (result.records_written, result.duplicates) == (3, 4)
    relation = duckdb.sql(
        f"select _id, eventType from read_parquet('{tmp_path}/b/*.parquet') order by _id"
    )
    assert relation is not None
    assert relation.fetchall() == [("e0", "t0"), ("e1", "t1"), ("e2", "t2")]


def test_a_staged_batch_is_invisible_until_committed(tmp_path: Path) -> None:
    out = tmp_path / "batch"
    staged = stage_batch([event("e1")], kind="event", schema=DEFAULT_SCHEMA, out_dir=out)
    assert not out.exists()
    assert [p.name.startswith(".staging-") for p in tmp_path.iterdir()] == [True]
    staged.discard()
    assert list(tmp_path.iterdir()) == []


def test_kept_errors_are_bounded_but_every_failure_is_counted(tmp_path: Path) -> None:
    records = [{"nickname": i} for i in range(50)]
    staged = stage_batch(
        records, kind="profile", schema=DEFAULT_SCHEMA, out_dir=tmp_path / "b", max_errors=10
    )
    result = staged.result
    assert (result.records_failed, len(result.errors)) == (50, 10)
    assert result.failed_by_kind == {ErrorKind.UNKNOWN_FIELD: 50, ErrorKind.IDENTITY: 50}
    staged.discard()
