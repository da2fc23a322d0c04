"""Loading users' XDM data: reading JSON, NDJSON and Parquet records, checking each against the
schema's type tree and identity rules (the org's namespaces, the dataset's identity fields), and
writing the valid ones in the lake's Arrow layout as one atomically committed batch.

A batch is first *staged* (Parquet parts in a hidden directory, events deduplicated by ``_id``
within the batch and against the dataset's committed files) and then committed by one rename,
so callers can make the rename part of a metadata transaction.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
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
from segmint.profiles.dedup import drop_rows, duplicate_rows
from segmint.profiles.lake import commit, discard, staging_dir
from segmint.profiles.namespaces import NamespaceCatalog
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


class ErrorKind(StrEnum):
    """What is wrong with a record, coarsely (batch reports count failed records by kind)."""

    CORRUPT = "corrupt"  # not readable as one JSON object
    MISSING = "missing"  # a required field is missing or null
    TYPE = "type"  # a value does not fit its XDM type
    UNKNOWN_FIELD = "unknown-field"
    IDENTITY = "identity"  # identityMap / identity field rules


@dataclass(frozen=True)
class RecordError:
    """One problem with one record: ``row`` is its 0-based position in the input, ``field``
    the path of the faulty field (``homeAddress.city``, ``identityMap.ECID[0].id``; empty for
    the whole record)."""

    row: int
    field: str
    reason: str
    # Not part of equality: tests and callers compare (row, field, reason).
    kind: ErrorKind = dataclasses.field(default=ErrorKind.TYPE, compare=False)


@dataclass(frozen=True)
class CorruptRecord:
    """Stands in for an input row that could not be parsed (a bad line of a JSON-lines file);
    validation reports it as a record error instead of failing the whole file."""

    reason: str


@dataclass(frozen=True)
class IdentityDescriptor:
    """A field of a dataset's records that holds an identity: its value is added to the
    record's ``identityMap`` under ``namespace``; a ``primary`` one decides the profile id."""

    path: str  # dotted, e.g. ``personalEmail.address``
    namespace: str
    primary: bool = False


@dataclass(frozen=True)
class IngestRules:
    """What a dataset's records are checked against beyond the schema: its identity fields,
    and the org's namespace catalogue (None: any namespace code is accepted)."""

    descriptors: tuple[IdentityDescriptor, ...] = ()
    namespaces: NamespaceCatalog | None = None


@dataclass(frozen=True)
class BatchResult:
    """What ``write_batch`` did. ``files`` is empty when no record was written; ``duplicates``
    counts events dropped for repeating an ``_id`` of the batch or of the dataset's committed
    files; ``records_failed`` the records with errors (``errors`` may hold only the first
    ones; ``failed_by_kind`` counts, per kind, the failed records with an error of it)."""

    records_read: int
    records_written: int
    errors: list[RecordError] = field(default_factory=list)
    files: tuple[Path, ...] = ()
    duplicates: int = 0
    records_failed: int = 0
    failed_by_kind: Mapping[ErrorKind, int] = field(default_factory=dict)

    @property
    def committed(self) -> bool:
        return bool(self.files)

    @property
    def records_valid(self) -> int:
        """Records that passed validation: written, or dropped as already present."""
        return self.records_written + self.duplicates


# --- reading -------------------------------------------------------------------------------


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a ``.json`` (array or single object), ``.ndjson``/``.jsonl`` (one object
    per line) or ``.parquet`` file. Raises IngestError for other files and malformed JSON."""
    path = Path(path)
    suffix = check_suffix(path)
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


# --- reading for batches: a bad row is a record error, not a bad file -------------------------


def check_suffix(path: Path) -> str:
    """The lower-cased suffix of a file Segmint can read; IngestError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in JSON_SUFFIXES + NDJSON_SUFFIXES + PARQUET_SUFFIXES:
        raise IngestError(
            f"unsupported file type {suffix or '(none)'!r}: use .json, .ndjson, .jsonl or .parquet",
            path=path,
        )
    return suffix


def check_file(path: Path) -> None:
    """Reject, before any record is read, a file that cannot be read at all: an unknown
    suffix, a Parquet file without a readable footer, a JSON array document that does not
    parse. Bad lines of JSON-lines text are left to validation (they are record errors)."""
    suffix = check_suffix(path)
    if suffix in PARQUET_SUFFIXES:
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowException) as exc:
            raise IngestError(f"cannot read Parquet: {exc}", path=path) from exc
    elif suffix in JSON_SUFFIXES and _starts_array(path):
        for _ in _read_json(path):
            pass


