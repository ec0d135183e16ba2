"""Fixtures of the sync tests: the session's demo build as a Featurehouse project, synced once.

Loaded by conftest.py (`pytest_plugins`). Redis keys live under the session's own prefix,
removed at the end by conftest's `redis_key_prefix`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from featurehouse.api.context import Context
from featurehouse.project import render
from featurehouse.project.registry import FeatureView
from featurehouse.sync import materialize
from online_support import SHARED_URL

if TYPE_CHECKING:
    from conftest import DbtRun

REPO_ROOT = Path(__file__).resolve().parents[2]
INTEGRATION_DIR = REPO_ROOT / "integration_tests"
AS_OF = datetime(2026, 5, 1)


@pytest.fixture(scope="session")
def demo_build(dbt_build_duckdb: DbtRun) -> DbtRun:
    """The session's clean `dbt build` of the demo (fails every user if it is not clean)."""
    if dbt_build_duckdb.returncode != 0 or dbt_build_duckdb.bad_results():
        pytest.fail(f"the demo build is not clean:\n{dbt_build_duckdb.summary()}")
    return dbt_build_duckdb


@pytest.fixture(scope="session")
def redis_prefix(redis_key_prefix: str) -> str:
    """This session's Featurehouse prefix (under conftest's cleaned-up key prefix)."""
    return redis_key_prefix.rstrip(":") + ":sync"


@pytest.fixture(scope="session")
def base_env(demo_build: DbtRun, redis_prefix: str) -> dict[str, str]:
    """Environment pointing Featurehouse (and dbt) at the session build and Redis prefix."""
    return fh_environment(demo_build.target_dir, demo_build.duckdb_path, redis_prefix)


def fh_environment(
    target_dir: Path, duckdb_path: Path | None, prefix: str, project_dir: Path = REPO_ROOT
) -> dict[str, str]:
    """Featurehouse and dbt pointed at one build of project_dir (its profiles.yml)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DBT_", "FEATUREHOUSE_"))
    }
    env.update(
        {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_PROFILES_DIR": str(project_dir),
            "DBT_TARGET_PATH": str(target_dir),
            "DBT_LOG_PATH": str(target_dir.parent / "logs"),
            "FEATUREHOUSE_DUCKDB_PATH": str(duckdb_path),
            "FEATUREHOUSE_REDIS_URL": SHARED_URL,
            "FEATUREHOUSE_REDIS_PREFIX": prefix,
        }
    )
    if project_dir != REPO_ROOT:  # the demo's tests find it from the working directory
        env["DBT_PROJECT_DIR"] = str(project_dir)
    return env


@pytest.fixture
def fh_env(base_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """base_env applied to os.environ for one test (the API and CliRunner read it)."""
    for key in list(os.environ):
        if key.startswith(("DBT_", "FEATUREHOUSE_")):
            monkeypatch.delenv(key)
    for key, value in base_env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(REPO_ROOT)
    return base_env


@pytest.fixture(scope="session")
def context(base_env: dict[str, str]) -> Context:
    return Context(project_dir=REPO_ROOT, env=base_env)


def online_views(context: Context) -> list[FeatureView]:
    """Every version of every online view of the demo."""
    return [v for v in context.registry.views if v.online]


@pytest.fixture(scope="session")
def synced(context: Context) -> list[materialize.ViewSummary]:
    """Every online view version of the demo published at 2026-05-01, once per session."""
    options = materialize.SyncOptions(as_of=AS_OF, clock="as_of")
    refs = [v.ref for v in online_views(context)]
    return materialize.sync(
        context.project,
        context.target,
        context.artifacts,
        context.registry,
        refs,
        context.store,
        options,
    )


@pytest.fixture
def target_copy(demo_build: DbtRun, tmp_path: Path) -> Iterator[Path]:
    """A copy of the build's target dir (artifacts and rendered SQL) to edit freely."""
    copy = tmp_path / "target"
    shutil.copytree(demo_build.target_dir, copy, ignore=shutil.ignore_patterns("run", "compiled"))
    yield copy


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value))


MINI_DIR = REPO_ROOT / "sync" / "tests" / "fixtures" / "mini"


@pytest.fixture(scope="session")
def integration_env(fixtures_build: DbtRun, redis_prefix: str) -> dict[str, str]:
    """Featurehouse pointed at the integration-test project's build (fixture feature views)."""
    return fh_environment(
        fixtures_build.target_dir, fixtures_build.duckdb_path, redis_prefix, INTEGRATION_DIR
    )


@pytest.fixture(scope="session")
def mini_env(
    tmp_path_factory: pytest.TempPathFactory, redis_prefix: str, dbt_deps: None
) -> dict[str, str]:
    """The mini fixture project (ties, null keys, a composite key) built once; its env."""
    workdir = tmp_path_factory.mktemp("mini")
    return build_project(MINI_DIR, workdir, f"{redis_prefix}:mini")


def build_project(project_dir: Path, workdir: Path, prefix: str) -> dict[str, str]:
    """`dbt build` of a fixture project into `workdir` (its own target dir and DuckDB file);
    returns the environment that points Featurehouse at it. Fails the test if dbt fails."""
    env = fh_environment(
        workdir / "target", workdir / f"{project_dir.name}.duckdb", prefix, project_dir
    )
    done = subprocess.run(
        [render.dbt_executable(), "build"],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"dbt build of {project_dir} failed:\n{done.stdout[-3000:]}{done.stderr}")
    return env
