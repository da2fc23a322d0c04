import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segmint.pql.types import INTEGER, STRING, ObjectType
from segmint.profiles import (
    IngestError,
    RecordError,
    generate,
    primary_identity,
    read_records,
    validate_record,
    write_batch,
)
from segmint.xdm import DEFAULT_SCHEMA, build_schema, event_schema, profile_schema

ECID = "12345678901234567890123456789012345678"
ECID2 = "98765432109876543210987654321098765432"


def profile(**fields: Any) -> dict[str, Any]:
    return {"identityMap": {"ECID": [{"id": ECID, "primary": True}]}, **fields}


def event(_id: str = "e1", **fields: Any) -> dict[str, Any]:
    return {"_id": _id, "timestamp": "2024-05-01T10:00:00Z", **profile(**fields)}


def rows(sql: str) -> list[tuple[Any, ...]]:
    relation = duckdb.sql(sql)
    assert relation is not None
    return relation.fetchall()


# --- reading -------------------------------------------------------------------------------


def test_json_array_and_single_object(tmp_path: Path) -> None:
    many, one = tmp_path / "many.json", tmp_path / "one.JSON"
    many.write_text(json.dumps([profile(_id="a"), profile(_id="b")]))
    one.write_text(json.dumps(profile(_id="c")))
    assert [r["_id"] for r in read_records(many)] == ["a", "b"]
    assert [r["_id"] for r in read_records(one)] == ["c"]


@pytest.mark.parametrize("suffix", [".ndjson", ".jsonl"])
def test_ndjson_one_object_per_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"records{suffix}"
    path.write_text(f"{json.dumps(profile(_id='a'))}\n\n  \n{json.dumps(profile(_id='b'))}\n")
    assert [r["_id"] for r in read_records(path)] == ["a", "b"]


def test_parquet_rows_as_dicts_with_maps_as_dicts_and_nulls_left_out(tmp_path: Path) -> None:
    identity_map = profile_schema(DEFAULT_SCHEMA).field("identityMap").type
    schema = pa.schema(
        [
            pa.field("__profile_id", pa.string()),
            pa.field("_id", pa.string()),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("identityMap", identity_map),
            pa.field("when", pa.timestamp("ms", tz="UTC")),
        ]
    )
    rows = [
        {
            "__profile_id": "ECID:x",
            "_id": "a",
            "tags": ["t", None],
            "identityMap": [("ECID", [{"id": ECID, "primary": True}]), ("Email", [])],
            "when": datetime(2024, 5, 1, tzinfo=UTC),
        },
        {"_id": None, "tags": [], "identityMap": None},
        {"_id": "c", "tags": None, "identityMap": [("Email", None)]},
    ]
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    assert list(read_records(path)) == [
        {
            "_id": "a",
            "tags": ["t", None],
            "identityMap": {"ECID": [{"id": ECID, "primary": True}], "Email": []},
            "when": datetime(2024, 5, 1, tzinfo=UTC),
        },
        {"tags": []},
        {"_id": "c", "identityMap": {"Email": None}},
    ]


def test_byte_order_marks_are_accepted(tmp_path: Path) -> None:
    for name in ("bom.json", "bom.ndjson"):
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + json.dumps({"_id": "a"}).encode())
        assert list(read_records(tmp_path / name)) == [{"_id": "a"}]


def test_parquet_with_only_the_profile_id_column(tmp_path: Path) -> None:
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"__profile_id": ["ECID:1", "ECID:2"]}), path)
    assert list(read_records(path)) == [{}, {}]


def test_malformed_json_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"_id": "a"},\n  {"_id": }\n]')
    with pytest.raises(IngestError, match=r"bad\.json:3: malformed JSON") as caught:
        list(read_records(path))
    assert caught.value.line == 3