def read_batch_file(path: Path) -> Iterator[Any]:
    """The rows of a file as ``read_records`` reads them, except that JSON-lines text (an
    ``.ndjson``/``.jsonl`` file, or a ``.json`` file that is not one JSON document) yields a
    ``CorruptRecord`` for each line that is not a JSON object, and array items that are not
    objects are yielded as they are (validation reports them)."""
    path = Path(path)
    suffix = check_suffix(path)
    if not path.is_file():
        raise IngestError("no such file", path=path)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path)
    if suffix in NDJSON_SUFFIXES or not _is_one_document(path):
        return _read_lines(path)
    return _read_document(path)


def _starts_array(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _is_one_document(path: Path) -> bool:
    """An array, or text that parses as one JSON value (a multi-line object)."""
    if _starts_array(path):
        return True
    try:
        _parse_json(_read_text(path), path, first_line=1)
    except IngestError:
        return False
    return True


def _read_document(path: Path) -> Iterator[Any]:
    document = _parse_json(_read_text(path), path, first_line=1)
    yield from document if isinstance(document, list) else [document]


def _read_lines(path: Path) -> Iterator[Any]:
    """Streamed line by line; every non-blank line is one row."""
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = _decode_line(raw, path, number)
                if not line.strip():
                    continue
                item = _parse_json(line, path, first_line=number)
            except IngestError as exc:
                yield CorruptRecord(f"line {number}: {_without_location(exc)}")
                continue
            yield (
                item
                if isinstance(item, dict)
                else CorruptRecord(f"line {number}: expected a JSON object, got {_kind_of(item)}")
            )


def _without_location(exc: IngestError) -> str:
    return str(exc).split(": ", 1)[1] if exc.path is not None else str(exc)


# --- validation ----------------------------------------------------------------------------


def validate_record(
    record: Mapping[str, Any], obj: ObjectType, *, row: int = 0, rules: IngestRules | None = None
) -> list[RecordError]:
    """Every problem of ``record`` against the XDM class ``obj``: unknown fields, wrong types,
    bad dates, missing required fields, and a missing or ambiguous primary identity; with
    ``rules``, also unknown namespaces and missing or bad identity fields."""
    return _check(record, obj, row, rules or IngestRules())[1]


def record_class(kind: Literal["profile", "event"], schema: Schema) -> ObjectType:
    """The XDM class records of ``kind`` are checked against."""
    return _target(kind, schema)[0]


def convert_values(
    record: Mapping[str, Any], obj: ObjectType
) -> tuple[dict[str, Any], list[RecordError]]:
    """``record`` with every value converted to the lake's Python types along ``obj``
    (dates, date-times, numbers), and the problems found; no identity is required."""
    checker = _Checker(0)
    if not isinstance(record, Mapping):
        checker.fail("", f"record must be an object, got {_kind_of(record)}", ErrorKind.CORRUPT)
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
    record: Any, obj: ObjectType, row: int, rules: IngestRules
) -> tuple[dict[str, Any] | None, list[RecordError]]:
    """The record converted to the lake's Python values (None if invalid), and its errors."""
    checker = _Checker(row)
    if isinstance(record, CorruptRecord):
        checker.fail("", record.reason, ErrorKind.CORRUPT)
        return None, checker.errors
    if not isinstance(record, Mapping):
        checker.fail("", f"record must be an object, got {_kind_of(record)}", ErrorKind.CORRUPT)
        return None, checker.errors
    record = _with_identity_fields(checker, record, rules.descriptors)
    converted = checker.convert(record, obj, "")
    for name in REQUIRED_FIELDS.get(obj.name, ()):
        if record.get(name) is None:
            checker.fail(name, "required field is missing", ErrorKind.MISSING)
    if record.get("_id") == "":
        checker.fail("_id", "must not be empty", ErrorKind.MISSING)
    profile_id = _check_identities(checker, record, rules.namespaces)
    if checker.errors or profile_id is None:
        return None, checker.errors
    return {PROFILE_ID_COLUMN: profile_id, **converted}, checker.errors


class _Checker:
    """Walks a value along its XDM type, converting it for Arrow and collecting errors."""

    def __init__(self, row: int) -> None:
        self.row = row
        self.errors: list[RecordError] = []
        self.identity_reported = False  # a missing identity was already named precisely

    def fail(self, path: str, reason: str, kind: ErrorKind = ErrorKind.TYPE) -> None:
        self.errors.append(RecordError(self.row, path, reason, kind))

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
                self.fail(child, _unknown_field_reason(str(name), path), ErrorKind.UNKNOWN_FIELD)
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


