"""Opening the local store for one sandbox, as every store-backed command does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from segmint.api.app import open_store
from segmint.jobs.model import Tenant
from segmint.settings import Settings
from segmint.store import Store


class CommandError(Exception):
    """A user-facing failure: printed in red, the command exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextmanager
def open_sandbox(settings: Settings, sandbox: str) -> Iterator[tuple[Store, Tenant]]:
    store = open_store(settings)
    try:
        tenant = store.tenants.resolve(settings.org_id, sandbox)
        if tenant is None:
            raise CommandError(f"unknown sandbox {sandbox!r}", exit_code=2)
        yield store, tenant
    finally:
        store.close()
