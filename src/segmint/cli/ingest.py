"""``segmint ingest``: files into a dataset, as one atomically committed batch."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from segmint.cli.context import CommandError, open_sandbox
from segmint.jobs.model import Tenant
from segmint.profiles.ingest import IngestError, read_records, write_batch
from segmint.settings import Settings
from segmint.store import BATCH_FAILED, BATCH_SUCCESS, Dataset, Store
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

KINDS: dict[str, tuple[Literal["profile", "event"], str]] = {
    "profile": ("profile", PROFILE_CLASS),
    "event": ("event", EXPERIENCE_EVENT_CLASS),
}
SHOWN_ERRORS = 20


def _records(files: list[Path]) -> Iterator[Mapping[str, Any]]:
    return itertools.chain.from_iterable(read_records(path) for path in files)


def ingest_files(
    settings: Settings,
    files: list[Path],
    dataset_name: str,
    kind: str,
    sandbox: str,
    console: Console,
) -> int:
    if kind not in KINDS:
        raise CommandError(f"--kind must be 'profile' or 'event', got {kind!r}", exit_code=2)
    record_kind, schema_name = KINDS[kind]
    with open_sandbox(settings, sandbox) as (store, tenant):
        dataset = _dataset(store, tenant, dataset_name, schema_name)
        batch_id = str(uuid.uuid4())
        out_dir = store.catalog.batch_dir(tenant, dataset.id, batch_id)
        try:
            result = write_batch(
                _records(files),
                kind=record_kind,
                schema=store.schemas.schema(tenant),
                out_dir=out_dir,
            )
        except IngestError as exc:
            raise CommandError(str(exc)) from exc
        status = BATCH_SUCCESS if result.records_written else BATCH_FAILED
        errors = [{"row": e.row, "field": e.field, "reason": e.reason} for e in result.errors]
        store.catalog.record_batch(
            dataset.id,
            batch_id,
            status=status,
            records_read=result.records_read,
            records_written=result.records_written,
            errors=errors or None,
        )
    for error in errors[:SHOWN_ERRORS]:
        console.print(f"  row {error['row']}: {error['field']}: {error['reason']}", markup=False)
    console.print(
        f"batch {batch_id} ({status}): {result.records_written} of "
        f"{result.records_read} records written to dataset {dataset.id}"
    )
    return 0 if status == BATCH_SUCCESS else 1


def _dataset(store: Store, tenant: Tenant, name: str, schema_name: str) -> Dataset:
    existing = next((d for d in store.catalog.datasets(tenant) if d.name == name), None)
    dataset = existing or store.catalog.create_dataset(tenant, name, schema_name)
    if dataset.schema_name != schema_name:
        raise CommandError(f"dataset {name!r} holds {dataset.schema_name}", exit_code=2)
    return dataset
