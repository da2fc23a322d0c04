"""Data in: the lake's on-disk layout with atomic commits, synthetic XDM data at any scale,
and ingestion of users' XDM records (read, validate, write as one batch)."""

from segmint.profiles.generate import GenerateResult, generate
from segmint.profiles.ingest import (
    BatchResult,
    IngestError,
    RecordError,
    convert_values,
    primary_identity,
    read_records,
    validate_record,
    write_batch,
)
from segmint.profiles.lake import Lake, commit, discard, staging_dir

__all__ = [
    "BatchResult",
    "GenerateResult",
    "IngestError",
    "Lake",
    "RecordError",
    "commit",
    "convert_values",
    "discard",
    "generate",
    "primary_identity",
    "read_records",
    "staging_dir",
    "validate_record",
    "write_batch",
]
