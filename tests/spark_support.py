"""One SparkSession for the whole test run (starting one takes seconds): ``local[2]``, two
shuffle partitions and no whole-stage code generation (the test data is tiny: compiling the
generated Java for the wide compliance queries took 5x longer than running them). Runners
built here share it."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from segmint.engine.runners.spark import SparkRunner, session_conf, spark_session

SHUFFLE_PARTITIONS = 2
CONF = session_conf(
    shuffle_partitions=SHUFFLE_PARTITIONS, extra={"spark.sql.codegen.wholeStage": "false"}
)


def shared_session() -> SparkSession:
    return spark_session(CONF)


def spark_runner() -> SparkRunner:
    return SparkRunner(shuffle_partitions=SHUFFLE_PARTITIONS, session=shared_session())


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    return shared_session()
