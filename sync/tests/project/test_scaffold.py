"""`featurehouse init --view`'s decisions from a model's columns and tests: the key from a
`unique` test, the entity from the key, the event timestamp from the names, casts to the types
the store serves, and the reason given for each guess. The files themselves are built by dbt in
test_consumer_project.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from featurehouse.errors import ConfigError
from featurehouse.project.manifest import Column, Manifest, Node
from featurehouse.project.registry import build_registry
from featurehouse.project.scaffold import WarehouseColumn, find_model, parse_columns, plan_view
from featurehouse.project.scaffold_text import files_for, view_sql, view_yml

MODEL = Node("model.shop.customers", "model", "customers", "shop")
COLUMNS = [
    WarehouseColumn("customer_id", "INTEGER"),
    WarehouseColumn("first_name", "VARCHAR"),
    WarehouseColumn("first_order", "DATE"),
    WarehouseColumn("most_recent_order", "DATE"),
    WarehouseColumn("number_of_orders", "BIGINT"),
    WarehouseColumn("customer_lifetime_value", "DECIMAL(38,2)"),
    WarehouseColumn("tags", "MAP(VARCHAR, VARCHAR)"),
]


def unique_test(column: str) -> Node:
    return Node(
        f"test.shop.unique_customers_{column}", "test", f"unique_customers_{column}", "shop",
        attached_node=MODEL.unique_id, test_name="unique", column_name=column,
    )  # fmt: skip


def manifest(*nodes: Node) -> Manifest:
    everything = {n.unique_id: n for n in (MODEL, *nodes)}
    return Manifest(Path("manifest.json"), "1.11.16", "duckdb", "shop", "", "", "", everything)


def test_guesses_from_a_unique_test_and_column_names() -> None:
    plan = plan_view(manifest(unique_test("customer_id")), MODEL, COLUMNS, "double")
    guesses = {g.what: g for g in plan.guesses}
    assert plan.name == "feat_customer__customers" and plan.keys == ("customer_id",)
    assert guesses["keys"].reason == "customers has a `unique` test on customer_id"
    assert plan.entity == "customer"
    assert guesses["entity"].reason == "the key customer_id without _id"
    assert plan.event_timestamp == "most_recent_order"
    assert "names the latest event" in guesses["event_timestamp"].reason
    columns = {c.name: c for c in plan.columns}
    assert [c.name for c in plan.columns][:2] == ["customer_id", "most_recent_order"]
    assert columns["customer_id"].expression == "cast(customer_id as bigint) as customer_id"
    assert columns["first_order"].data_type == "timestamp"
    assert columns["number_of_orders"].expression == "number_of_orders"
    assert columns["customer_lifetime_value"].data_type == "double"
    assert plan.left_out == ("tags (MAP(VARCHAR, VARCHAR): not a servable type)",)


def test_the_files_declare_a_feature_view_the_registry_accepts(tmp_path: Path) -> None:
    plan = plan_view(manifest(unique_test("customer_id")), MODEL, COLUMNS, "double precision")
    files = files_for(plan, tmp_path / "models")
    assert sorted(p.name for p in files) == [
        "feat_customer__customers.yml",
        "feat_customer__customers_v1.sql",
    ]
    assert all(p.parent == tmp_path / "models" / "features" / "customer" for p in files)
    doc = yaml.safe_load(view_yml(plan))
    [model] = doc["models"]
    assert model["versions"] == [{"v": 1}] and model["config"]["contract"] == {"enforced": True}
    store = model["config"]["meta"]["feature_store"]
    assert store == {"entity": "customer", "keys": ["customer_id"],
                     "event_timestamp": "most_recent_order", "online": True}  # fmt: skip
    assert "TODO(featurehouse): set the TTL" in view_yml(plan)
    [grain] = model["data_tests"]
    assert grain == {
        "featurehouse.unique_combination": {
            "arguments": {"combination_of_columns": ["customer_id", "most_recent_order"]}
        }
    }
    node = Node(
        "model.shop.feat_customer__customers.v1", "model", plan.name, "shop", version=1,
        latest_version=1, meta=model["config"]["meta"],
        columns=tuple(_column(c) for c in model["columns"]),
    )  # fmt: skip
    registry = build_registry(manifest(node))
    assert not registry.problems, registry.problems
    sql = view_sql(plan)
    assert "select * from {{ ref('customers') }}" in sql
    assert sql.endswith("select * from features\n")


def _column(spec: dict[str, str]) -> Column:
    return Column(spec["name"], spec["data_type"])


def test_without_a_time_column_the_build_time_is_the_event_timestamp() -> None:
    columns = [WarehouseColumn("store_id", "VARCHAR"), WarehouseColumn("n", "BIGINT")]
    plan = plan_view(manifest(), MODEL, columns, "double")
    assert plan.keys == ("store_id",) and "no unique test" in plan.guesses[0].reason
    assert plan.event_timestamp == "effective_at"
    assert plan.columns[1].expression == (
        "cast('{{ featurehouse.as_of() }}' as timestamp) as effective_at"
    )


def test_overrides_and_what_cannot_be_guessed() -> None:
    plan = plan_view(manifest(), MODEL, COLUMNS, "double", keys=["first_name"],
                     event_timestamp="first_order", name="feat_buyer__x")  # fmt: skip
    assert (plan.name, plan.keys, plan.event_timestamp) == (
        "feat_buyer__x",
        ("first_name",),
        "first_order",
    )
    with pytest.raises(ConfigError, match="pass --key COLUMN"):
        plan_view(manifest(), MODEL, [WarehouseColumn("n", "BIGINT")], "double")
    with pytest.raises(ConfigError, match="an entity key must be an integer or a string"):
        plan_view(manifest(), MODEL, COLUMNS, "double", keys=["first_order"])
    with pytest.raises(ConfigError, match="no column 'nope'"):
        plan_view(manifest(), MODEL, COLUMNS, "double", keys=["nope"])
    with pytest.raises(ConfigError, match=r"no model named 'customer' .*similar: customers"):
        find_model(manifest(), "customer")
    with pytest.raises(ConfigError, match="run `dbt build --select customers`"):
        parse_columns('{"columns": [], "double": "double"}', MODEL)
