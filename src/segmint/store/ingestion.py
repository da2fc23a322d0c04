"""Completing a batch: read its files, check every record against the dataset's schema, its
identity fields and the org's namespaces, and publish the good records atomically together
with the batch's final status, AEP's metrics and the per-record errors.

A batch with some good records ends ``success`` with its failed records counted and listed
(AEP's partial ingestion); with none, or over its ``partialIngestionPercentage``, it ends
``failed`` and nothing of it is visible."""

from __future__ import annotations

import bisect
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segmint.clock import now_ms
from segmint.jobs.model import Tenant
from segmint.profiles.ingest import (
    BatchResult,
    ErrorKind,
    IngestError,
    IngestRules,
    StagedBatch,
    read_batch_file,
    stage_batch,
)
from segmint.store.lake_catalog import (
    BATCH_FAILED,
    BATCH_SUCCESS,
    Batch,
    Dataset,
    SqlLakeCatalog,
)
from segmint.store.namespaces import NamespaceRepository

MAX_REPORTED_ERRORS = 1000  # per batch; every failed record is still counted
PARTIAL_PERCENT_TAG = "acp_partialIngestionPercent"

# ``errors[].code`` of a batch, per kind of record error. 1401 and 1555 are AEP's codes for
# the same faults; the others are Segmint's (docs/ingestion.md).
ERROR_CODES: Mapping[ErrorKind, tuple[str, str]] = {
    ErrorKind.CORRUPT: (
        "INGEST-1401-400",
        "The row has corrupted data and cannot be read or parsed.",
    ),
    ErrorKind.MISSING: (
        "INGEST-1555-400",
        "A required field is either missing or has a value of null.",
    ),
    ErrorKind.TYPE: (
        "INGEST-1551-400",
        "A value does not match the type of its field in the dataset's schema.",
    ),
    ErrorKind.UNKNOWN_FIELD: (
        "INGEST-1552-400",
        "The row has a field that is not in the dataset's schema.",
    ),
    ErrorKind.IDENTITY: (
        "INGEST-1553-400",
        "The row's identities break an identity rule (unknown namespace, bad value, "
        "none or several primary).",
    ),
}
SUMMARY_CODE = "INGEST-1212-400"
EMPTY_CODE = "106"
UNREADABLE_CODE = "INGEST-1101-400"
THRESHOLD_CODE = "INGEST-1213-400"

Locate = Callable[[int], dict[str, Any]]


class UnknownBatch(Exception):
    """No batch with this id in the tenant's sandbox."""


class _LostClaim(Exception):
    """Another completer took the batch over; this one must not publish."""


@dataclass(frozen=True)
class Completion:
    """The batch after a COMPLETE, and whether this call completed it (False: it was already
    finished, aborted, or being completed by someone else)."""

    batch: Batch
    completed_now: bool


