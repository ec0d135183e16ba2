"""The dbt builds are clean: the demo's every node, and the integration tests' every node but
the cases that must fail; neither project gets a node from the featurehouse package."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import DbtRun

EXPECTED_TO_FAIL = frozenset({"must_fail", "bad_arguments"})


def test_full_duckdb_build_succeeds(dbt_build_duckdb: DbtRun) -> None:
    build = dbt_build_duckdb
    assert build.returncode == 0 and not build.bad_results(), build.summary()
    kinds = {kind for kind, _status in build.status_counts()}
    assert {"seed", "model", "test", "unit_test"} <= kinds, build.summary()


def test_the_demo_holds_only_its_own_nodes(dbt_build_duckdb: DbtRun) -> None:
    """The package adds macros, generic tests and its two hooks (on-run-start checks feature
    services, on-run-end records the sync's SQL), no model, seed or test; no fixture is part
    of the demo."""
    manifest = dbt_build_duckdb.manifest()
    nodes = [*manifest["nodes"].values(), *manifest["unit_tests"].values()]
    hooks = [n["unique_id"] for n in nodes if n["resource_type"] == "operation"]
    assert sorted(hooks) == [
        "operation.featurehouse.featurehouse-on-run-end-0",
        "operation.featurehouse.featurehouse-on-run-start-0",
    ]
    nodes = [n for n in nodes if n["resource_type"] != "operation"]
    assert {n["package_name"] for n in nodes} == {"featurehouse_demo"}
    fixtures = ("fix_", "pit_fixture", "must_fail", "must_pass", "bad_arguments")
    assert not [n["name"] for n in nodes if n["name"].startswith(fixtures)]
    macros = {m["package_name"] for m in manifest["macros"].values()}
    assert "featurehouse" in macros


def test_the_demo_feature_service_is_in_the_dag(dbt_build_duckdb: DbtRun) -> None:
    """churn_model is an exposure of type ml downstream of the two views it reads, one
    pinned to orders v1: what `dbt docs` draws in the lineage graph; the build ran its check."""
    manifest = dbt_build_duckdb.manifest()
    exposure = manifest["exposures"]["exposure.featurehouse_demo.churn_model"]
    assert exposure["type"] == "ml" and exposure["owner"]["name"] == "Growth analytics"
    assert sorted(exposure["depends_on"]["nodes"]) == [
        "model.featurehouse_demo.feat_customer__activity.v1",
        "model.featurehouse_demo.feat_customer__orders.v1",
    ]
    features = exposure["config"]["meta"]["feature_service"]["features"]
    assert "feat_customer__orders.v1:days_since_last_order" in features
    hook = [r for r in dbt_build_duckdb.results if r["unique_id"].startswith("operation.")]
    assert [r["status"] for r in hook] == ["success", "success"], hook  # start and end


def test_integration_build_is_clean_but_for_the_failing_cases(fixtures_build: DbtRun) -> None:
    manifest = fixtures_build.manifest()
    nodes = {**manifest["nodes"], **manifest["unit_tests"]}
    unexpected = [
        f"{r['unique_id']}: {r['status']}: {(r.get('message') or '')[:200]}"
        for r in fixtures_build.results
        if r["status"] not in ("success", "pass")
        and not EXPECTED_TO_FAIL & set(nodes[r["unique_id"]].get("tags", []))
    ]
    assert not unexpected, "\n".join(unexpected)
    packages = {n["package_name"] for n in nodes.values() if n["resource_type"] != "operation"}
    assert packages == {"featurehouse_integration_tests"}


def test_each_latest_version_has_its_unversioned_view(dbt_build_duckdb: DbtRun) -> None:
    """featurehouse.create_latest_version_view(), the features folder's post-hook."""
    import duckdb

    with duckdb.connect(str(dbt_build_duckdb.duckdb_path), read_only=True) as connection:
        for name, latest in (("feat_customer__orders", 2), ("feat_product__popularity", 1)):
            [(rows,)] = connection.execute(f"select count(*) from main.{name}").fetchall()
            [(latest_rows,)] = connection.execute(
                f"select count(*) from main.{name}_v{latest}"
            ).fetchall()
            assert rows == latest_rows > 0, name
        views = connection.execute(
            "select table_name from information_schema.tables where table_type = 'VIEW'"
        ).fetchall()
    assert ("feat_customer__orders_v1",) not in views