def _check_identities(
    checker: _Checker, record: Mapping[str, Any], namespaces: NamespaceCatalog | None
) -> str | None:
    """Identity rules beyond types; returns the record's ``__profile_id``."""
    identities = list(_identities(record.get("identityMap")))
    if namespaces is not None:
        _check_namespaces(checker, record.get("identityMap"), namespaces)
    for namespace, position, item in identities:
        _check_identity(checker, f"identityMap.{namespace}[{position}]", namespace, item)
    if len(identities) > MAX_IDENTITIES_PER_RECORD:
        checker.fail(
            "identityMap", f"more than {MAX_IDENTITIES_PER_RECORD} identities", ErrorKind.IDENTITY
        )
    primaries = [f"{ns}[{pos}]" for ns, pos, item in identities if item.get("primary") is True]
    if len(primaries) > 1:
        checker.fail(
            "identityMap",
            f"more than one primary identity: {', '.join(primaries)}",
            ErrorKind.IDENTITY,
        )
    if not identities:
        reported = checker.identity_reported
        if not reported and not any(e.field.startswith("identityMap") for e in checker.errors):
            checker.fail(
                "identityMap",
                "no identity: the record needs an identityMap entry",
                ErrorKind.IDENTITY,
            )
        return None
    return primary_identity(record)


def _check_namespaces(checker: _Checker, identity_map: Any, namespaces: NamespaceCatalog) -> None:
    if not isinstance(identity_map, Mapping):
        return
    for code in identity_map:
        if code not in namespaces:
            checker.fail(
                f"identityMap.{code}",
                unknown_namespace_reason(str(code), namespaces),
                ErrorKind.IDENTITY,
            )


def unknown_namespace_reason(code: str, namespaces: NamespaceCatalog) -> str:
    """Why ``code`` is refused, naming the code of the same spelling in another case."""
    folded = code.casefold()
    near = next((ns.code for ns in namespaces if ns.code.casefold() == folded), None)
    hint = f" (namespace codes are case-sensitive: did you mean {near!r}?)" if near else ""
    return f"unknown identity namespace {code!r}{hint}"


def _check_identity(checker: _Checker, path: str, namespace: str, item: Mapping[str, Any]) -> None:
    identity = item.get("id")
    if identity is None or identity == "":
        checker.fail(f"{path}.id", "an identity needs a non-empty id", ErrorKind.IDENTITY)
    elif isinstance(identity, str):  # a non-string id is already reported as a type error
        _check_identity_value(checker, f"{path}.id", namespace, identity)
    state = item.get("authenticatedState")
    if isinstance(state, str) and state not in AUTHENTICATED_STATES:
        checker.fail(
            f"{path}.authenticatedState",
            f"must be one of {', '.join(AUTHENTICATED_STATES)}, got {state!r}",
            ErrorKind.IDENTITY,
        )


def _check_identity_value(checker: _Checker, path: str, namespace: str, identity: str) -> None:
    if len(identity) > MAX_IDENTITY_LENGTH:
        checker.fail(
            path, f"identity longer than {MAX_IDENTITY_LENGTH} characters", ErrorKind.IDENTITY
        )
    elif namespace == ECID_NAMESPACE and not _ECID.fullmatch(identity):
        checker.fail(path, "ECID values must be exactly 38 digits", ErrorKind.IDENTITY)


# --- identity fields (a dataset's identity descriptors) -----------------------------------------


def descriptor_problems(
    descriptors: Sequence[IdentityDescriptor], obj: ObjectType, namespaces: NamespaceCatalog
) -> list[str]:
    """Why ``descriptors`` cannot describe records of ``obj``: a path that is not a string
    field reached through objects only, an unknown namespace, more than one primary."""
    problems = [p for d in descriptors for p in _descriptor_problems(d, obj, namespaces)]
    if sum(d.primary for d in descriptors) > 1:
        problems.append("at most one identity field can be primary")
    paths = [d.path for d in descriptors]
    problems += [f"{path}: described twice" for path in sorted(set(paths)) if paths.count(path) > 1]
    return problems


def _descriptor_problems(
    descriptor: IdentityDescriptor, obj: ObjectType, namespaces: NamespaceCatalog
) -> list[str]:
    problems = []
    if _field_type(obj, descriptor.path) != ScalarType(ScalarKind.STRING):
        problems.append(f"{descriptor.path}: not a string field of {obj.name}")
    if descriptor.namespace not in namespaces:
        problems.append(
            f"{descriptor.path}: {unknown_namespace_reason(descriptor.namespace, namespaces)}"
        )
    return problems


