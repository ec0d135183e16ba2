"""Monitoring history: each `featurehouse drift` and `featurehouse sync` run appends its figures
to append-only tables in the warehouse (DuckDB here; Postgres in test_monitoring_postgres.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result
from featurehouse.api.context import Context
from featurehouse.cli import cli
from featurehouse.errors import ConfigError, OfflineStoreError
from featurehouse.warehouse import history
from sync_fixtures import REPO_ROOT


def run(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def warehouse_copy(base_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """base_env on a copy of the demo's DuckDB file (same name: it is the catalog's name)."""
    source = Path(base_env["FEATUREHOUSE_DUCKDB_PATH"])
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    prefix = base_env["FEATUREHOUSE_REDIS_PREFIX"] + ":history"
    return {**base_env, "FEATUREHOUSE_DUCKDB_PATH": str(copy), "FEATUREHOUSE_REDIS_PREFIX": prefix}


def _rows(path: str, sql: str) -> list[tuple]:
    with duckdb.connect(path, read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_drift_runs_append_rows(warehouse_copy: dict[str, str]) -> None:
    path = warehouse_copy["FEATUREHOUSE_DUCKDB_PATH"]
    started = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    first = run("drift", "feat_customer__orders", "--json", env=warehouse_copy)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    second = run("drift", "feat_customer__orders", env=warehouse_copy)
    assert (
        'history: appended 9 row(s) to "featurehouse_monitoring"."drift_history"' in second.stderr
    )
    skipped = run("drift", "feat_customer__orders", "--no-history", env=warehouse_copy)
    assert "history" not in skipped.stderr
    table = "featurehouse_monitoring.drift_history"
    columns = _rows(
        path,
        "select column_name, data_type from information_schema.columns where table_schema = "
        "'featurehouse_monitoring' and table_name = 'drift_history' order by ordinal_position",
    )
    assert [c for c, _ in columns] == list(history.DRIFT_HISTORY)
    runs = _rows(
        path,
        f"select run_id, count(*) from {table} where recorded_at >= '{started}' group by run_id",
    )
    assert len(runs) == 2 and all(n == 9 for _, n in runs)
    stored = _rows(
        path,
        f"select feature, psi, mean_shift_std, verdict, view, version, reference_start from "
        f"{table} where run_id = '{report['run_id']}' order by feature",
    )
    printed = {f["feature"]: f for f in report["features"]}
    for feature, psi, shift, verdict, view, version, reference_start in stored:
        assert psi == pytest.approx(printed[feature]["psi"])
        assert shift == pytest.approx(printed[feature]["mean_shift_std"])
        assert verdict == printed[feature]["verdict"]
        assert (view, version) == ("feat_customer__orders", 2)
        assert reference_start.isoformat() == report["reference"]["start"]
    assert "last_ordered_at" not in {row[0] for row in stored}  # skipped features are not rows


def test_sync_runs_append_rows(warehouse_copy: dict[str, str]) -> None:
    path = warehouse_copy["FEATUREHOUSE_DUCKDB_PATH"]
    synced = run(
        "sync", "-s", "feat_customer__orders.v2", "-s", "feat_product__popularity",
        "--as-of", "2026-05-01", "--json", env=warehouse_copy,
    )  # fmt: skip
    assert synced.exit_code == 0, synced.output
    printed = {v["view"]: v for v in json.loads(synced.stdout)["views"]}
    stored = _rows(
        path,
        "select view, version, mode, as_of, entities_written, generation, rows_skipped, forced,"
        " redis_prefix from featurehouse_monitoring.sync_history where redis_prefix = "
        f"'{warehouse_copy['FEATUREHOUSE_REDIS_PREFIX']}' and generation in "
        f"({', '.join(str(v['generation']) for v in printed.values())}) order by view",
    )  # (the session's other CLI syncs, same prefix, appended theirs to the file before)
    assert [(r[0], r[1]) for r in stored] == [
        ("feat_customer__orders", 2),
        ("feat_product__popularity", 1),
    ]
    for view, version, mode, as_of, written, generation, skipped, forced, prefix in stored:
        summary = printed[f"{view}.v{version}"]
        assert (mode, written, generation) == (
            "full",
            summary["entities_written"],
            summary["generation"],
        )
        assert as_of.isoformat() == "2026-05-01T00:00:00" and forced is None
        assert skipped == sum(summary["skipped"].values())
        assert prefix == warehouse_copy["FEATUREHOUSE_REDIS_PREFIX"]
    store = Context(project_dir=REPO_ROOT, env=warehouse_copy).store
    for state in store.views():
        store.delete(state.schema.view, state.schema.version)


def test_a_locked_warehouse_is_waited_for_then_reported(
    warehouse_copy: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = warehouse_copy["FEATUREHOUSE_DUCKDB_PATH"]
    context = Context(project_dir=REPO_ROOT, env=warehouse_copy)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True);"
         " time.sleep(60)", path],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr(history, "_WAIT_SECONDS", (0.1, 0.1))
        row = {"run_id": "locked", "view": "v"}
        with pytest.raises(OfflineStoreError, match=r"not appended .*read-write.*rerun when"):
            history.append(context.project, context.target, "sync_history", [row])
        busy = run("drift", "feat_customer__orders", env=warehouse_copy)
        assert busy.exit_code == 1 and "is a dbt run writing to it?" in busy.stderr
    finally:
        holder.kill()
        holder.wait()
    history.append(context.project, context.target, "sync_history", [row])
    stored = "select view from featurehouse_monitoring.sync_history where run_id = 'locked'"
    assert _rows(path, stored) == [("v",)]


def test_schema_setting(warehouse_copy: dict[str, str]) -> None:
    env = {**warehouse_copy, "FEATUREHOUSE_MONITORING_SCHEMA": "ops_monitoring"}
    context = Context(project_dir=REPO_ROOT, env=env)
    assert history.monitoring_schema(context.project) == "ops_monitoring"
    name = history.append(context.project, context.target, "drift_history", [{"run_id": "x"}])
    assert name == '"ops_monitoring"."drift_history"'
    bad = Context(project_dir=REPO_ROOT, env={**env, "FEATUREHOUSE_MONITORING_SCHEMA": "a;b"})
    with pytest.raises(ConfigError, match="use letters, digits and underscores"):
        history.monitoring_schema(bad.project)
