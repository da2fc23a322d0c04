"""Loading users' XDM data: reading JSON, NDJSON and Parquet records, checking each against the
schema's type tree and identity rules, and writing the valid ones in the lake's Arrow layout as
one atomically committed batch.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from segmint.pql.types import (
    ArrayType,
    MapType,
    ObjectType,
    PQLType,
    ScalarKind,
    ScalarType,
    Schema,
)
from segmint.profiles.lake import commit, discard, staging_dir
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_ID_COLUMN, event_schema, profile_schema

JSON_SUFFIXES = (".json",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
PARQUET_SUFFIXES = (".parquet",)

# Fields a class requires (xdm.md §2: an ExperienceEvent needs `_id` and `timestamp`).
REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {EXPERIENCE_EVENT_CLASS: ("_id", "timestamp")}
AUTHENTICATED_STATES = ("ambiguous", "authenticated", "loggedOut")
MAX_IDENTITIES_PER_RECORD = 20  # xdm.md §3
MAX_IDENTITY_LENGTH = 1024
ECID_NAMESPACE = "ECID"

_INT64 = (-(2**63), 2**63 - 1)
_EPOCH = datetime(1970, 1, 1)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?"
)
_ECID = re.compile(r"\d{38}")


class IngestError(Exception):
    """A file cannot be read as XDM records: unknown format, unreadable, or malformed JSON."""

    def __init__(self, message: str, *, path: Path | None = None, line: int | None = None) -> None:
        where = "" if path is None else f"{path}:" if line is None else f"{path}:{line}:"
        super().__init__(f"{where} {message}" if where else message)
        self.path = path
        self.line = line


@dataclass(frozen=True)
class RecordError:
    """One problem with one record: ``row`` is its 0-based position in the input, ``field``
    the path of the faulty field (``homeAddress.city``, ``identityMap.ECID[0].id``; empty for
    the whole record)."""

    row: int
    field: str
    reason: str


@dataclass(frozen=True)
class BatchResult:
    """What ``write_batch`` did. ``files`` is empty when no record was valid (nothing was
    written); ``duplicates`` counts events dropped for repeating an ``_id`` of the batch."""

    records_read: int
    records_written: int
    errors: list[RecordError] = field(default_factory=list)
    files: tuple[Path, ...] = ()
    duplicates: int = 0

    @property
    def committed(self) -> bool:
        return bool(self.files)


# --- reading -------------------------------------------------------------------------------


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a ``.json`` (array or single object), ``.ndjson``/``.jsonl`` (one object
    per line) or ``.parquet`` file. Raises IngestError for other files and malformed JSON."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in JSON_SUFFIXES + NDJSON_SUFFIXES + PARQUET_SUFFIXES:
        raise IngestError(
            f"unsupported file type {suffix or '(none)'!r}: use .json, .ndjson, .jsonl or .parquet",
            path=path,
        )
    if not path.is_file():
        raise IngestError("no such file", path=path)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path)
    if suffix in NDJSON_SUFFIXES:
        return _read_ndjson(path)
    return _read_json(path)


def _read_json(path: Path) -> Iterator[dict[str, Any]]:
    document = _parse_json(_read_text(path), path, first_line=1)
    if isinstance(document, dict):
        yield document
        return
    if not isinstance(document, list):
        raise IngestError("a JSON document must be an object or an array of objects", path=path)
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            raise IngestError(f"item {index} of the JSON array is not an object", path=path)
        yield item


def _read_ndjson(path: Path) -> Iterator[dict[str, Any]]:
    """Streamed line by line, so files of any size are read in bounded memory."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            line = _decode_line(raw, path, number)
            if not line.strip():
                continue
            item = _parse_json(line, path, first_line=number)
            if not isinstance(item, dict):
                raise IngestError("line is not a JSON object", path=path, line=number)
            yield item


