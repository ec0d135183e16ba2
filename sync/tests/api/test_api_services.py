"""Reads by feature service through the Python API and the CLI, on the demo synced at
2026-05-01 (its churn_model service): the online read and the training set name and order
the service's columns alike; without the dbt project the service comes from Redis; reads are
counted in the usage history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner
from featurehouse.api import FeatureStore
from featurehouse.cli import cli
from featurehouse.errors import RegistryError
from sync_fixtures import REPO_ROOT

CHURN = [
    "count_orders_7d",
    "count_orders_30d",
    "days_since_last_order",
    "count_sessions_1h",
    "count_page_views_1h",
    "count_add_to_carts_1h",
    "count_sessions_24h",
    "count_page_views_24h",
    "count_add_to_carts_24h",
    "count_sessions_7d",
    "count_page_views_7d",
    "count_add_to_carts_7d",
]
ROWS = [{"customer_id": 1151}, {"customer_id": 4}, {"customer_id": 987654}]


def test_online_and_training_columns_agree(fh_env: dict[str, str], synced: Any) -> None:
    store = FeatureStore(project_dir=REPO_ROOT)
    assert store.feature_service("churn_model").refs.columns() == CHURN
    online = store.get_online_features(service="churn_model", entity_rows=ROWS)
    columns = list(online.to_dict())
    assert columns[: 1 + len(CHURN)] == ["customer_id", *CHURN]
    assert columns[1 + len(CHURN) : 1 + 2 * len(CHURN)] == [f"{c}__status" for c in CHURN]
    by_refs = store.get_online_features(
        features=store.feature_service("churn_model").refs.refs, entity_rows=ROWS
    ).to_dict()
    for name in CHURN:
        assert online.to_dict()[name] == by_refs[name], name
    assert online.to_dict()["days_since_last_order__status"][2] == "not_found"

    spine = pa.table(
        {
            "customer_id": [1151, 4],
            "label_at": [dt.datetime(2026, 4, 20), dt.datetime(2026, 4, 30)],
            "churned": [False, True],
        }
    )
    train = store.get_historical_features(spine, service="churn_model")
    assert train.column_names[:3] == ["customer_id", "label_at", "churned"]
    assert train.column_names[3 : 3 + len(CHURN)] == CHURN  # the online read's, in its order
    assert set(train.column_names[3 + len(CHURN) :]) == {
        "feat_customer__orders__v1__effective_at",
        "feat_customer__activity__effective_at",
    }
    assert train.num_rows == 2 and train.column("count_orders_30d")[0].as_py() is not None


def test_a_service_from_redis_alone_and_its_usage(
    fh_env: dict[str, str], synced: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_project = FeatureStore(project_dir=REPO_ROOT).get_online_features(
        service="churn_model", entity_rows=ROWS
    )
    monkeypatch.chdir(tmp_path)  # no dbt project here: services and views come from Redis
    store = FeatureStore()
    before = {u.name: u.reads for u in store._context.store.usage()}
    answer = store.get_online_features(service="churn_model", entity_rows=ROWS)
    assert answer.to_dict() == with_project.to_dict()
    store.flush_usage()
    after = {u.name: (u.reads, u.entities) for u in store._context.store.usage()}
    assert after["churn_model"][0] == before.get("churn_model", 0) + 1
    assert after["feat_customer__orders.v1"][0] >= 1
    with pytest.raises(RegistryError, match=r"no feature service named 'nope'.*churn_model"):
        store.get_online_features(service="nope", entity_rows=ROWS)
    with pytest.raises(RegistryError, match="features or service"):
        store.get_online_features(["feat_customer__orders:count_orders_7d"], ROWS, service="x")


def test_cli_get_by_service(fh_env: dict[str, str], synced: Any) -> None:
    done = CliRunner().invoke(cli, ["get", "--service", "churn_model", "1151", "987654", "--json"])
    assert done.exit_code == 0, done.output
    rows = json.loads(done.output.split("\nonline store:")[0])
    assert [r["keys"] for r in rows] == [{"customer_id": 1151}, {"customer_id": 987654}]
    assert list(rows[0]["features"]) == CHURN
    assert rows[0]["features"]["days_since_last_order"]["status"] == "present"
    assert rows[1]["features"]["count_orders_7d"] == {"value": None, "status": "not_found"}
    both = CliRunner().invoke(cli, ["get", "--service", "churn_model", "1151", "-f", "x"])
    assert both.exit_code == 2 and "--features or --service" in both.output
    unknown = CliRunner().invoke(cli, ["get", "--service", "nope", "1151"])
    assert unknown.exit_code == 1 and "no feature service named 'nope'" in unknown.output
    listed = CliRunner().invoke(cli, ["services", "--json"])
    assert listed.exit_code == 0, listed.output
    service = json.loads(listed.output.split("\nonline store:")[0])[0]
    assert service["service"] == "churn_model" and service["columns"] == CHURN
    assert service["views"] == ["feat_customer__orders.v1"] * 3 + ["feat_customer__activity.v1"] * 9


def test_lineage_impact_and_deprecations_name_the_service(
    fh_env: dict[str, str], synced: Any
) -> None:
    runner = CliRunner()
    FeatureStore(project_dir=REPO_ROOT).get_online_features(service="churn_model", entity_rows=ROWS)

    def run(*args: str) -> Any:
        done = runner.invoke(cli, [*args, "--json"])
        assert done.exit_code == 0, done.output
        return json.loads(done.output.split("\nonline store:")[0])

    lineage = run("lineage", "feat_customer__orders.v1:days_since_last_order")
    [served] = lineage["feature_services"]  # from the raw column up to the model it feeds
    assert served["service"] == "churn_model"
    assert served["features"] == ["feat_customer__orders.v1:days_since_last_order"]
    assert run("lineage", "feat_customer__orders:count_orders_7d")["feature_services"] == []
    impact = run("impact", "raw_orders.status")
    [reader] = impact["feature_services"]
    assert reader["service"] == "churn_model" and reader["reads"] >= 1
    assert "feat_customer__orders.v1:count_orders_30d" in reader["features"]
    assert reader["last_read_at"] is not None
    rows = run("deprecations", "--within", "3650")
    assert rows[0]["view"] == "feat_customer__orders.v1"
    assert rows[0]["deprecation_date"] == "2026-12-31" and rows[0]["services"] == ["churn_model"]
    text = runner.invoke(cli, ["deprecations", "--within", "3650"]).output
    assert "feat_customer__orders.v1  deprecated" in text and "pinned by churn_model" in text


def test_feature_logging_moves_to_the_warehouse(
    fh_env: dict[str, str], synced: Any, demo_build: Any
) -> None:
    import duckdb

    store = FeatureStore(project_dir=REPO_ROOT)
    online = store._context.store
    online.drop_logged([i for i, _ in online.logged_rows(100_000)])
    store._usage._chance = lambda: 0.0  # churn_model logs 1% of rows: here, every row
    store.get_online_features(service="churn_model", entity_rows=ROWS)
    store.flush_usage()
    logged = online.logged_rows(100)
    assert len(logged) == len(ROWS)
    assert (
        logged[0][1].values["days_since_last_order"]
        == store.get_online_features(service="churn_model", entity_rows=ROWS[:1]).to_dict()[
            "days_since_last_order"
        ][0]
    )
    done = CliRunner().invoke(cli, ["usage", "--export-log", "--json"])
    assert done.exit_code == 0, done.output
    assert f"feature log: moved {len(ROWS)} row(s)" in done.output
    assert online.logged_rows(100) == []
    ids = [i for i, _ in logged]
    with duckdb.connect(str(demo_build.duckdb_path), read_only=True) as connection:
        found = connection.execute(
            "select log_id, service, entity, statuses from featurehouse_monitoring.feature_log "
            f"where log_id in ({', '.join('?' * len(ids))}) order by log_id",
            ids,
        ).fetchall()
    assert [r[0] for r in found] == sorted(ids)
    assert {r[1] for r in found} == {"churn_model"}
    assert json.loads(found[0][2]) in ROWS


def test_cli_dataset_by_service(fh_env: dict[str, str], synced: Any, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    spine = tmp_path / "spine.parquet"
    pq.write_table(pa.table({"customer_id": [1151], "label_at": [dt.datetime(2026, 4, 20)]}), spine)
    out = tmp_path / "train.parquet"
    args = ["dataset", "--spine", str(spine), "--service", "churn_model", "-o", str(out), "-q"]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    assert pq.read_schema(out).names[2 : 2 + len(CHURN)] == CHURN
    both = CliRunner().invoke(cli, [*args, "-f", "feat_customer__orders:count_orders_7d"])
    assert both.exit_code == 2 and "--features or --service" in both.output
