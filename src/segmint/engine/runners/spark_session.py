"""A :class:`~segmint.engine.runners.session.SqlSession` on Spark: the same sqlglot statements
as on DuckDB, generated in Spark SQL. A materialised table is a checkpointed DataFrame behind a
temporary view (so the lineage of a long label propagation does not grow), and a written table
is one Parquet file."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
from sqlglot import exp

from segmint.engine.runners.membership import QueryCancelled
from segmint.engine.runners.spark import read_parquet

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class SparkSqlSession:
    """Views and tables of one build, named with a private prefix in the shared session."""

    dialect = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.prefix = f"segmint_{uuid.uuid4().hex[:12]}_"
        self.group = f"segmint-profiles-{uuid.uuid4().hex}"
        self._names: dict[str, DataFrame] = {}

    def __enter__(self) -> SparkSqlSession:
        self.spark.sparkContext.setJobGroup(self.group, "profile views", interruptOnCancel=True)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name, frame in self._names.items():
            self.spark.catalog.dropTempView(self._view(name))
            frame.unpersist()
        self._names.clear()
        self.spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]

    def files(self, name: str, files: Sequence[Path], columns: Sequence[str] = ()) -> None:
        from pyspark.sql import functions as F

        if not files:
            raise ValueError(f"no files for {name!r}")
        frame = read_parquet(self.spark, files)
        chosen = [F.col(f"`{c}`") for c in columns] if columns else [F.col("*")]
        frame = frame.select(
            *chosen,
            # The scan writes file:/… where inputFiles() says file:///…: compare the paths.
            F.regexp_replace(F.col("_metadata.file_path"), "^file:/+", "/").alias("__uri"),
            F.col("_metadata.row_index").alias("file_row_number"),
        )
        names = self.spark.createDataFrame(_file_names(frame.inputFiles(), files))
        frame = frame.join(F.broadcast(names), "__uri").drop("__uri")
        self._register(name, frame, materialise=False)

    def arrow(self, name: str, table: pa.Table) -> None:
        self._register(name, self.spark.createDataFrame(table), materialise=True)

    def create(self, name: str, query: exp.Query) -> None:
        self._register(name, self._sql(query), materialise=True)

    def fetch(self, query: exp.Query) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._run(self._sql(query).collect)]

    def write(self, query: exp.Query, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".spark-", dir=path.parent))
        try:
            frame = self._sql(query).coalesce(1)
            self._run(lambda: frame.write.mode("overwrite").parquet(str(scratch / "out")))
            (part,) = sorted((scratch / "out").glob("part-*.parquet"))
            part.rename(path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def interrupt(self) -> None:
        self.spark.sparkContext.cancelJobGroup(self.group)

    def _sql(self, query: exp.Query) -> DataFrame:
        renamed = query.transform(self._rename)
        return self.spark.sql(renamed.sql(dialect=self.dialect))

    def _rename(self, node: exp.Expr) -> exp.Expr:
        named = isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier)
        if not named or node.name not in self._names:
            return node
        renamed = node.copy()
        renamed.set("this", exp.to_identifier(self._view(node.name)))
        if not renamed.alias:
            renamed.set("alias", exp.TableAlias(this=exp.to_identifier(node.name)))
        return renamed

    def _register(self, name: str, frame: DataFrame, *, materialise: bool) -> None:
        old = self._names.get(name)
        if materialise:
            frame = self._run(lambda: frame.localCheckpoint(eager=True))
        frame.createOrReplaceTempView(self._view(name))
        self._names[name] = frame
        if old is not None:
            old.unpersist()

    def _view(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _run(self, action: Any) -> Any:
        try:
            return action()
        except Exception as error:
            if "cancelled" in str(error).lower():
                raise QueryCancelled("the profile build was cancelled") from error
            raise


def _file_names(uris: Sequence[str], files: Sequence[Path]) -> pa.Table:
    """Spark's file URIs against the paths they were read from."""
    by_path = {str(Path(path).resolve()): str(path) for path in files}
    pairs = [
        ("/" + urlparse(uri).path.lstrip("/"), by_path.get(str(Path(unquote(urlparse(uri).path)))))
        for uri in uris
    ]
    missing = [uri for uri, path in pairs if path is None]
    if missing:
        raise RuntimeError(f"Spark read files it was not given: {missing[:3]}")
    return pa.table(
        {
            "__uri": pa.array([uri for uri, _ in pairs], pa.string()),
            "filename": pa.array([path for _, path in pairs], pa.string()),
        }
    )
