"""Experience events are unique by ``_id`` within their dataset. Which rows of a staged batch
repeat an ``_id`` (of an earlier row of the batch, or of the dataset's committed files) is
found by one DuckDB query over the Parquet files, so memory does not grow with the number of
ids; the rows are then dropped part file by part file with pyarrow, keeping the lake layout."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlglot import exp

DROPPED = "dropped"
FILENAME = "filename"
ROW_NUMBER = "file_row_number"


def duplicate_rows(
    parts: Sequence[Path], committed: Sequence[Path], *, within_batch: bool
) -> Iterator[tuple[Path, pa.Array]]:
    """For each part that has some: the 0-based numbers of its rows to drop, ascending. A row
    is dropped when its ``_id`` is in ``committed`` or, ``within_batch``, when an earlier row
    of ``parts`` (in part order, then row order) has the same ``_id``."""
    connection = duckdb.connect()
    try:
        connection.execute(_create_dropped(parts, committed, within_batch).sql("duckdb"))
        for part in parts:
            rows = connection.sql(_rows_of(part).sql("duckdb")).to_arrow_table()
            if rows.num_rows:
                yield part, rows.column(0).combine_chunks()
    finally:
        connection.close()


def drop_rows(part: Path, rows: pa.Array) -> int:
    """Rewrite ``part`` without ``rows`` (its schema unchanged); returns the rows left. The
    caller removes a part left empty."""
    table = pq.read_table(part)
    numbers = pa.array(range(table.num_rows), type=pa.int64())
    kept = table.filter(pc.invert(pc.is_in(numbers, value_set=rows.cast(pa.int64()))))
    if kept.num_rows:
        replacement = part.with_name(f"{part.name}.rewrite")
        with replacement.open("wb") as handle:
            pq.write_table(kept, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(replacement, part)
    return int(kept.num_rows)


def _create_dropped(
    parts: Sequence[Path], committed: Sequence[Path], within_batch: bool
) -> exp.Create:
    staged = _read_parquet(parts, FILENAME, ROW_NUMBER)
    columns: list[exp.Expr] = [_column(FILENAME), _column(ROW_NUMBER), _column("_id")]
    conditions: list[exp.Expr] = []
    if within_batch:
        columns.append(exp.alias_(_first_of_id(), "rank"))
        conditions.append(exp.GT(this=_column("rank"), expression=exp.Literal.number(1)))
    if committed:
        ids = exp.select(_column("_id")).from_(_read_parquet(committed, "union_by_name"))
        conditions.append(_column("_id").isin(query=ids))
    rows = exp.select(*columns).from_(staged).subquery("staged")
    query = exp.select(_column(FILENAME), _column(ROW_NUMBER)).from_(rows)
    query = query.where(exp.or_(*conditions) if conditions else exp.false())
    return exp.Create(
        kind="TABLE",
        this=exp.to_table(DROPPED),
        expression=query,
        properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
    )


def _first_of_id() -> exp.Window:
    """``row_number() OVER (PARTITION BY _id ORDER BY filename, file_row_number)``."""
    order = exp.Order(
        expressions=[exp.Ordered(this=_column(FILENAME)), exp.Ordered(this=_column(ROW_NUMBER))]
    )
    return exp.Window(this=exp.RowNumber(), partition_by=[_column("_id")], order=order)


def _rows_of(part: Path) -> exp.Select:
    return (
        exp.select(_column(ROW_NUMBER))
        .from_(exp.to_table(DROPPED))
        .where(exp.EQ(this=_column(FILENAME), expression=exp.Literal.string(str(part))))
        .order_by(_column(ROW_NUMBER))
    )


def _read_parquet(files: Sequence[Path], *options: str) -> exp.ReadParquet:
    """``read_parquet(['f1', …], option = TRUE, …)``."""
    paths = exp.Array(expressions=[exp.Literal.string(str(path)) for path in files])
    flags = [exp.EQ(this=exp.column(option), expression=exp.true()) for option in options]
    return exp.ReadParquet(expressions=[paths, *flags])


def _column(name: str) -> exp.Column:
    return exp.column(name, quoted=True)
