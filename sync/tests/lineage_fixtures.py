"""Fixtures of the lineage and catalog tests: `dbt docs generate` over the session build, and
the lineage fixture project (SQL shapes, a python model, a point-in-time training set).

Loaded by conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import run_dbt
from sync_fixtures import REPO_ROOT, build_project

if TYPE_CHECKING:
    from conftest import DbtRun

LINEAGE_DIR = REPO_ROOT / "sync" / "tests" / "fixtures" / "lineage"


@pytest.fixture(scope="session")
def docs_target(demo_build: DbtRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo build's target dir with catalog.json and dbt docs' index.html."""
    workdir = tmp_path_factory.mktemp("dbt_docs")
    shutil.copytree(demo_build.target_dir, workdir / "target")
    done = run_dbt(
        ["docs", "generate", "--target", "dev"], workdir, duckdb_path=demo_build.duckdb_path
    )
    if done.returncode != 0 or not (workdir / "target" / "catalog.json").exists():
        pytest.fail(f"dbt docs generate failed:\n{done.output[-3000:]}")
    return workdir / "target"


@pytest.fixture(scope="session")
def lineage_build(tmp_path_factory: pytest.TempPathFactory, dbt_deps: None) -> Path:
    """The lineage fixture project built once; returns its target dir."""
    workdir = tmp_path_factory.mktemp("lineage_project")
    build_project(LINEAGE_DIR, workdir, "fhtest-lineage")
    return workdir / "target"
