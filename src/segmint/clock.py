"""Wall-clock time as Segmint's wire format uses it: epoch milliseconds, UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def ms_to_datetime(ms: int) -> datetime:
    """Naive UTC datetime (the lake stores naive UTC timestamps)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)