def test_malformed_ndjson_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text('{"_id": "a"}\n\n{"_id": "b",}\n')
    records = read_records(path)
    assert next(records) == {"_id": "a"}
    with pytest.raises(IngestError) as caught:
        next(records)
    assert caught.value.line == 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("scalar.ndjson", '{"_id": "a"}\n[1]\n', "line is not a JSON object"),
        ("nan.ndjson", '{"x": NaN}\n', "NaN is not valid JSON"),
        ("scalar.json", "42", "must be an object or an array of objects"),
        ("items.json", '[{"_id": "a"}, 3]', "item 1 of the JSON array is not an object"),
        ("latin1.json", b'{"city": "M\xfcnchen"}', "cannot read as UTF-8"),
        ("latin1.ndjson", b'{"a": 1}\n{"city": "M\xfcnchen"}\n', r"latin1\.ndjson:2: not UTF-8"),
        ("notes.txt", "{}", "unsupported file type '.txt'"),
        ("broken.parquet", "not parquet", "cannot read Parquet"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(IngestError, match=message):
        list(read_records(path))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        read_records(tmp_path / "absent.json")


# --- validation ----------------------------------------------------------------------------


def errors_of(record: Mapping[str, Any], kind: str = "profile") -> list[tuple[str, str]]:
    obj = DEFAULT_SCHEMA.profile if kind == "profile" else DEFAULT_SCHEMA.event
    found = validate_record(record, obj, row=7)
    assert all(e.row == 7 for e in found)
    return [(e.field, e.reason) for e in found]


def test_a_valid_profile_and_event_have_no_errors() -> None:
    assert (
        errors_of(
            profile(
                _id="p1",
                person={
                    "name": {"firstName": "Jane"},
                    "birthDate": "1980-02-29",
                    "birthYear": 1980,
                },
                homeAddress={"city": "San Jose", "countryCode": "US"},
                loyalty={
                    "points": 120.0,
                    "lifetimePurchases": 10,
                    "loyaltyID": ["L1"],
                    "joinDate": 1714557600000,
                },
                segmentMembership={
                    "ups": {
                        "seg-1": {
                            "status": "realized",
                            "lastQualificationTime": "2024-05-01T04:12:00Z",
                        }
                    }
                },
            )
        )
        == []
    )
    assert errors_of(event(commerce={"order": {"priceTotal": 159}}, eventType="x"), "event") == []


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"nickname": "x"}, "nickname", "unknown field"),
        ({"homeAddress": {"town": "x"}}, "homeAddress.town", "unknown field"),
        ({"_acme": {"score": 1}}, "_acme", "unknown tenant field group"),
        ({"homeAddress": {"city": 3}}, "homeAddress.city", "expected string, got integer"),
        ({"person": {"birthYear": "1980"}}, "person.birthYear", "expected integer, got string"),
        ({"person": {"birthYear": 1980.5}}, "person.birthYear", "expected integer, got number"),
        ({"person": {"birthYear": True}}, "person.birthYear", "expected integer, got boolean"),
        ({"loyalty": {"points": 2**63}}, "loyalty.points", "out of the 64-bit range"),
        (
            {"loyalty": {"lifetimePurchases": "9"}},
            "loyalty.lifetimePurchases",
            "expected number, got string",
        ),
        (
            {"loyalty": {"lifetimePurchases": float("inf")}},
            "loyalty.lifetimePurchases",
            "must be finite",
        ),
        ({"homeAddress": {"primary": "yes"}}, "homeAddress.primary", "expected boolean"),
        ({"person": "Jane"}, "person", "expected object, got string"),
        ({"loyalty": {"loyaltyID": "L1"}}, "loyalty.loyaltyID", "expected array, got string"),
        ({"loyalty": {"loyaltyID": ["L1", 2]}}, "loyalty.loyaltyID[1]", "expected string"),
        ({"segmentMembership": ["ups"]}, "segmentMembership", "expected map"),
        (
            {"segmentMembership": {"ups": {"s1": {"status": 1}}}},
            "segmentMembership.ups.s1.status",
            "expected string, got integer",
        ),
        ({"person": {"birthDate": "1980-13-01"}}, "person.birthDate", "not a valid date"),
        ({"person": {"birthDate": "01/02/1980"}}, "person.birthDate", "YYYY-MM-DD"),
        ({"person": {"birthDate": 19800101}}, "person.birthDate", "expected date"),
        ({"loyalty": {"joinDate": "yesterday"}}, "loyalty.joinDate", "not an ISO-8601 date-time"),
        ({"loyalty": {"joinDate": "2024-05-01"}}, "loyalty.joinDate", "not an ISO-8601 date-time"),
        (
            {"loyalty": {"joinDate": "2024-02-30T10:00:00Z"}},
            "loyalty.joinDate",
            "not a valid date-time",
        ),
        ({"loyalty": {"joinDate": 10**20}}, "loyalty.joinDate", "epoch milliseconds out of range"),
        ({"loyalty": {"joinDate": False}}, "loyalty.joinDate", "expected ISO-8601 date-time"),
    ],
)
def test_field_errors(fields: dict[str, Any], field: str, reason: str) -> None:
    found = errors_of(profile(**fields))
    assert len(found) == 1, found
    assert found[0][0] == field
    assert reason in found[0][1]


