"""``segmint pql eval``: one expression, one profile and its events, from JSON files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segmint import pql
from segmint.engine import evaluate
from segmint.pql.types import ObjectType
from segmint.profiles import convert_values
from segmint.xdm import DEFAULT_SCHEMA


def evaluate_files(text: str, profile: Path | None, events: Path | None, now: str | None) -> bool:
    """Check ``text`` against the standard schema and evaluate it; ValueError for bad files."""
    checked = pql.check(pql.parse(text), DEFAULT_SCHEMA, source=text)
    record = _load(profile, dict, {}) if profile else {}
    event_list = _load(events, list, []) if events else []
    converted = _convert(record, DEFAULT_SCHEMA.profile, str(profile))
    converted_events = [
        _convert(e, DEFAULT_SCHEMA.event, f"{events}[{i}]") for i, e in enumerate(event_list)
    ]
    return evaluate(checked, converted, converted_events, _now(now))


def _load(path: Path, expected: type, default: Any) -> Any:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(value, expected):
        raise ValueError(f"{path} must hold a JSON {'object' if expected is dict else 'array'}")
    return value if value is not None else default


def _convert(record: Any, obj: ObjectType, where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise ValueError(f"{where} must be a JSON object")
    values, errors = convert_values(record, obj)
    if errors:
        first = errors[0]
        raise ValueError(f"{where}: {first.field}: {first.reason}")
    return values


def _now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(tzinfo=None)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"--now must be ISO-8601, got {text!r}") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed
