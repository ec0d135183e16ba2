"""manifest.py and registry.py on the session build's real artifacts (edited copies for errors);
the rules themselves: test_feature_store.py (Python) and test_feature_store_rules.py (Jinja)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from featurehouse.errors import ManifestError, RegistryError
from featurehouse.project.manifest import load_artifacts, load_manifest
from featurehouse.project.registry import build_registry, validate_built
from sync_fixtures import read_json, write_json

V1 = "model.featurehouse_demo.feat_customer__orders.v1"
V2 = "model.featurehouse_demo.feat_customer__orders.v2"


def test_manifest_reads_v12_nodes_run_results(demo_build: Any) -> None:
    artifacts = load_artifacts(demo_build.target_dir)
    manifest = artifacts.manifest
    assert manifest.adapter_type == "duckdb" and manifest.dbt_version.startswith("1.11")
    assert manifest.nodes[V2].latest_version == 2 and manifest.nodes[V2].version == 2
    assert artifacts.run_results is not None
    assert artifacts.run_results.results[V2].status == "success"
    assert artifacts.catalog is None
    assert "seed.featurehouse_demo.raw_orders" in manifest.upstream(V2)
    assert any(t.resource_type == "test" for t in manifest.tests_of({V2}))


def test_manifest_other_schema_version_is_refused(demo_build: Any, tmp_path: Path) -> None:
    doc = read_json(demo_build.manifest_path)
    doc["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v11.json"
    path = tmp_path / "manifest.json"
    write_json(path, doc)
    with pytest.raises(ManifestError) as error:
        load_manifest(path)
    assert str(path) in str(error.value) and "v11" in str(error.value)
    assert "v12" in str(error.value)


def test_missing_manifest_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"manifest\.json not found: run `dbt build`"):
        load_artifacts(tmp_path)


def test_registry_from_the_real_manifest(demo_build: Any) -> None:
    registry = build_registry(load_artifacts(demo_build.target_dir).manifest)
    assert registry.problems == ()
    v2 = registry.resolve("feat_customer__orders")
    assert (v2.version, v2.latest_version, v2.is_latest) == (2, 2, True)
    assert v2.entity == "customer" and [k.name for k in v2.keys] == ["customer_id"]
    assert [k.online_type for k in v2.keys] == ["int64"]
    assert (v2.event_timestamp, v2.created_timestamp) == ("effective_at", "loaded_at")
    assert (v2.ttl, v2.ttl_seconds, v2.online) == ("1d", 86400, True)
    assert v2.owner and v2.description
    assert str(v2.relation).endswith("main.feat_customer__orders_v2")
    names = [f.name for f in v2.features]
    assert "customer_id" not in names and "effective_at" not in names
    assert "loaded_at" not in names
    assert v2.feature("count_orders_30d").online_type == "int64"
    assert v2.feature("sum_order_amount_30d").online_type == "float64"
    v1 = registry.resolve("feat_customer__orders.v1")
    assert (v1.version, v1.is_latest) == (1, False)
    assert v1.deprecation_date is not None


def test_references(demo_build: Any) -> None:
    registry = build_registry(load_artifacts(demo_build.target_dir).manifest)
    view, feature = registry.resolve_feature("feat_customer__orders.v1:count_orders_7d")
    assert (view.version, feature.name) == (1, "count_orders_7d")
    view, feature = registry.resolve_feature("feat_customer__orders:count_orders_30d")
    assert view.version == 2
    default = [v.ref for v in registry.select([])]  # latest version of every online view
    assert "feat_customer__orders.v2" in default and "feat_customer__orders.v1" not in default
    assert all(ref.startswith("feat_") for ref in registry.names())  # no fixture views
    cases = {
        "nope": "no feature view named 'nope'",
        "feat_customer__orders.v9": "feat_customer__orders has no version 9 (versions: ",
        "feat_customer__orders.x": "is not a view reference; use `name` or `name.vN`",
    }
    for ref, message in cases.items():
        with pytest.raises(RegistryError, match=message.replace("(", r"\(").replace(".", r"\.")):
            registry.resolve(ref)
    with pytest.raises(RegistryError, match="has no feature 'nope'"):
        registry.resolve_feature("feat_customer__orders:nope")
    with pytest.raises(RegistryError, match=r"use `view:feature` or `view\.vN:feature`"):
        registry.resolve_feature("feat_customer__orders")
    with pytest.raises(RegistryError, match=r"nope.*; .*no version 9"):
        registry.select(["nope", "feat_customer__orders.v9"])


def _broken(doc: dict[str, Any], edit: Any) -> str:
    node = doc["nodes"][V2]
    edit(node, node["config"]["meta"]["feature_store"])
    return V2


def _errors_for(demo_build: Any, tmp_path: Path, *edits: Any) -> str:
    doc = read_json(demo_build.manifest_path)
    for edit in edits:
        _broken(doc, edit)
    path = tmp_path / "manifest.json"
    write_json(path, doc)
    registry = build_registry(load_manifest(path))
    with pytest.raises(RegistryError) as error:
        registry.select(["feat_customer__orders.v1"])  # problems of the view block all versions
    message = str(error.value)
    assert "\n" not in message
    return message


VALIDATION_CASES = {
    "unknown key column": (
        lambda node, fs: fs.update(keys=["cust_id"]),
        "feat_customer__orders.v2 (meta.feature_store.keys): unknown column 'cust_id'",
    ),
    "unknown event timestamp": (
        lambda node, fs: fs.update(event_timestamp="happened_at"),
        "feat_customer__orders.v2 (meta.feature_store.event_timestamp): unknown column "
        "'happened_at'",
    ),
    "unknown created timestamp": (
        lambda node, fs: fs.update(created_timestamp="arrived_at"),
        "(meta.feature_store.created_timestamp): unknown column 'arrived_at'",
    ),
    "unparseable TTL": (
        lambda node, fs: fs.update(ttl="1 day"),
        "feat_customer__orders.v2 (meta.feature_store.ttl): '1 day' is not a duration: write "
        "a positive <int><s|m|h|d|w>",
    ),
    "unsupported column type": (
        lambda node, fs: node["columns"]["count_orders_30d"].update(data_type="interval"),
        "feat_customer__orders.v2 (columns): column 'count_orders_30d' has unsupported type "
        "'interval'",
    ),
    "missing data type": (
        lambda node, fs: node["columns"]["count_orders_30d"].update(data_type=None),
        "column 'count_orders_30d' has no data_type",
    ),
    "duplicate feature names": (
        lambda node, fs: node["columns"].update(
            COUNT_ORDERS_30D={**node["columns"]["count_orders_30d"], "name": "COUNT_ORDERS_30D"}
        ),
        "duplicate feature name 'COUNT_ORDERS_30D' (clashes with 'count_orders_30d')",
    ),
    "missing entity": (
        lambda node, fs: fs.pop("entity"),
        "(meta.feature_store.entity): missing",
    ),
    "key of an unsupported type": (
        lambda node, fs: fs.update(
            keys=["effective_at"], event_timestamp="loaded_at", created_timestamp=None
        ),
        "keys must be integers or strings",
    ),
}


@pytest.mark.parametrize("case", list(VALIDATION_CASES))
def test_every_validation_error_names_model_and_key(
    case: str, demo_build: Any, tmp_path: Path
) -> None:
    edit, expected = VALIDATION_CASES[case]
    message = _errors_for(demo_build, tmp_path, edit)
    assert expected in message, message


def test_all_problems_are_reported_at_once(demo_build: Any, tmp_path: Path) -> None:
    message = _errors_for(
        demo_build,
        tmp_path,
        lambda node, fs: fs.update(ttl="soon"),
        lambda node, fs: fs.update(keys=["cust_id"]),
        lambda node, fs: node["columns"]["count_orders_1d"].update(data_type="blob"),
    )
    assert message.startswith("3 feature view problems: "), message
    assert "'soon'" in message and "'cust_id'" in message and "'blob'" in message


def test_view_not_built_names_the_dbt_command(demo_build: Any, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    write_json(target / "manifest.json", read_json(demo_build.manifest_path))
    artifacts = load_artifacts(target)  # no run_results.json, no catalog.json
    registry = build_registry(artifacts.manifest)
    views = registry.select(["feat_customer__orders.v1", "feat_customer__orders.v2"])
    with pytest.raises(RegistryError) as error:
        validate_built(views, artifacts, relation_exists=lambda view: False)
    message = str(error.value)
    assert message.startswith("2 feature view problems")
    assert "run `dbt build --select feat_customer__orders.v1`" in message
    assert "run `dbt build --select feat_customer__orders.v2`" in message
    validate_built(views, artifacts, relation_exists=lambda view: True)  # relation exists: ok
    results = read_json(demo_build.run_results_path)
    write_json(target / "run_results.json", results)
    validate_built(views, load_artifacts(target))  # in run_results with success: ok


def test_run_results_failure_counts_as_not_built(demo_build: Any, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    write_json(target / "manifest.json", read_json(demo_build.manifest_path))
    results = read_json(demo_build.run_results_path)
    for result in results["results"]:
        if result["unique_id"] == V2:
            result["status"] = "error"
    write_json(target / "run_results.json", results)
    artifacts = load_artifacts(target)
    views = build_registry(artifacts.manifest).select(["feat_customer__orders"])
    with pytest.raises(RegistryError, match="is not built: run `dbt build --select"):
        validate_built(views, artifacts, relation_exists=lambda view: False)