def test_tenant_fields_in_the_schema_are_checked_too() -> None:
    schema = build_schema({"_acme": ObjectType("Acme", {"score": INTEGER, "tier": STRING})})
    assert validate_record(profile(_acme={"score": 3}), schema.profile) == []
    found = validate_record(profile(_acme={"score": "3", "other": 1}), schema.profile)
    assert [(e.field, e.reason) for e in found] == [
        ("_acme.score", "expected integer, got string"),
        ("_acme.other", "unknown field"),
    ]


def test_events_require_id_and_timestamp() -> None:
    record = profile(eventType="web.webpagedetails.pageViews")
    assert errors_of(record, "event") == [
        ("_id", "required field is missing"),
        ("timestamp", "required field is missing"),
    ]
    assert errors_of(event(_id=""), "event") == [("_id", "must not be empty")]


@pytest.mark.parametrize(
    ("identity_map", "field", "reason"),
    [
        (None, "identityMap", "no identity"),
        ({}, "identityMap", "no identity"),
        ({"Email": []}, "identityMap", "no identity"),
        ({"ECID": [{"id": "123"}]}, "identityMap.ECID[0].id", "exactly 38 digits"),
        ({"Email": [{"id": ""}]}, "identityMap.Email[0].id", "non-empty id"),
        ({"Email": [{"primary": True}]}, "identityMap.Email[0].id", "non-empty id"),
        ({"Email": [{"id": "x" * 1025}]}, "identityMap.Email[0].id", "longer than 1024"),
        (
            {"Email": [{"id": "a@b.c", "authenticatedState": "yes"}]},
            "identityMap.Email[0].authenticatedState",
            "must be one of",
        ),
        (
            {"Email": [{"id": "a@b.c", "primary": True}], "Phone": [{"id": "1", "primary": True}]},
            "identityMap",
            "more than one primary identity: Email[0], Phone[0]",
        ),
        (
            {"Email": [{"id": f"{i}@b.c"} for i in range(21)]},
            "identityMap",
            "more than 20 identities",
        ),
        ({"Email": {"id": "a@b.c"}}, "identityMap.Email", "expected array, got object"),
    ],
)
def test_identity_errors(identity_map: Any, field: str, reason: str) -> None:
    found = errors_of({"identityMap": identity_map})
    assert len(found) == 1, found
    assert found[0][0] == field
    assert reason in found[0][1]


@pytest.mark.parametrize(
    ("identity_map", "expected"),
    [
        ({"ECID": [{"id": ECID}], "Email": [{"id": "a@b.c", "primary": True}]}, "Email:a@b.c"),
        ({"Email": [{"id": "a@b.c"}], "ECID": [{"id": ECID}]}, "Email:a@b.c"),
        ({"CRMID": [], "ECID": [{"id": ECID}, {"id": ECID2}]}, f"ECID:{ECID}"),
        (
            {"ECID": [{"id": ECID, "primary": False}, {"id": ECID2, "primary": True}]},
            f"ECID:{ECID2}",
        ),
        ({}, None),
    ],
)
def test_primary_identity(identity_map: dict[str, Any], expected: str | None) -> None:
    assert primary_identity({"identityMap": identity_map}) == expected


