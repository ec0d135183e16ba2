"""Bad training-set requests: one FeaturehouseError naming what is wrong, raised before dbt
renders anything or DuckDB joins anything."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from featurehouse.api import FeatureStore
from featurehouse.errors import FeaturehouseError, TrainingSetError
from sync_fixtures import INTEGRATION_DIR, REPO_ROOT, read_json, write_json

AT = dt.datetime(2026, 4, 1)
GOOD = {"customer_id": [1151], "at": [AT]}
# Never rendered by any other test: if an error case reached dbt, its SQL would be cached.
FEATURES = ["feat_customer__activity:count_page_views_24h"]


def table(**columns: Any) -> pa.Table:
    return pa.table(columns)


CASES: dict[str, tuple[Any, list[str], dict[str, Any], str]] = {
    "no entity column": (
        table(product_id=[1], at=[AT]),
        FEATURES,
        {},
        "the spine table has no column 'customer_id' to join feat_customer__activity on",
    ),
    "no timestamp column": (
        table(customer_id=[1151]),
        FEATURES,
        {},
        "the spine table needs one timestamp column, found none",
    ),
    "two timestamp columns": (
        table(customer_id=[1151], at=[AT], seen_at=[AT]),
        FEATURES,
        {},
        "found several (at, seen_at)",
    ),
    "named timestamp missing": (
        table(**GOOD),
        FEATURES,
        {"timestamp_column": "ts"},
        "the spine table has no timestamp column 'ts'",
    ),
    "timestamp is text": (
        table(customer_id=[1151], at=["2026-04-01"]),
        FEATURES,
        {"timestamp_column": "at"},
        "column 'at' is string, not a timestamp or date",
    ),
    "key is text": (
        table(customer_id=["1151"], at=[AT]),
        FEATURES,
        {},
        "column 'customer_id' is string but feat_customer__activity keys 'customer_id' are "
        "bigint: cast it",
    ),
    "unknown feature": (table(**GOOD), ["feat_customer__orders:nope"], {}, "no feature 'nope'"),
    "unknown view": (table(**GOOD), ["feat_nope:x"], {}, "no feature view named 'feat_nope'"),
    "unknown version": (
        table(**GOOD),
        ["feat_customer__orders.v9:count_orders_7d"],
        {},
        "feat_customer__orders has no version 9",
    ),
    "not a reference": (table(**GOOD), ["count_orders_7d"], {}, "is not a feature reference"),
    "no features": (table(**GOOD), [], {}, "no features asked for"),
    "output clashes with the spine": (
        table(customer_id=[1151], at=[AT], feat_customer__activity__count_page_views_24h=[1]),
        FEATURES,
        {},
        "output column 'feat_customer__activity__count_page_views_24h' of "
        "feat_customer__activity clashes with the spine table",
    ),
    "bad query": (
        "select customer_id, at from no_such_table",
        FEATURES,
        {},
        "cannot read the spine query: DuckDB query failed",
    ),
    "not a spine": ([{"customer_id": 1151, "at": AT}], FEATURES, {}, "cannot use a list"),
}


def rendered(base_env: dict[str, str]) -> set[Path]:
    return set(Path(base_env["DBT_TARGET_PATH"], "featurehouse").rglob("*.sql"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_error_before_any_work(fh_env: dict[str, str], case: str) -> None:
    spine, features, options, expected = CASES[case]
    before = rendered(fh_env)
    with pytest.raises(FeaturehouseError) as error:
        FeatureStore(project_dir=REPO_ROOT).get_historical_features(spine, features, **options)
    message = str(error.value)
    assert expected in message, message
    assert "\n" not in message
    assert rendered(fh_env) == before, "dbt rendered SQL for a request that was bad"


def test_as_known_at_needs_a_created_timestamp(
    integration_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """fix_pit__visits (integration_tests/) declares no created_timestamp."""
    for key in list(os.environ):
        if key.startswith(("DBT_", "FEATUREHOUSE_")):
            monkeypatch.delenv(key)
    for key, value in integration_env.items():
        monkeypatch.setenv(key, value)
    before = rendered(integration_env)
    with pytest.raises(TrainingSetError) as error:
        FeatureStore(project_dir=INTEGRATION_DIR).get_historical_features(
            table(account_id=[1], merchant_id=[2], at=[AT]),
            ["fix_pit__visits:count_visits"],
            as_known_at=True,
        )
    message = str(error.value)
    assert "as_known_at needs a created_timestamp but fix_pit__visits declares none" in message
    assert rendered(integration_env) == before, "dbt rendered SQL for a request that was bad"


def test_every_problem_at_once(fh_env: dict[str, str]) -> None:
    spine = table(product_id=["1"], at=["x"])
    features = [*FEATURES, "feat_customer__orders:nope", "feat_product__popularity:count_views_1d"]
    with pytest.raises(TrainingSetError) as error:
        FeatureStore(project_dir=REPO_ROOT).get_historical_features(
            spine, features, timestamp_column="at"
        )
    message = str(error.value)
    assert message.startswith("4 problems with the training set request: "), message
    for part in (
        "no feature 'nope'",
        "'at' is string",
        "no column 'customer_id'",
        "column 'product_id' is string",
    ):
        assert part in message


def test_missing_and_broken_parquet(fh_env: dict[str, str], tmp_path: Path) -> None:
    store = FeatureStore(project_dir=REPO_ROOT)
    with pytest.raises(TrainingSetError, match=r"spine file .*missing\.parquet not found"):
        store.get_historical_features(tmp_path / "missing.parquet", FEATURES)
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    with pytest.raises(TrainingSetError, match=r"broken\.parquet is not Parquet"):
        store.get_historical_features(broken, FEATURES)
    good = tmp_path / "spine.parquet"
    pq.write_table(table(customer_id=pa.array([1151], pa.int32()), at=[AT]), good)
    small = [  # test_training.SMALL: rendered once for the session
        "feat_customer__orders.v1:count_orders_7d",
        "feat_customer__orders.v1:sum_order_amount_30d",
        "feat_customer__orders:count_orders_7d",
    ]
    out = store.get_historical_features(str(good), small)
    assert out.num_rows == 1 and out.column("customer_id").to_pylist() == [1151]


def test_view_not_built(fh_env: dict[str, str], target_copy: Path, monkeypatch: Any) -> None:
    """The manifest names a relation DuckDB does not have and run_results has no success."""
    manifest = read_json(target_copy / "manifest.json")
    node = next(n for n in manifest["nodes"].values() if n["name"] == "feat_customer__activity")
    node["alias"] = "feat_customer__activity_v1_never_built"
    write_json(target_copy / "manifest.json", manifest)
    results = read_json(target_copy / "run_results.json")
    results["results"] = [r for r in results["results"] if r["unique_id"] != node["unique_id"]]
    write_json(target_copy / "run_results.json", results)
    (target_copy / "catalog.json").unlink(missing_ok=True)
    monkeypatch.setenv("DBT_TARGET_PATH", str(target_copy))
    with pytest.raises(FeaturehouseError) as error:
        FeatureStore(project_dir=REPO_ROOT).get_historical_features(table(**GOOD), FEATURES)
    message = str(error.value)
    assert "feat_customer__activity_v1_never_built is not built" in message, message
    assert "run `dbt build --select feat_customer__activity.v1`" in message
