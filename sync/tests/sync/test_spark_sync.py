"""Sync and parity from the Spark target (a local Spark session read as Arrow, the macro's
default__ variant held in a cached view): every online view version serves what the DuckDB
sync serves, and parity finds no mismatch."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner
from compare_support import assert_serves_like
from featurehouse.api.context import Context
from featurehouse.cli import cli
from spark_support import spark_context, spark_env

if TYPE_CHECKING:
    from conftest import DbtRun


def test_spark_sync_serves_what_duckdb_serves_and_parity_agrees(
    dbt_build_spark: DbtRun, redis_prefix: str, synced: Any, context: Context
) -> None:
    assert dbt_build_spark.returncode == 0, dbt_build_spark.summary()
    prefix = f"{redis_prefix}:spark"
    # forced: the gate rightly sees dbt's own generic tests not run (SPARK_EXCLUDED)
    assert_serves_like(spark_context(dbt_build_spark, prefix), context, synced, force=True)
    result = CliRunner().invoke(
        cli, ["parity", "--all", "--json"], env=spark_env(dbt_build_spark, prefix)
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["mismatched"] == 0, report
    for view in report["views"]:
        assert view["entities_compared"] == view["warehouse_entities"] == view["redis_entities"]
        assert view["values_compared"] > 0 and view["extra_in_redis"] == 0, view