# --- writing -------------------------------------------------------------------------------


def test_valid_records_are_written_in_the_lake_layout(tmp_path: Path) -> None:
    out = tmp_path / "batch"
    records = [
        profile(
            _id="p1",
            person={"birthDate": "1980-02-29", "name": {"firstName": "Jane"}},
            homeAddress={"city": "San Jose", "stateProvince": "US-CA"},
            extSourceSystemAudit={"lastUpdatedDate": "2024-05-01T12:00:00+02:00"},
            loyalty={"points": 5.0, "joinDate": 0},
        ),
        {"identityMap": {"Email": [{"id": "jane@example.com"}]}, "homeAddress": {"city": 1}},
        {"identityMap": {"Email": [{"id": "bob@example.com"}]}, "workAddress": {"city": "Paris"}},
    ]
    result = write_batch(records, kind="profile", schema=DEFAULT_SCHEMA, out_dir=out)
    assert (result.records_read, result.records_written, result.committed) == (3, 2, True)
    assert result.errors == [RecordError(1, "homeAddress.city", "expected string, got integer")]
    assert result.files == (out / "part-00000.parquet",)
    assert pq.read_schema(result.files[0]).equals(profile_schema(DEFAULT_SCHEMA))
    assert rows(f"""
        select __profile_id, _id, homeAddress.city, person.birthDate, person.name.firstName,
               extSourceSystemAudit.lastUpdatedDate, loyalty.points, loyalty.joinDate,
               identityMap['ECID'][1].id, workAddress.city
        from read_parquet('{out}/*.parquet') order by __profile_id
    """) == [
        (
            f"ECID:{ECID}",
            "p1",
            "San Jose",
            date(1980, 2, 29),
            "Jane",
            datetime(2024, 5, 1, 10, 0),
            5,
            datetime(1970, 1, 1),
            ECID,
            None,
        ),
        ("Email:bob@example.com", None, None, None, None, None, None, None, None, "Paris"),
    ]


def test_tenant_fields_are_written(tmp_path: Path) -> None:
    schema = build_schema({"_acme": ObjectType("Acme", {"score": INTEGER})})
    out = tmp_path / "batch"
    write_batch([profile(_acme={"score": 7})], kind="profile", schema=schema, out_dir=out)
    assert rows(f"select _acme.score from read_parquet('{out}/*.parquet')") == [(7,)]


def test_rows_are_split_into_files(tmp_path: Path) -> None:
    records = [event(f"e{i}") for i in range(5)]
    result = write_batch(
        records, kind="event", schema=DEFAULT_SCHEMA, out_dir=tmp_path / "b", rows_per_file=2
    )
    assert [p.name for p in result.files] == [f"part-{i:05d}.parquet" for i in range(3)]
    assert [pq.read_metadata(p).num_rows for p in result.files] == [2, 2, 1]
    assert all(pq.read_schema(p).equals(event_schema(DEFAULT_SCHEMA)) for p in result.files)


def test_duplicate_event_ids_are_written_once(tmp_path: Path) -> None:
    records = [event("e1", eventType="first"), event("e2"), event("e1", eventType="second")]
    out = tmp_path / "b"
    result = write_batch(records, kind="event", schema=DEFAULT_SCHEMA, out_dir=out)
    assert (result.records_read, result.records_written, result.duplicates) == (3, 2, 1)
    assert result.errors == []
    assert rows(f"select _id, eventType from read_parquet('{out}/*.parquet') order by _id") == [
        ("e1", "first"),
        ("e2", None),
    ]


def test_profiles_are_not_deduplicated(tmp_path: Path) -> None:
    result = write_batch(
        [profile(_id="a"), profile(_id="a")],
        kind="profile",
        schema=DEFAULT_SCHEMA,
        out_dir=tmp_path / "b",
    )
    assert (result.records_written, result.duplicates) == (2, 0)