def _field_type(obj: ObjectType, path: str) -> PQLType | None:
    current: PQLType | None = obj
    for name in path.split("."):
        if not isinstance(current, ObjectType):
            return None
        current = current.fields.get(name)
    return current


def _with_identity_fields(
    checker: _Checker, record: Mapping[str, Any], descriptors: Sequence[IdentityDescriptor]
) -> Mapping[str, Any]:
    """``record`` with the values of its identity fields added to its identityMap (a copy;
    the record itself is not changed). A primary identity field must have a value, and it
    becomes the only identity flagged primary."""
    if not descriptors or not isinstance(record.get("identityMap", {}) or {}, Mapping):
        return record
    identity_map = _copied_identity_map(record.get("identityMap") or {})
    if any(d.primary for d in descriptors):
        _clear_primary_flags(identity_map)
    for descriptor in descriptors:
        value = _value_at(record, descriptor.path)
        if _usable_identity(checker, descriptor, value):
            _add_identity(identity_map, descriptor, value)
        elif descriptor.primary:  # its own error says what is wrong with the identity
            checker.identity_reported = True
    return {**record, "identityMap": identity_map}


def _usable_identity(checker: _Checker, descriptor: IdentityDescriptor, value: Any) -> bool:
    if value is None:
        if descriptor.primary:
            checker.fail(descriptor.path, "primary identity field is missing", ErrorKind.MISSING)
        return False
    if not isinstance(value, str):
        return False  # reported as a type error when the record is converted
    if value == "":
        checker.fail(descriptor.path, "an identity needs a non-empty id", ErrorKind.IDENTITY)
        return False
    errors = len(checker.errors)
    _check_identity_value(checker, descriptor.path, descriptor.namespace, value)
    return len(checker.errors) == errors


