"""Execute compiled segment plans on an engine (embedded DuckDB by default)."""

from segmint.engine.runners.duckdb import DuckDBRunner
from segmint.engine.runners.membership import MembershipStats, QueryCancelled, SegmentCounts

__all__ = ["DuckDBRunner", "MembershipStats", "QueryCancelled", "SegmentCounts"]
