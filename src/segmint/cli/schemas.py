"""``segmint schema``: register and show a sandbox's tenant field groups."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from segmint.cli.context import CommandError, open_sandbox
from segmint.settings import Settings
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS, TenantFieldError

CLASSES = {"profile": PROFILE_CLASS, "event": EXPERIENCE_EVENT_CLASS}


def register(settings: Settings, file: Path, kind: str, sandbox: str, console: Console) -> int:
    if kind not in CLASSES:
        raise CommandError(f"--kind must be 'profile' or 'event', got {kind!r}", exit_code=2)
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"cannot read {file}: {exc}", exit_code=2) from exc
    with open_sandbox(settings, sandbox) as (store, tenant):
        try:
            store.schemas.register(tenant, CLASSES[kind], document)
        except TenantFieldError as exc:
            raise CommandError(str(exc), exit_code=2) from exc
    console.print(f"registered {', '.join(sorted(document))} for {kind} in sandbox {sandbox}")
    return 0


def show(settings: Settings, sandbox: str, console: Console) -> int:
    with open_sandbox(settings, sandbox) as (store, tenant):
        documents = store.schemas.documents(tenant)
    console.print_json(json.dumps(documents))
    return 0
