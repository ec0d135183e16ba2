"""The Python API: FeatureStore.get_online_features as dict, rows and Arrow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest
from featurehouse.api import FeatureStore
from featurehouse.errors import FeaturehouseError
from sync_fixtures import REPO_ROOT


def test_get_online_features_dict_and_arrow(fh_env: dict[str, str], synced: Any) -> None:
    store = FeatureStore(project_dir=REPO_ROOT)
    result = store.get_online_features(
        features=[
            "feat_customer__orders:count_orders_30d",
            "feat_customer__orders.v1:count_orders_30d",
            "feat_customer__orders:sum_order_amount_30d",
        ],
        entity_rows=[{"customer_id": 1151}, {"customer_id": -5}],
    )
    columns = result.to_dict()
    assert columns["customer_id"] == [1151, -5]
    v2, v1 = (
        columns["feat_customer__orders__count_orders_30d"],
        columns["feat_customer__orders__v1__count_orders_30d"],
    )
    assert v2[0] > 0 and v1[0] is not None and v2[1] is None and v1[1] is None
    assert columns["sum_order_amount_30d"][0] > 0  # unique name: no prefix
    assert columns["sum_order_amount_30d__status"] == ["present", "not_found"]
    assert columns["feat_customer__orders__event_at"] == [datetime(2026, 5, 1), None]
    assert columns["feat_customer__orders__v1__event_at"][1] is None
    with pytest.warns(DeprecationWarning, match="is now 'feat_customer__orders__count_orders_30d'"):
        assert columns["feat_customer__orders.v2__count_orders_30d"] == v2  # the old spelling
    with pytest.warns(DeprecationWarning):
        assert columns["feat_customer__orders.v1__event_at"][1] is None
    with pytest.raises(KeyError):
        columns["feat_customer__orders.v3__count_orders_30d"]
    table = result.to_arrow()
    assert isinstance(table, pa.Table) and table.num_rows == 2
    assert table.schema.field("sum_order_amount_30d").type == pa.float64()
    assert result.rows()[0]["customer_id"] == 1151


def test_several_entities_and_views_in_one_call(fh_env: dict[str, str], synced: Any) -> None:
    store = FeatureStore(project_dir=REPO_ROOT)
    result = store.get_online_features(
        features=[
            "feat_product__popularity:count_views_7d",
            "feat_customer__orders:count_orders_90d",
        ],
        entity_rows=[{"customer_id": 1151, "product_id": 1}],
        full_feature_names=True,
    )
    row = result.rows()[0]
    assert row["feat_product__popularity__count_views_7d__status"] == "present"
    assert row["feat_customer__orders__count_orders_90d"] > 0
    with pytest.warns(DeprecationWarning):
        assert row["feat_product__popularity.v1__count_views_7d__status"] == "present"


def test_without_a_project_redis_alone_resolves(
    fh_env: dict[str, str], synced: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no dbt_project.yml here or above
    store = FeatureStore()
    result = store.get_online_features(
        features=["feat_customer__orders:count_orders_90d"], entity_rows=[{"customer_id": "1151"}]
    )
    assert result.to_dict()["count_orders_90d"][0] > 0  # "1151" coerced to the int key
    assert "***" not in store.redis_url


def test_bad_references(fh_env: dict[str, str], synced: Any) -> None:
    store = FeatureStore(project_dir=REPO_ROOT)
    with pytest.raises(FeaturehouseError, match="has no feature 'nope'"):
        store.get_online_features(["feat_customer__orders:nope"], [{"customer_id": 1}])
    with pytest.raises(FeaturehouseError, match="no features asked for"):
        store.get_online_features([], [{"customer_id": 1}])