@dataclass(frozen=True)
class Outcome:
    status: str
    errors: list[dict[str, Any]]
    metrics: dict[str, Any]

    def values(self, result: BatchResult | None) -> dict[str, Any]:
        return {
            "status": self.status,
            "records_read": result.records_read if result else 0,
            "records_written": self.metrics.get("outputRecordCount", 0),
            "errors": self.errors or None,
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class IngestOptions:
    """``stale_seconds``: a ``staging`` batch whose completer has been quiet this long may be
    completed by another COMPLETE; the stream is flushed at ``stream_flush_records`` records
    of a dataset or when its oldest record is ``stream_flush_seconds`` old."""

    stale_seconds: int = 600
    stream_flush_records: int = 1000
    stream_flush_seconds: float = 15.0


class BatchIngestion:
    """Completes batches of a catalog (API uploads, local files of ``segmint ingest``)."""

    def __init__(
        self,
        catalog: SqlLakeCatalog,
        namespaces: NamespaceRepository,
        options: IngestOptions = IngestOptions(),
    ) -> None:
        self.catalog = catalog
        self.namespaces = namespaces
        self.options = options

    def rules(self, tenant: Tenant, dataset: Dataset) -> IngestRules:
        return IngestRules(dataset.descriptors, self.namespaces.catalog(tenant.org_id))

    def complete(
        self, tenant: Tenant, batch_id: str, files: Sequence[tuple[str, Path]] | None = None
    ) -> Completion:
        """Complete a ``loading`` batch from ``files`` (default: its uploads). Safe to retry
        and to race: only the holder of the batch's claim publishes."""
        if self.catalog.batch(tenant, batch_id) is None:
            raise UnknownBatch(batch_id)
        stale_before = now_ms() - self.options.stale_seconds * 1000
        claim = self.catalog.claim_batch(batch_id, stale_before)
        if claim is not None:
            try:
                self._complete_claimed(tenant, batch_id, claim, files)
            except _LostClaim:
                claim = None
            except BaseException:
                self.catalog.release_claim(batch_id, claim)
                raise
        batch = self.catalog.batch(tenant, batch_id)
        assert batch is not None
        return Completion(batch, claim is not None)

    def _complete_claimed(
        self,
        tenant: Tenant,
        batch_id: str,
        claim: str,
        files: Sequence[tuple[str, Path]] | None,
    ) -> None:
        batch = self.catalog.batch(tenant, batch_id)
        assert batch is not None
        dataset = self.catalog.dataset(tenant, batch.dataset_id)
        assert dataset is not None
        uploads = self.catalog.uploaded_files(tenant, batch_id)
        sources = _Sources(uploads if files is None else files)
        judge, staged, committed_ids = self._stage(tenant, dataset, batch, sources)
        publish = staged if judge.outcome(staged).status == BATCH_SUCCESS else None
        try:
            with self.catalog.publishing(
                tenant, dataset.id, batch_id, publish, committed_ids
            ) as conn:
                values = judge.outcome(staged).values(staged.result if staged else None)
                if not self.catalog.finish_claimed(conn, batch_id, claim, values):
                    raise _LostClaim(batch_id)
        finally:
            if staged is not None and publish is None:
                staged.discard()
        shutil.rmtree(self.catalog.upload_dir(tenant, batch_id), ignore_errors=True)

    def _stage(
        self, tenant: Tenant, dataset: Dataset, batch: Batch, sources: _Sources
    ) -> tuple[BatchJudge, StagedBatch | None, frozenset[str]]:
        """How to judge the batch, the staged batch (None when a file cannot be read), and
        the committed batches its events were deduplicated against."""
        committed_ids, committed = (
            self.catalog.dataset_files(tenant, dataset.id)
            if dataset.kind == "event"
            else (frozenset(), [])
        )
        judge = BatchJudge(
            sources.locate,
            input_files=len(sources.files),
            input_bytes=lambda: sources.input_bytes,
            threshold=_threshold(batch.tags),
        )
        try:
            staged = stage_batch(
                sources,
                kind=dataset.kind,
                schema=self.catalog.schema(tenant),
                out_dir=self.catalog.batch_dir(tenant, dataset.id, batch.id),
                rules=self.rules(tenant, dataset),
                committed_files=committed,
                max_errors=MAX_REPORTED_ERRORS,
            )
        except IngestError as exc:
            judge.unreadable = sources.describe(exc)
            return judge, None, committed_ids
        return judge, staged, committed_ids


class _Sources:
    """The rows of a batch's files in order, remembering where each file starts so that a
    row number can be told as ``(file, row in the file)``."""

    def __init__(self, files: Sequence[tuple[str, Path]]) -> None:
        self.files = list(files)
        self.starts: list[int] = []
        self.count = 0

    def __iter__(self) -> Iterator[Any]:
        for _name, path in self.files:
            self.starts.append(self.count)
            for row in read_batch_file(path):
                self.count += 1
                yield row

    @property
    def input_bytes(self) -> int:
        return sum(path.stat().st_size for _, path in self.files if path.exists())

    def describe(self, error: IngestError) -> str:
        """``error`` naming the file as it was uploaded, not where it is kept."""
        names = {path: name for name, path in self.files}
        name = names.get(error.path) if error.path is not None else None
        if name is None:
            return str(error)
        where = f"{name}:{error.line}" if error.line is not None else name
        return f"{where}: {str(error).split(': ', 1)[-1]}"

    def locate(self, row: int) -> dict[str, Any]:
        index = bisect.bisect_right(self.starts, row) - 1
        return {"file": self.files[index][0], "row": row - self.starts[index]}


class BatchJudge:
    """Decides a staged batch's outcome: its status, metrics and errors. ``locate`` tells
    where a row came from, for the per-record errors."""

    def __init__(
        self,
        locate: Locate,
        *,
        input_files: int,
        input_bytes: Callable[[], int],
        threshold: float | None = None,
    ) -> None:
        self.locate = locate
        self.input_files = input_files
        self.input_bytes = input_bytes
        self.threshold = threshold
        self.unreadable: str | None = None

    def outcome(self, staged: StagedBatch | None) -> Outcome:
        if staged is None:
            errors = [_error(UNREADABLE_CODE, self.unreadable or "a file cannot be read")]
            return Outcome(BATCH_FAILED, errors, self._metrics(None, 0))
        result = staged.result
        status, reason = self._status(result)
        written = result.records_written if status == BATCH_SUCCESS else 0
        errors = ([reason] if reason else []) + record_errors(result, written, self.locate)
        return Outcome(status, errors, self._metrics(result, written))

    def _status(self, result: BatchResult) -> tuple[str, dict[str, Any] | None]:
        if result.records_read == 0:
            empty = "Dataset file is empty. Please upload file with data."
            return BATCH_FAILED, _error(EMPTY_CODE, empty)
        if result.records_valid == 0:
            return BATCH_FAILED, None
        failed_percent = 100 * result.records_failed / result.records_read
        if self.threshold is not None and failed_percent > self.threshold:
            message = (
                f"{failed_percent:.2f}% of the records failed, more than the partial "
                f"ingestion threshold of {self.threshold:g}%; nothing was ingested."
            )
            return BATCH_FAILED, _error(THRESHOLD_CODE, message)
        return BATCH_SUCCESS, None

    def _metrics(self, result: BatchResult | None, written: int) -> dict[str, Any]:
        return batch_metrics(
            result, written, input_files=self.input_files, input_bytes=self.input_bytes()
        )


def batch_metrics(
    result: BatchResult | None, written: int, *, input_files: int, input_bytes: int
) -> dict[str, Any]:
    """AEP's batch metrics, plus the events dropped as already present."""
    return {
        "inputByteSize": input_bytes,
        "inputFileCount": input_files,
        "inputRecordCount": result.records_read if result else 0,
        "outputRecordCount": written,
        "failedRecordCount": result.records_failed if result else 0,
        "duplicateRecordCount": result.duplicates if result else 0,
    }


def record_errors(result: BatchResult, written: int, locate: Locate) -> list[dict[str, Any]]:
    """AEP's ``errors`` of a batch with failed records: a summary, then one entry per kind of
    fault with its ``recordCount`` and the first faults themselves under ``rows``."""
    if not result.records_failed:
        return []
    summary = (
        f"Encountered {result.records_failed} errors in the data. "
        f"Successfully ingested {written} rows."
    )
    entries = [_error(SUMMARY_CODE, summary)]
    for kind, (code, description) in ERROR_CODES.items():
        count = result.failed_by_kind.get(kind, 0)
        if count:
            rows = [
                {**locate(e.row), "field": e.field, "reason": e.reason}
                for e in result.errors
                if e.kind is kind
            ]
            entries.append({**_error(code, description), "recordCount": count, "rows": rows})
    return entries


def _error(code: str, description: str) -> dict[str, Any]:
    return {"code": code, "description": description}


def _threshold(tags: Mapping[str, Any] | None) -> float | None:
    value = (tags or {}).get(PARTIAL_PERCENT_TAG)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