def _decode_line(raw: bytes, path: Path, number: int) -> str:
    try:
        return raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"not UTF-8 text: {exc}", path=path, line=number) from exc


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"cannot read as UTF-8 text: {exc}", path=path) from exc


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(text: str, path: Path, *, first_line: int) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        line = first_line + exc.lineno - 1
        message = f"malformed JSON: {exc.msg} (column {exc.colno})"
        raise IngestError(message, path=path, line=line) from exc
    except ValueError as exc:
        raise IngestError(f"malformed JSON: {exc}", path=path, line=first_line) from exc


def _read_parquet(path: Path) -> Iterator[dict[str, Any]]:
    """Rows as dicts, maps as dicts, null fields left out. ``__profile_id`` is dropped: it is
    derived on ingestion."""
    try:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=10_000):
            columns = [c for c in batch.schema.names if c != PROFILE_ID_COLUMN]
            if not columns:
                yield from ({} for _ in range(batch.num_rows))
                continue
            yield from _python_values(
                pa.StructArray.from_arrays([batch.column(c) for c in columns], names=columns)
            )
    except (OSError, pa.ArrowException) as exc:
        raise IngestError(f"cannot read Parquet: {exc}", path=path) from exc


def _python_values(array: pa.Array) -> list[Any]:
    """``array.to_pylist()`` without its per-value cost on nested data: leaves are converted a
    column at a time, and all-null fields are skipped."""
    if pa.types.is_struct(array.type):
        return _python_structs(array)
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        items = _python_values(array.values)
        return _split(array, items, list)
    if pa.types.is_map(array.type):
        entries = array.values  # like .offsets, it ignores any slicing of the array
        keys, values = _python_values(entries.field(0)), _python_values(entries.field(1))
        pairs = list(zip(keys, values, strict=True))
        return _split(array, pairs, dict)
    return list(array.to_pylist())


def _python_structs(array: pa.StructArray) -> list[dict[str, Any] | None]:
    fields = [
        (array.type.field(i).name, _python_values(array.field(i)))
        for i in range(array.type.num_fields)
        if array.field(i).null_count < len(array)
    ]
    valid = array.is_valid().to_pylist() if array.null_count else [True] * len(array)
    return [
        {name: values[row] for name, values in fields if values[row] is not None}
        if is_valid
        else None
        for row, is_valid in enumerate(valid)
    ]


def _split(array: pa.Array, items: list[Any], build: Any) -> list[Any]:
    """Rows of a list or map array as ``build(items[start:end])``; ``items`` are its values."""
    offsets = array.offsets.to_pylist()
    valid = array.is_valid().to_pylist() if array.null_count else [True] * len(array)
    return [
        build(items[offsets[row] : offsets[row + 1]]) if is_valid else None
        for row, is_valid in enumerate(valid)
    ]


# --- validation ----------------------------------------------------------------------------


def validate_record(
    record: Mapping[str, Any], obj: ObjectType, *, row: int = 0
) -> list[RecordError]:
    """Every problem of ``record`` against the XDM class ``obj``: unknown fields, wrong types,
    bad dates, missing required fields, and a missing or ambiguous primary identity."""
    return _check(record, obj, row)[1]


def convert_values(
    record: Mapping[str, Any], obj: ObjectType
) -> tuple[dict[str, Any], list[RecordError]]:
    """``record`` with every value converted to the lake's Python types along ``obj``
    (dates, date-times, numbers), and the problems found; no identity is required."""
    checker = _Checker(0)
    if not isinstance(record, Mapping):
        checker.fail("", f"record must be an object, got {_kind_of(record)}")
        return {}, checker.errors
    return checker.convert(record, obj, "") or {}, checker.errors


def primary_identity(record: Mapping[str, Any]) -> str | None:
    """``Namespace:id`` of the identityMap entry flagged ``primary``, else of the first identity
    of the first namespace; None without any identity. The map must already be valid."""
    identities = list(_identities(record.get("identityMap")))
    flagged = [(ns, item) for ns, _, item in identities if item.get("primary") is True]
    chosen = flagged[:1] or [(ns, item) for ns, _, item in identities[:1]]
    return f"{chosen[0][0]}:{chosen[0][1].get('id')}" if chosen else None


