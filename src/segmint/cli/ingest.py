"""``segmint ingest``: files into a dataset, as one batch completed exactly like a batch
uploaded over HTTP (validated, good records committed atomically, bad ones listed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from rich.console import Console

from segmint.cli.context import CommandError, open_sandbox
from segmint.jobs.model import Tenant
from segmint.profiles.ingest import (
    PARQUET_SUFFIXES,
    IdentityDescriptor,
    IngestError,
    check_suffix,
    descriptor_problems,
    record_class,
)
from segmint.settings import Settings
from segmint.store import BATCH_SUCCESS, Dataset, Store
from segmint.store.lake_catalog import Batch
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

CLASSES = {"profile": PROFILE_CLASS, "event": EXPERIENCE_EVENT_CLASS}
SHOWN_ERRORS = 20
CLI_CLIENT = "segmint-cli"


def ingest_files(
    settings: Settings,
    files: list[Path],
    dataset_name: str,
    kind: str,
    sandbox: str,
    console: Console,
    identities: Sequence[str] = (),
    primary_identity: str | None = None,
) -> int:
    """Ingest ``files`` into the dataset named ``dataset_name`` (created when new, with the
    identity fields ``identities`` / ``primary_identity``, each ``path=Namespace``)."""
    if kind not in CLASSES:
        raise CommandError(f"--kind must be 'profile' or 'event', got {kind!r}", exit_code=2)
    schema_name = CLASSES[kind]
    descriptors = parse_identity_fields(identities, primary_identity)
    _check_files(files)
    with open_sandbox(settings, sandbox) as (store, tenant):
        dataset = _dataset(store, tenant, dataset_name, schema_name, descriptors)
        batch = store.catalog.create_batch(
            tenant, dataset, input_format={"format": _format(files)}, client=CLI_CLIENT
        )
        sources = [(path.name, path) for path in files]
        done = store.ingestion.complete(tenant, batch.id, sources).batch
    _report(done, dataset, console)
    return 0 if done.status == BATCH_SUCCESS else 1


def parse_identity_fields(
    identities: Sequence[str], primary: str | None
) -> tuple[IdentityDescriptor, ...]:
    """``path=Namespace`` options as identity fields (the primary one last)."""
    fields = [_identity_field(text, primary=False) for text in identities]
    if primary is not None:
        fields.append(_identity_field(primary, primary=True))
    return tuple(fields)


def _identity_field(text: str, *, primary: bool) -> IdentityDescriptor:
    path, sep, namespace = text.partition("=")
    if not sep or not path.strip() or not namespace.strip():
        option = "--primary-identity" if primary else "--identity"
        raise CommandError(f"{option} takes PATH=NAMESPACE, got {text!r}", exit_code=2)
    return IdentityDescriptor(path.strip().strip("/").replace("/", "."), namespace.strip(), primary)


def _check_files(files: list[Path]) -> None:
    for path in files:
        try:
            check_suffix(path)
        except IngestError as exc:
            raise CommandError(str(exc), exit_code=2) from exc
        if not path.is_file():
            raise CommandError(f"{path}: no such file", exit_code=2)


def _format(files: list[Path]) -> str:
    parquet = all(path.suffix.lower() in PARQUET_SUFFIXES for path in files)
    return "parquet" if parquet else "json"


def _dataset(
    store: Store,
    tenant: Tenant,
    name: str,
    schema_name: str,
    descriptors: tuple[IdentityDescriptor, ...],
) -> Dataset:
    existing = next((d for d in store.catalog.datasets(tenant) if d.name == name), None)
    if existing is not None:
        if existing.schema_name != schema_name:
            raise CommandError(f"dataset {name!r} holds {existing.schema_name}", exit_code=2)
        if descriptors and set(descriptors) != set(existing.descriptors):
            raise CommandError(
                f"dataset {name!r} exists with other identity fields; they are set when a "
                "dataset is created",
                exit_code=2,
            )
        return existing
    _check_descriptors(store, tenant, schema_name, descriptors)
    return store.catalog.create_dataset(tenant, name, schema_name, descriptors=descriptors)


def _check_descriptors(
    store: Store, tenant: Tenant, schema_name: str, descriptors: tuple[IdentityDescriptor, ...]
) -> None:
    kind: Literal["profile", "event"] = (
        "event" if schema_name == EXPERIENCE_EVENT_CLASS else "profile"
    )
    obj = record_class(kind, store.schemas.schema(tenant))
    problems = descriptor_problems(descriptors, obj, store.namespaces.catalog(tenant.org_id))
    if problems:
        raise CommandError("identity fields: " + "; ".join(problems), exit_code=2)


def _report(batch: Batch, dataset: Dataset, console: Console) -> None:
    shown = 0
    for entry in batch.errors or ():
        rows = entry.get("rows")
        if rows is None:
            console.print(f"  {entry['code']}: {entry['description']}", markup=False)
        for row in (rows or [])[: SHOWN_ERRORS - shown]:
            where = f"{row['file']} row {row['row']}"
            console.print(f"  {where}: {row['field'] or '(record)'}: {row['reason']}", markup=False)
            shown += 1
    metrics = batch.metrics or {}
    duplicates = metrics.get("duplicateRecordCount", 0)
    note = f" ({duplicates} already present)" if duplicates else ""
    console.print(
        f"batch {batch.id} ({batch.status}): {batch.records_written} of "
        f"{batch.records_read} records written to dataset {dataset.id}{note}"
    )
