"""The monitoring tests and `featurehouse drift` on Postgres: the same verdicts and figures as
on DuckDB, and the history tables in a Postgres schema."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from featurehouse.cli import cli
from sync_fixtures import INTEGRATION_DIR, fh_environment

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import DbtRun

MONITORING_FIXTURES = [
    f"{kind}__{name}"
    for kind in ("must_fail", "must_pass")
    for name in (
        "distribution_drift_numeric",
        "distribution_drift_categorical",
        "row_count_anomaly",
    )
]


def run(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_monitoring_fixtures_on_postgres(dbt_runner: Callable[..., DbtRun], pg_schema: str) -> None:
    build = dbt_runner(
        ["build", "--target", "pg", "--select", *MONITORING_FIXTURES,
         "--vars", "{featurehouse_must_fail: true}"],
        "dbt_pg_monitoring",
        project_dir=INTEGRATION_DIR,
        pg_schema=f"{pg_schema}_fx",
    )  # fmt: skip
    nodes = build.manifest()["nodes"]
    tests = [r for r in build.results if r["unique_id"].startswith("test.")]
    assert len(tests) >= 15, build.summary()
    wrong = []
    for result in tests:
        node = nodes[result["unique_id"]]
        if "must_pass" in node["tags"]:
            expected = "pass"
        else:
            expected = node["config"]["meta"].get("expected_status", "fail")
        if result["status"] != expected:
            wrong.append(f"{result['unique_id']}: {result['status']}, expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_drift_on_postgres_equals_duckdb(
    dbt_build_postgres: DbtRun, pg_schema: str, base_env: dict[str, str], pg_connection: Any
) -> None:
    env = fh_environment(dbt_build_postgres.target_dir, None, base_env["FEATUREHOUSE_REDIS_PREFIX"])
    env["FEATUREHOUSE_PG_SCHEMA"] = pg_schema
    env["FEATUREHOUSE_MONITORING_SCHEMA"] = f"{pg_schema}_monitoring"
    args = ("drift", "feat_customer__orders.v2", "--json")
    on_postgres = run(*args, "--target", "pg", env=env)
    assert on_postgres.exit_code == 0, on_postgres.output
    on_duckdb = run(*args, "--no-history", env=base_env)
    pg_features = {f["feature"]: f for f in json.loads(on_postgres.stdout)["features"]}
    duck_features = {f["feature"]: f for f in json.loads(on_duckdb.stdout)["features"]}
    assert pg_features.keys() == duck_features.keys()
    for name, duck in duck_features.items():
        pg = pg_features[name]
        assert pg["verdict"] == duck["verdict"], name
        for key, value in duck.items():
            if isinstance(value, float):
                assert pg[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (name, key)
            else:
                assert pg[key] == value, (name, key)
    with pg_connection.cursor() as cursor:
        cursor.execute(
            f'select feature, psi from "{pg_schema}_monitoring".drift_history order by feature'
        )
        stored = dict(cursor.fetchall())
    assert stored.keys() == {n for n, f in pg_features.items() if f["verdict"] != "skipped"}
    for name, psi in stored.items():
        assert psi == pytest.approx(pg_features[name]["psi"])