def _check(
    record: Any, obj: ObjectType, row: int
) -> tuple[dict[str, Any] | None, list[RecordError]]:
    """The record converted to the lake's Python values (None if invalid), and its errors."""
    checker = _Checker(row)
    if not isinstance(record, Mapping):
        checker.fail("", f"record must be an object, got {_kind_of(record)}")
        return None, checker.errors
    converted = checker.convert(record, obj, "")
    for name in REQUIRED_FIELDS.get(obj.name, ()):
        if record.get(name) is None:
            checker.fail(name, "required field is missing")
    if record.get("_id") == "":
        checker.fail("_id", "must not be empty")
    profile_id = _check_identities(checker, record)
    if checker.errors or profile_id is None:
        return None, checker.errors
    return {PROFILE_ID_COLUMN: profile_id, **converted}, checker.errors


class _Checker:
    """Walks a value along its XDM type, converting it for Arrow and collecting errors."""

    def __init__(self, row: int) -> None:
        self.row = row
        self.errors: list[RecordError] = []

    def fail(self, path: str, reason: str) -> None:
        self.errors.append(RecordError(self.row, path, reason))

    def convert(self, value: Any, xdm_type: PQLType, path: str) -> Any:
        if value is None:
            return None
        if isinstance(xdm_type, ScalarType):
            return self._scalar(value, xdm_type, path)
        if isinstance(xdm_type, ObjectType):
            return self._object(value, xdm_type, path)
        if isinstance(xdm_type, ArrayType):
            return self._array(value, xdm_type, path)
        return self._map(value, xdm_type, path)

    def _object(self, value: Any, obj: ObjectType, path: str) -> dict[str, Any] | None:
        if not isinstance(value, Mapping):
            self._wrong(path, "object", value)
            return None
        converted: dict[str, Any] = {}
        for name, item in value.items():
            field_type = obj.fields.get(name)
            if field_type is None:
                child = f"{path}.{name}" if path else str(name)
                self.fail(child, _unknown_field_reason(str(name), path))
            elif item is not None:  # null fields are left out: Arrow fills them with nulls
                converted[name] = self.convert(item, field_type, f"{path}.{name}" if path else name)
        return converted

    def _array(self, value: Any, array: ArrayType, path: str) -> list[Any] | None:
        if not isinstance(value, list | tuple):
            self._wrong(path, "array", value)
            return None
        return [self.convert(item, array.item, f"{path}[{i}]") for i, item in enumerate(value)]

    def _map(self, value: Any, map_type: MapType, path: str) -> dict[str, Any] | None:
        if not isinstance(value, Mapping):
            self._wrong(path, "map (an object)", value)
            return None
        converted: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                self.fail(path, f"map keys must be non-empty strings, got {key!r}")
                continue
            converted[key] = self.convert(item, map_type.value, f"{path}.{key}")
        return converted

    def _scalar(self, value: Any, scalar: ScalarType, path: str) -> Any:
        if type(value) is str and scalar.kind is ScalarKind.STRING:  # the common case, fast
            return value
        converter = _SCALAR_CONVERTERS.get(scalar.kind)
        if converter is None:
            return value
        try:
            return converter(value)
        except _BadValue as exc:
            self.fail(path, str(exc))
            return None

    def _wrong(self, path: str, expected: str, value: Any) -> None:
        self.fail(path, f"expected {expected}, got {_kind_of(value)}")


def _unknown_field_reason(name: str, parent: str) -> str:
    if not parent and name.startswith("_") and name != "_id":
        return "unknown tenant field group: not in this sandbox's schema"
    return "unknown field"


class _BadValue(ValueError):
    """A scalar that does not fit its XDM type; the message is the user-facing reason."""


