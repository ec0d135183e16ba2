"""Training sets from Python on the Spark build (the spine registered in the Spark session,
`featurehouse.point_in_time_join` rendered for Spark): the same table as on DuckDB, value for
value, from a Parquet spine."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from compare_support import close
from featurehouse.api import FeatureStore
from featurehouse.api.context import Context
from spark_support import spark_context
from sync_fixtures import REPO_ROOT

if TYPE_CHECKING:
    from conftest import DbtRun

FEATURES = [
    "feat_customer__orders.v1:count_orders_7d",
    "feat_customer__orders:avg_order_amount_30d",  # latest: v2
    "feat_customer__activity:count_sessions_1h",
    "feat_customer__category_affinity:*",  # double[] among them
    "feat_product__popularity:conversion_rate_7d",
]


def spine(base_env: dict[str, str], n: int = 80) -> pa.Table:
    """Orders' customers and products at their order time, a day and a microsecond after it,
    before any data; an unknown and a null customer."""
    with duckdb.connect(base_env["FEATUREHOUSE_DUCKDB_PATH"], read_only=True) as connection:
        orders = connection.sql(
            "select o.customer_id, i.product_id, o.ordered_at from main.stg_shop__orders o"
            " join main.stg_shop__order_items i using (order_id) order by i.order_item_id"
        ).fetchall()
    rng = random.Random(17)
    rows = []
    for i in range(n):
        customer, product, at = rng.choice(orders)
        at += [dt.timedelta(0), dt.timedelta(days=1), dt.timedelta(microseconds=1)][i % 3]
        customer = {5: 10**12, 9: None}.get(i % 11, customer)
        rows.append({"customer_id": customer, "product_id": product, "at": at})
    rows.append({"customer_id": 1151, "product_id": 1, "at": dt.datetime(2020, 1, 1)})
    schema = pa.schema(
        [("customer_id", pa.int64()), ("product_id", pa.int64()), ("at", pa.timestamp("us"))]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def assert_same_table(got: pa.Table, expected: pa.Table, kind: str) -> None:
    assert got.column_names == expected.column_names, kind
    assert got.num_rows == expected.num_rows, kind
    for name in expected.column_names:
        pairs = zip(got.column(name).to_pylist(), expected.column(name).to_pylist(), strict=True)
        wrong = [(i, a, b) for i, (a, b) in enumerate(pairs) if not close(a, b)]
        assert not wrong, f"{kind}: {name} differs at (row, spark, duckdb) {wrong[:3]}"


def test_spark_training_set_equals_duckdb(
    dbt_build_spark: DbtRun, base_env: dict[str, str], redis_prefix: str, tmp_path: Path
) -> None:
    given = spine(base_env)
    duck = FeatureStore.from_context(Context(project_dir=REPO_ROOT, env=base_env))
    expected = duck.get_historical_features(given, FEATURES)
    matched = expected.column("feat_customer__orders__v1__effective_at").null_count
    assert 0 < matched < expected.num_rows  # some rows match, some do not
    # A Parquet spine: read into Arrow, then registered as an Arrow spine is (one call, as
    # each starts a Spark session twice: to check the request, then to run it).
    path = tmp_path / "spine.parquet"
    pq.write_table(given, path)
    spark = FeatureStore.from_context(spark_context(dbt_build_spark, f"{redis_prefix}:spark"))
    assert_same_table(spark.get_historical_features(path, FEATURES), expected, "parquet")
    # keep_order=False: no global sort; the same rows (equal spine columns: equal rows).
    keys = [(name, "ascending") for name in given.column_names]
    anyhow = spark.get_historical_features(given, FEATURES, keep_order=False)
    assert_same_table(anyhow.sort_by(keys), expected.sort_by(keys), "any order")