def test_nothing_appears_when_every_record_is_invalid(tmp_path: Path) -> None:
    out = tmp_path / "batch"
    records: list[Any] = [{"nickname": "x"}, ["not", "an", "object"]]
    result = write_batch(
        records,
        kind="profile",
        schema=DEFAULT_SCHEMA,
        out_dir=out,
    )
    assert (result.records_read, result.records_written, result.files) == (2, 0, ())
    assert not result.committed
    assert ("", "record must be an object, got array") in [
        (e.field, e.reason) for e in result.errors
    ]
    assert {e.row for e in result.errors} == {0, 1}
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_failure_midway_leaves_nothing_behind(tmp_path: Path) -> None:
    def records() -> Iterator[dict[str, Any]]:
        yield event("e1")
        yield event("e2")
        raise RuntimeError("source went away")

    out = tmp_path / "batch"
    with pytest.raises(RuntimeError, match="source went away"):
        write_batch(records(), kind="event", schema=DEFAULT_SCHEMA, out_dir=out, rows_per_file=1)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_batch_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "batch"
    out.mkdir()
    with pytest.raises(FileExistsError):
        write_batch([profile()], kind="profile", schema=DEFAULT_SCHEMA, out_dir=out)
    assert list(tmp_path.iterdir()) == [out]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind"):
        write_batch(
            [],
            kind="segment",  # type: ignore[arg-type]
            schema=DEFAULT_SCHEMA,
            out_dir=tmp_path / "b",
        )
    with pytest.raises(ValueError, match="rows_per_file"):
        write_batch(
            [], kind="event", schema=DEFAULT_SCHEMA, out_dir=tmp_path / "b", rows_per_file=0
        )


def test_every_format_round_trips(tmp_path: Path) -> None:
    records = [
        event(
            "e1",
            eventType="commerce.purchases",
            commerce={
                "order": {"priceTotal": 10.5, "currencyCode": "EUR"},
                "purchases": {"value": 1},
            },
            productListItems=[{"SKU": "S1", "quantity": 2, "productCategories": ["a"]}],
        ),
        event("e2", timestamp="2024-05-02T00:00:00.250-05:00"),
    ]
    (tmp_path / "in.json").write_text(json.dumps(records))
    (tmp_path / "in.ndjson").write_text("\n".join(json.dumps(r) for r in records))
    first = write_batch(
        read_records(tmp_path / "in.json"),
        kind="event",
        schema=DEFAULT_SCHEMA,
        out_dir=tmp_path / "from-json",
    )
    from_ndjson = write_batch(
        read_records(tmp_path / "in.ndjson"),
        kind="event",
        schema=DEFAULT_SCHEMA,
        out_dir=tmp_path / "from-ndjson",
    )
    from_parquet = write_batch(
        read_records(first.files[0]),
        kind="event",
        schema=DEFAULT_SCHEMA,
        out_dir=tmp_path / "from-parquet",
    )
    expected = pq.read_table(first.files[0])
    assert pq.read_table(from_ndjson.files[0]).equals(expected)
    assert pq.read_table(from_parquet.files[0]).equals(expected)
    assert rows(f"""
        select timestamp, commerce.order.priceTotal, productListItems[1].quantity,
               productListItems[1].productCategories
        from read_parquet('{first.files[0]}') order by _id
    """) == [
        (datetime(2024, 5, 1, 10, 0), 10.5, 2, ["a"]),
        (datetime(2024, 5, 2, 5, 0, 0, 250_000), None, None, None),
    ]


def test_generated_data_is_valid_and_round_trips(tmp_path: Path) -> None:
    generated = generate(tmp_path / "gen", profiles=200, now=datetime(2025, 6, 30), seed=3)
    for kind, source in (
        ("profile", generated.profile_files[0]),
        ("event", generated.event_files[0]),
    ):
        result = write_batch(
            read_records(source),
            kind=kind,  # type: ignore[arg-type]
            schema=DEFAULT_SCHEMA,
            out_dir=tmp_path / kind,
        )
        assert result.errors == []
        assert pq.read_table(result.files[0]).equals(pq.read_table(source))
