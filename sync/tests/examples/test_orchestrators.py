"""The Airflow and Dagster examples (examples/), each loaded and executed in its own venv
(.cache/orchestrators/, built on first use from dev/orchestrators/) against a copy of the
session's demo build: Airflow's `dag.test()`, Dagster's `materialize()`. Each publishes
feat_product__popularity (built with its upstream) and leaves a run record."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orchestrator_venvs
import pytest
from cli_process import FEATUREHOUSE
from featurehouse.project.render import dbt_executable
from sync_fixtures import REPO_ROOT, fh_environment

if TYPE_CHECKING:
    from conftest import DbtRun

pytestmark = [pytest.mark.slow, pytest.mark.orchestrators]
VIEW = "feat_product__popularity"
TIMEOUT = 1800

AIRFLOW_TEST = """
import importlib.util, json, sys
from datetime import UTC, datetime
spec = importlib.util.spec_from_file_location("featurehouse_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
run = module.dag.test(logical_date=datetime(2026, 5, 1, tzinfo=UTC))
print(json.dumps({"state": str(run.state)}))
"""

DAGSTER_TEST = """
import importlib.util, json, sys
from dagster import AssetSelection, materialize
from dagster_dbt import get_asset_key_for_model
spec = importlib.util.spec_from_file_location("featurehouse_assets", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
view = get_asset_key_for_model([module.dbt_models], sys.argv[2])
selection = AssetSelection.assets(view).upstream() | AssetSelection.assets("online_features")
result = materialize(
    [module.dbt_models, module.online_features], resources={"dbt": module.dbt},
    selection=selection, raise_on_error=False,
)
published = result.asset_materializations_for_node("online_features")
print(json.dumps({
    "success": result.success,
    "metadata": {k: v.value for m in published for k, v in m.metadata.items()},
}, default=str))
"""


@pytest.fixture
def demo_copy(demo_build: DbtRun, tmp_path: Path, redis_prefix: str) -> dict[str, str]:
    """A copy of the session's demo build (DuckDB file and target dir), its environment."""
    target = tmp_path / "target"
    shutil.copytree(demo_build.target_dir, target, ignore=shutil.ignore_patterns("run", "compiled"))
    assert demo_build.duckdb_path is not None
    duckdb_path = tmp_path / "demo.duckdb"
    shutil.copy2(demo_build.duckdb_path, duckdb_path)
    env = fh_environment(target, duckdb_path, f"{redis_prefix}:{tmp_path.name}")
    env.update(
        FEATUREHOUSE_PROJECT_DIR=str(REPO_ROOT), FEATUREHOUSE_BIN=FEATUREHOUSE,
        FEATUREHOUSE_SELECT=VIEW, DBT_EXECUTABLE=dbt_executable(),
    )  # fmt: skip
    return env


def _run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _last_run(env: dict[str, str]) -> dict[str, Any]:
    done = _run([FEATUREHOUSE, "runs", "--json", "--limit", "1"], env, REPO_ROOT)
    assert done.returncode == 0, done.stderr
    [record] = json.loads(done.stdout)
    return record


def test_the_airflow_dag_runs_featurehouse_run(demo_copy: dict[str, str], tmp_path: Path) -> None:
    venv = orchestrator_venvs.venv("airflow")
    env = {
        **demo_copy,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "examples" / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    migrated = _run([str(venv / "bin" / "airflow"), "db", "migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
    dag_file = REPO_ROOT / "examples" / "airflow" / "featurehouse_dag.py"
    done = _run([str(venv / "bin" / "python"), "-c", AIRFLOW_TEST, str(dag_file)], env, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"state": "success"}
    record = _last_run(demo_copy)
    assert (record["status"], record["as_of"], record["selection"]) == (
        "ok", "2026-05-01T00:00:00", VIEW,
    )  # fmt: skip
    assert [(v["view"], v["published"]) for v in record["views"]] == [(VIEW, True)]


def test_the_dagster_assets_build_and_publish(demo_copy: dict[str, str], tmp_path: Path) -> None:
    venv = orchestrator_venvs.venv("dagster")
    env = {**demo_copy, "DAGSTER_HOME": str(tmp_path)}
    assets = REPO_ROOT / "examples" / "dagster" / "featurehouse_assets.py"
    done = _run(
        [str(venv / "bin" / "python"), "-c", DAGSTER_TEST, str(assets), VIEW], env, tmp_path
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["success"], done.stderr[-3000:]
    assert result["metadata"]["published"] == [f"{VIEW}.v1"]
    record = _last_run(demo_copy)
    assert record["run_id"] == result["metadata"]["run_id"]
    assert (record["status"], record["views_published"]) == ("ok", 1)
