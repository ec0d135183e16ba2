"""The same project builds on Spark (dbt-spark's session method, a local pyspark), and its
feature views and datasets equal DuckDB's, row for row (compare_support), read back as Arrow
through Featurehouse's own Spark warehouse; binding parameters as Spark SQL literals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from compare_support import assert_partitions_cover_once, differences, keys_by_partition
from featurehouse.api.context import Context
from featurehouse.warehouse import connect, query_arrow
from featurehouse.warehouse.spark import bind
from spark_support import spark_context

if TYPE_CHECKING:
    from conftest import DbtRun


def test_full_spark_build_succeeds(dbt_build_spark: DbtRun) -> None:
    build = dbt_build_spark
    assert build.returncode == 0 and not build.bad_results(), build.summary()


def test_features_and_datasets_equal_duckdb(
    dbt_build_duckdb: DbtRun, dbt_build_spark: DbtRun, redis_prefix: str
) -> None:
    context: Context = spark_context(dbt_build_spark, redis_prefix)
    with connect(context.project, context.target) as warehouse:
        problems = differences(
            dbt_build_duckdb,
            dbt_build_spark,
            lambda relation: query_arrow(warehouse, f"select * from {relation}", {}),
            "spark",
        )
    assert not problems, "Spark differs from DuckDB:\n" + "\n".join(problems)


def test_partitions_cover_every_entity_once(dbt_build_spark: DbtRun, redis_prefix: str) -> None:
    assert_partitions_cover_once(keys_by_partition(spark_context(dbt_build_spark, redis_prefix)))


@pytest.mark.fast
def test_parameters_bind_as_literals() -> None:
    sql = "select * from t where a <= :as_of and b > :since and c = ':as_of' and d = :other"
    params = {
        "as_of": datetime(2026, 5, 1, 12, 30),
        "since": datetime(2026, 5, 1, 14, 30, tzinfo=UTC).astimezone(),
    }
    assert bind(sql, params) == (
        "select * from t where a <= timestamp '2026-05-01 12:30:00' and "
        "b > timestamp '2026-05-01 14:30:00' and c = ':as_of' and d = :other"
    )
    assert bind("x = :name", {"name": "it's"}) == "x = 'it\\'s'"