def _value_at(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for name in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def _copied_identity_map(identity_map: Mapping[str, Any]) -> dict[str, Any]:
    return {
        namespace: [dict(item) if isinstance(item, Mapping) else item for item in items]
        if isinstance(items, list | tuple)
        else items
        for namespace, items in identity_map.items()
    }


def _clear_primary_flags(identity_map: dict[str, Any]) -> None:
    for items in identity_map.values():
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and item.get("primary") is True:
                item["primary"] = False


def _add_identity(identity_map: dict[str, Any], descriptor: IdentityDescriptor, value: str) -> None:
    items = identity_map.setdefault(descriptor.namespace, [])
    if not isinstance(items, list):
        return  # a malformed namespace entry is reported as a type error
    same = next((i for i in items if isinstance(i, dict) and i.get("id") == value), None)
    if same is None:
        items.append({"id": value, "primary": descriptor.primary})
    elif descriptor.primary:
        same["primary"] = True


# --- writing -------------------------------------------------------------------------------


def write_batch(
    records: Iterable[Any],
    *,
    kind: Literal["profile", "event"],
    schema: Schema,
    out_dir: Path,
    rows_per_file: int = 100_000,
    rules: IngestRules | None = None,
    committed_files: Sequence[Path] = (),
) -> BatchResult:
    """Validate ``records`` and write the valid ones as Parquet files committed atomically at
    ``out_dir`` (which must not exist). Nothing appears when no record is written. Events whose
    ``_id`` came earlier in the batch or is in ``committed_files`` (the dataset's committed
    batches) are dropped and counted in ``duplicates``."""
    if out_dir.exists():
        raise FileExistsError(f"batch directory already exists: {out_dir}")
    staged = stage_batch(
        records,
        kind=kind,
        schema=schema,
        out_dir=out_dir,
        rows_per_file=rows_per_file,
        rules=rules,
        committed_files=committed_files,
    )
    try:
        return staged.commit()
    except BaseException:
        staged.discard()
        raise


def stage_batch(
    records: Iterable[Any],
    *,
    kind: Literal["profile", "event"],
    schema: Schema,
    out_dir: Path,
    rows_per_file: int = 100_000,
    rules: IngestRules | None = None,
    committed_files: Sequence[Path] = (),
    max_errors: int | None = None,
) -> StagedBatch:
    """Validate ``records`` and write the valid ones into a hidden staging directory next to
    ``out_dir``, deduplicating events (see ``write_batch``); nothing is visible until
    ``commit``. ``max_errors`` bounds the errors kept (every failed record is still counted)."""
    obj, arrow_schema = _target(kind, schema)
    if rows_per_file < 1:
        raise ValueError(f"rows_per_file must be >= 1, got {rows_per_file}")
    writer = _BatchFiles(out_dir, arrow_schema, rows_per_file)
    try:
        result = _write_records(records, obj, rules or IngestRules(), writer, max_errors)
        writer.flush()
        staged = StagedBatch(out_dir, kind, writer, result)
        staged.drop_duplicates(committed_files, within_batch=True)
    except BaseException:
        writer.discard()
        raise
    return staged


class StagedBatch:
    """A validated batch in its staging directory: ``commit`` makes it visible at ``out_dir``
    in one rename, ``discard`` removes it."""

    def __init__(self, out_dir: Path, kind: str, files: _BatchFiles, result: BatchResult) -> None:
        self.out_dir = out_dir
        self.kind = kind
        self.files = files
        self.result = result

    def drop_duplicates(self, committed_files: Sequence[Path], *, within_batch: bool) -> int:
        """Drop events whose ``_id`` is in ``committed_files`` (and, ``within_batch``, that
        repeat an earlier event of this batch); returns how many were dropped."""
        parts = self.files.paths()
        if self.kind != "event" or not parts or not (committed_files or within_batch):
            return 0
        dropped = 0
        for part, rows in duplicate_rows(parts, committed_files, within_batch=within_batch):
            if drop_rows(part, rows) == 0:
                self.files.remove(part)
            dropped += len(rows)
        self.result = replace(
            self.result,
            records_written=self.result.records_written - dropped,
            duplicates=self.result.duplicates + dropped,
        )
        return dropped

    def commit(self) -> BatchResult:
        """Rename the staging directory to ``out_dir`` (FileExistsError if it exists); with
        nothing to write, nothing appears."""
        return replace(self.result, files=self.files.commit())

    def discard(self) -> None:
        self.files.discard()


def _target(kind: str, schema: Schema) -> tuple[ObjectType, pa.Schema]:
    if kind == "profile":
        return schema.profile, profile_schema(schema)
    if kind == "event":
        return schema.event, event_schema(schema)
    raise ValueError(f"kind must be 'profile' or 'event', got {kind!r}")


def _write_records(
    records: Iterable[Any],
    obj: ObjectType,
    rules: IngestRules,
    writer: _BatchFiles,
    max_errors: int | None,
) -> BatchResult:
    errors: list[RecordError] = []
    failed_by_kind: dict[ErrorKind, int] = {}
    read = written = failed = 0
    for row, record in enumerate(records):
        read += 1
        converted, record_errors = _check(record, obj, row, rules)
        if converted is None:
            failed += 1
            for kind in {error.kind for error in record_errors}:
                failed_by_kind[kind] = failed_by_kind.get(kind, 0) + 1
            room = len(record_errors) if max_errors is None else max_errors - len(errors)
            errors.extend(record_errors[: max(room, 0)])
            continue
        writer.add(converted)
        written += 1
    return BatchResult(read, written, errors, records_failed=failed, failed_by_kind=failed_by_kind)


class _BatchFiles:
    """Parquet part files in a staging directory, renamed to the batch directory at the end.
    Each part is synced to disk when written, so the final rename has nothing left to wait
    for."""

    def __init__(self, out_dir: Path, schema: pa.Schema, rows_per_file: int) -> None:
        self.out_dir = out_dir
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.rows: list[dict[str, Any]] = []
        self.names: list[str] = []
        self.written = 0
        self.staging: Path | None = None

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.rows_per_file:
            self.flush()

    def paths(self) -> list[Path]:
        assert self.staging is not None or not self.names
        return [self.staging / name for name in self.names] if self.staging else []

    def remove(self, part: Path) -> None:
        part.unlink()
        self.names.remove(part.name)

    def commit(self) -> tuple[Path, ...]:
        self.flush()
        if self.staging is None or not self.names:
            self.discard()
            return ()
        commit(self.staging, self.out_dir)
        return tuple(self.out_dir / name for name in self.names)

    def discard(self) -> None:
        if self.staging is not None:
            discard(self.staging)

    def flush(self) -> None:
        if not self.rows:
            return
        if self.staging is None:
            self.staging = staging_dir(self.out_dir)
        name = f"part-{self.written:05d}.parquet"
        table = pa.Table.from_pylist(self.rows, schema=self.schema)
        write_synced(table, self.staging / name)
        self.names.append(name)
        self.written += 1
        self.rows = []


def write_synced(table: pa.Table, path: Path) -> None:
    """Write ``table`` as Parquet at ``path`` and wait until it is on disk."""
    with path.open("wb") as handle:
        pq.write_table(table, handle)
        handle.flush()
        os.fsync(handle.fileno())
