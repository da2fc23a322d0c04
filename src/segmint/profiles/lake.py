"""The on-disk layout of the data lake under a home directory, and atomic directory commits.

Datasets, batches and segmentation output live under ``<root>/lake/<org>/<sandbox>/``; a batch
is written into a hidden staging sibling and renamed into place, so it appears whole or not at all.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

STAGING_PREFIX = ".staging-"


def check_segment(value: str, what: str) -> str:
    """``value`` if it is safe as one path segment, else ValueError naming ``what``."""
    if not value or value in (".", ".."):
        raise ValueError(f"{what} must not be empty, '.' or '..': {value!r}")
    if any(ch in value for ch in ("/", "\\", "\x00")):
        raise ValueError(f"{what} must not contain '/', '\\' or NUL: {value!r}")
    if value.startswith("."):
        raise ValueError(f"{what} must not start with '.' (reserved for staging): {value!r}")
    return value


class Lake:
    """Paths of one Segmint home's lake: ``<root>/lake/<org>/<sandbox>/...``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def sandbox_dir(self, org: str, sandbox: str) -> Path:
        return self.root / "lake" / check_segment(org, "org") / check_segment(sandbox, "sandbox")

    def dataset_dir(self, org: str, sandbox: str, dataset_id: str) -> Path:
        dataset = check_segment(dataset_id, "dataset id")
        return self.sandbox_dir(org, sandbox) / "datasets" / dataset

    def batch_dir(self, org: str, sandbox: str, dataset_id: str, batch_id: str) -> Path:
        return self.dataset_dir(org, sandbox, dataset_id) / check_segment(batch_id, "batch id")

    def segmentation_dir(self, org: str, sandbox: str) -> Path:
        return self.sandbox_dir(org, sandbox) / "segmentation"


def staging_dir(final: Path) -> Path:
    """Create and return an empty hidden staging directory next to ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.parent / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    staging.mkdir()
    return staging


def commit(staging: Path, final: Path) -> None:
    """Rename ``staging`` to ``final`` in one step; FileExistsError if ``final`` exists."""
    if final.exists() or final.is_symlink():
        raise FileExistsError(f"cannot commit {staging} over existing {final}")
    _fsync_tree(staging)
    os.rename(staging, final)
    _fsync_dir(final.parent)


def discard(staging: Path) -> None:
    """Remove a staging directory and everything in it (missing is fine)."""
    shutil.rmtree(staging, ignore_errors=True)


def _fsync_tree(directory: Path) -> None:
    # Data must be durable before the rename makes it visible, or a crash could expose a
    # committed directory holding truncated files.
    for path in directory.rglob("*"):
        if path.is_dir():
            _fsync_dir(path)
        elif path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
