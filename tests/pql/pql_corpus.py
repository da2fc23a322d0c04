"""The Adobe-doc PQL examples of pql-corpus.jsonl (a copy of the reference corpus)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CORPUS_PATH = Path(__file__).parent / "data" / "pql-corpus.jsonl"


def load(expect: str) -> list[dict[str, Any]]:
    """The corpus rows whose ``expect`` is ``expect`` (valid, invalid, pql/json)."""
    with CORPUS_PATH.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [row for row in rows if row["expect"] == expect]


def cases(expect: str) -> list[Any]:
    """``pytest.param(text, id=…)`` for each corpus row with ``expect``."""
    return [pytest.param(row["pql"], id=row["id"]) for row in load(expect)]
