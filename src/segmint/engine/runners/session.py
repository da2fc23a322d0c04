"""A SQL session on an engine for work that is a sequence of statements over lake files and
intermediate tables (the identity graph, merged profiles), rather than one segment plan.

Statements are sqlglot trees, generated in the session's dialect. Inputs reach the engine as
Parquet files (``read_parquet`` with literal paths) or as Arrow tables registered by name, never
as SQL text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from segmint.engine.runners.membership import QueryCancelled


class SqlSession(Protocol):
    """What graph and merge builders need of an engine."""

    dialect: str

    def files(self, name: str, files: Sequence[Path], columns: Sequence[str] = ()) -> None:
        """A view ``name`` over Parquet ``files`` (columns united by name) with two more
        columns: ``filename`` and ``file_row_number``. ``columns`` narrows what is read."""

    def arrow(self, name: str, table: pa.Table) -> None:
        """A table ``name`` holding ``table``'s rows."""

    def create(self, name: str, query: exp.Query) -> None:
        """Materialise ``query`` as table ``name`` (replacing an older one)."""

    def fetch(self, query: exp.Query) -> list[tuple[Any, ...]]: ...

    def write(self, query: exp.Query, path: Path) -> None:
        """Write ``query``'s rows as one Parquet file at ``path``."""

    def interrupt(self) -> None: ...


def sql_template(text: str) -> exp.Query:
    """A statement written once in DuckDB's SQL (constant text: no value is ever formatted
    into it), as a sqlglot tree that any session generates in its own dialect."""
    query = sqlglot.parse_one(text, dialect="duckdb")
    assert isinstance(query, exp.Query)
    return query


def table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name))


class DuckDBSession:
    """A :class:`SqlSession` on an in-memory DuckDB connection."""

    dialect = "duckdb"

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.connection = duckdb.connect(":memory:", config=dict(config or {}))
        self._lock = threading.Lock()
        self._cancelled = False
        self.seconds: dict[str, float] = {}  # time spent on each table built or written

    def __enter__(self) -> DuckDBSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()

    def files(self, name: str, files: Sequence[Path], columns: Sequence[str] = ()) -> None:
        if not files:
            raise ValueError(f"no files for {name!r}")
        paths = exp.Array(expressions=[exp.Literal.string(str(path)) for path in files])
        flags = [
            exp.EQ(this=exp.column(option), expression=exp.true())
            for option in ("union_by_name", "filename", "file_row_number")
        ]
        chosen: list[exp.Expr] = [exp.column(c, quoted=True) for c in columns]
        if chosen:
            chosen += [exp.column("filename"), exp.column("file_row_number")]
        rows = exp.select(*(chosen or [exp.Star()])).from_(
            exp.Table(this=exp.ReadParquet(expressions=[paths, *flags]))
        )
        self._run(exp.Create(kind="VIEW", this=table(name), expression=rows, replace=True))

    def arrow(self, name: str, rows: pa.Table) -> None:
        source = f"__arrow_{name}"
        self.connection.register(source, rows)
        try:
            self.create(name, exp.select(exp.Star()).from_(table(source)))
        finally:
            self.connection.unregister(source)

    def create(self, name: str, query: exp.Query) -> None:
        started = time.perf_counter()
        self._run(
            exp.Create(
                kind="TABLE",
                this=table(name),
                expression=query,
                replace=True,
                properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
            )
        )
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def fetch(self, query: exp.Query) -> list[tuple[Any, ...]]:
        return self._run(query, fetch=True)

    def write(self, query: exp.Query, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        copy = exp.Copy(
            this=exp.Subquery(this=query),
            kind=False,
            files=[exp.Literal.string(str(path))],
            params=[exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("PARQUET"))],
        )
        started = time.perf_counter()
        self._run(copy)
        self.seconds[path.name] = time.perf_counter() - started

    def interrupt(self) -> None:
        with self._lock:
            self._cancelled = True
        self.connection.interrupt()

    def _run(self, statement: exp.Expr, fetch: bool = False) -> list[tuple[Any, ...]]:
        self._raise_if_cancelled()
        try:
            result = self.connection.execute(statement.sql(dialect=self.dialect))
            rows = result.fetchall() if fetch else []
        except duckdb.InterruptException as error:
            raise QueryCancelled("the profile build was cancelled") from error
        self._raise_if_cancelled()
        return rows

    def _raise_if_cancelled(self) -> None:
        with self._lock:
            if self._cancelled:
                raise QueryCancelled("the profile build was cancelled")