def _kind_of(value: Any) -> str:
    kinds = (
        (bool, "boolean"),
        (int, "integer"),
        (float, "number"),
        (str, "string"),
        (list, "array"),
        (tuple, "array"),
        (Mapping, "object"),
        (datetime, "date-time"),
        (date, "date"),
    )
    if value is None:
        return "null"
    return next((name for cls, name in kinds if isinstance(value, cls)), type(value).__name__)


def _expect(expected: str, value: Any) -> _BadValue:
    return _BadValue(f"expected {expected}, got {_kind_of(value)}")


def _to_string(value: Any) -> str:
    if not isinstance(value, str):
        raise _expect("string", value)
    return value


def _to_boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _expect("boolean", value)
    return value


def _to_integer(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _expect("integer", value)
    if not _INT64[0] <= value <= _INT64[1]:
        raise _BadValue("integer out of the 64-bit range")
    return value


def _to_double(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise _expect("number", value)
    number = float(value)
    if not math.isfinite(number):
        raise _BadValue("number must be finite")
    return number


def _to_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise _expect("date (YYYY-MM-DD)", value)
    if not _DATE.fullmatch(value):
        raise _BadValue(f"not a date in YYYY-MM-DD form: {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _BadValue(f"not a valid date: {value!r} ({exc})") from exc


def _to_datetime(value: Any) -> datetime:
    """Naive UTC: ISO-8601 strings (no offset means UTC), epoch milliseconds, datetimes."""
    if isinstance(value, datetime):
        return _naive_utc(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return _EPOCH + timedelta(milliseconds=value)
        except OverflowError as exc:
            raise _BadValue(f"epoch milliseconds out of range: {value}") from exc
    if not isinstance(value, str):
        raise _expect("ISO-8601 date-time or epoch milliseconds", value)
    if not _DATETIME.fullmatch(value):
        raise _BadValue(f"not an ISO-8601 date-time (YYYY-MM-DDThh:mm:ss[.fff][Z]): {value!r}")
    try:
        return _naive_utc(datetime.fromisoformat(value))
    except (ValueError, OverflowError) as exc:
        raise _BadValue(f"not a valid date-time: {value!r} ({exc})") from exc


def _naive_utc(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


_SCALAR_CONVERTERS = {
    ScalarKind.STRING: _to_string,
    ScalarKind.BOOLEAN: _to_boolean,
    ScalarKind.INTEGER: _to_integer,
    ScalarKind.DOUBLE: _to_double,
    ScalarKind.DATE: _to_date,
    ScalarKind.DATETIME: _to_datetime,
}


def _identities(identity_map: Any) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    """(namespace, position, item) for every identity item of a well-formed identityMap."""
    if not isinstance(identity_map, Mapping):
        return
    for namespace, items in identity_map.items():
        if isinstance(items, list | tuple):
            for position, item in enumerate(items):
                if isinstance(item, Mapping):
                    yield str(namespace), position, item


def _check_identities(checker: _Checker, record: Mapping[str, Any]) -> str | None:
    """Identity rules beyond types; returns the record's ``__profile_id``."""
    identities = list(_identities(record.get("identityMap")))
    for namespace, position, item in identities:
        _check_identity(checker, f"identityMap.{namespace}[{position}]", namespace, item)
    if len(identities) > MAX_IDENTITIES_PER_RECORD:
        checker.fail("identityMap", f"more than {MAX_IDENTITIES_PER_RECORD} identities")
    primaries = [f"{ns}[{pos}]" for ns, pos, item in identities if item.get("primary") is True]
    if len(primaries) > 1:
        checker.fail("identityMap", f"more than one primary identity: {', '.join(primaries)}")
    if not identities:
        if not any(e.field.startswith("identityMap") for e in checker.errors):
            checker.fail("identityMap", "no identity: the record needs an identityMap entry")
        return None
    return primary_identity(record)


def _check_identity(checker: _Checker, path: str, namespace: str, item: Mapping[str, Any]) -> None:
    identity = item.get("id")
    if identity is None or identity == "":
        checker.fail(f"{path}.id", "an identity needs a non-empty id")
    elif isinstance(identity, str):  # a non-string id is already reported as a type error
        _check_identity_value(checker, f"{path}.id", namespace, identity)
    state = item.get("authenticatedState")
    if isinstance(state, str) and state not in AUTHENTICATED_STATES:
        checker.fail(
            f"{path}.authenticatedState",
            f"must be one of {', '.join(AUTHENTICATED_STATES)}, got {state!r}",
        )


def _check_identity_value(checker: _Checker, path: str, namespace: str, identity: str) -> None:
    if len(identity) > MAX_IDENTITY_LENGTH:
        checker.fail(path, f"identity longer than {MAX_IDENTITY_LENGTH} characters")
    elif namespace == ECID_NAMESPACE and not _ECID.fullmatch(identity):
        checker.fail(path, "ECID values must be exactly 38 digits")


# --- writing -------------------------------------------------------------------------------


def write_batch(
    records: Iterable[Mapping[str, Any]],
    *,
    kind: Literal["profile", "event"],
    schema: Schema,
    out_dir: Path,
    rows_per_file: int = 100_000,
) -> BatchResult:
    """Validate ``records`` and write the valid ones as Parquet files committed atomically at
    ``out_dir`` (which must not exist). Nothing appears when no record is valid. Events whose
    ``_id`` already came earlier in the batch are dropped (counted in ``duplicates``)."""
    obj, arrow_schema = _target(kind, schema)
    if rows_per_file < 1:
        raise ValueError(f"rows_per_file must be >= 1, got {rows_per_file}")
    if out_dir.exists():
        raise FileExistsError(f"batch directory already exists: {out_dir}")
    writer = _BatchFiles(out_dir, arrow_schema, rows_per_file)
    try:
        result = _write_records(records, obj, kind, writer)
        return replace(result, files=writer.commit())
    except BaseException:
        writer.discard()
        raise


def _target(kind: str, schema: Schema) -> tuple[ObjectType, pa.Schema]:
    if kind == "profile":
        return schema.profile, profile_schema(schema)
    if kind == "event":
        return schema.event, event_schema(schema)
    raise ValueError(f"kind must be 'profile' or 'event', got {kind!r}")


def _write_records(
    records: Iterable[Mapping[str, Any]], obj: ObjectType, kind: str, writer: _BatchFiles
) -> BatchResult:
    errors: list[RecordError] = []
    seen_ids: set[str] = set()
    read = written = duplicates = 0
    for row, record in enumerate(records):
        read += 1
        converted, record_errors = _check(record, obj, row)
        errors.extend(record_errors)
        if converted is None:
            continue
        if kind == "event":
            if converted["_id"] in seen_ids:
                duplicates += 1
                continue
            seen_ids.add(converted["_id"])
        writer.add(converted)
        written += 1
    return BatchResult(read, written, errors, duplicates=duplicates)


class _BatchFiles:
    """Parquet part files in a staging directory, renamed to the batch directory at the end."""

    def __init__(self, out_dir: Path, schema: pa.Schema, rows_per_file: int) -> None:
        self.out_dir = out_dir
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.rows: list[dict[str, Any]] = []
        self.names: list[str] = []
        self.staging: Path | None = None

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.rows_per_file:
            self._flush()

    def commit(self) -> tuple[Path, ...]:
        self._flush()
        if self.staging is None:
            return ()
        commit(self.staging, self.out_dir)
        return tuple(self.out_dir / name for name in self.names)

    def discard(self) -> None:
        if self.staging is not None:
            discard(self.staging)

    def _flush(self) -> None:
        if not self.rows:
            return
        if self.staging is None:
            self.staging = staging_dir(self.out_dir)
        name = f"part-{len(self.names):05d}.parquet"
        table = pa.Table.from_pylist(self.rows, schema=self.schema)
        pq.write_table(table, self.staging / name)
        self.names.append(name)
        self.rows = []
