"""One version for the Python package and the dbt package it carries, and a clear error naming
both versions and the fix when a project installed, or built its manifest with, another one."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path

import featurehouse
import pytest
import yaml
from click.testing import CliRunner
from featurehouse.api.context import Context
from featurehouse.cli import cli
from featurehouse.errors import OfflineStoreError
from featurehouse.project import render
from featurehouse.project.manifest import load_manifest
from featurehouse.project.package import (
    installed_package,
    package_dir,
    package_version,
)
from featurehouse.project.settings import load_project
from sync_fixtures import MINI_DIR

VERSION = featurehouse.__version__


def test_the_versions_agree() -> None:
    assert package_version(package_dir()) == VERSION
    assert importlib.metadata.version("featurehouse") == VERSION
    macro = (package_dir() / "macros" / "version.sql").read_text()
    assert f"return('{VERSION}')" in macro


def test_the_package_has_no_nodes_of_its_own() -> None:
    project = yaml.safe_load((package_dir() / "dbt_project.yml").read_text())
    assert project["name"] == "featurehouse"
    for key in ("model-paths", "seed-paths", "test-paths", "analysis-paths", "snapshot-paths"):
        assert project[key] == [], key
    assert sorted(p.name for p in package_dir().iterdir()) == ["dbt_project.yml", "macros"]


def copied_project(mini_env: dict[str, str], tmp_path: Path) -> Path:
    """The built mini project's files and target dir, with a real copy of the package."""
    root = tmp_path / "mini"
    shutil.copytree(MINI_DIR, root, ignore=shutil.ignore_patterns("dbt_packages", "target"))
    shutil.copytree(package_dir(), root / "dbt_packages" / "featurehouse")
    shutil.copytree(mini_env["DBT_TARGET_PATH"], root / "target")
    return root


def run_list(root: Path, mini_env: dict[str, str]) -> tuple[int, str]:
    env = {**mini_env, "DBT_TARGET_PATH": str(root / "target"), "DBT_PROFILES_DIR": str(root)}
    done = CliRunner().invoke(cli, ["list", "--project-dir", str(root), "--json"], env=env)
    return done.exit_code, done.output


def test_a_project_on_another_version_is_refused(mini_env: dict[str, str], tmp_path: Path) -> None:
    root = copied_project(mini_env, tmp_path)
    assert run_list(root, mini_env)[0] == 0
    installed = installed_package(load_project(root, {}))
    assert installed is not None and installed.version == VERSION

    project_file = root / "dbt_packages" / "featurehouse" / "dbt_project.yml"
    project_file.write_text(project_file.read_text().replace(f'"{VERSION}"', '"0.0.9"'))
    code, output = run_list(root, mini_env)
    assert code == 1 and len(output.strip().splitlines()) == 1, output
    assert "featurehouse dbt package 0.0.9" in output and f"Python package is {VERSION}" in output
    assert "run `featurehouse deps`" in output

    project_file.write_text(project_file.read_text().replace('"0.0.9"', f'"{VERSION}"'))
    manifest_path = root / "target" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    macro = manifest["macros"]["macro.featurehouse.version"]
    macro["macro_sql"] = macro["macro_sql"].replace(VERSION, "0.0.8")
    manifest_path.write_text(json.dumps(manifest))
    assert load_manifest(manifest_path).package_version == "0.0.8"
    code, output = run_list(root, mini_env)
    assert code == 1 and "was built with the featurehouse dbt package 0.0.8" in output, output
    assert "then `dbt build`" in output


def test_a_project_without_the_package_is_told_how_to_get_it(
    mini_env: dict[str, str], tmp_path: Path
) -> None:
    root = copied_project(mini_env, tmp_path)
    shutil.rmtree(root / "dbt_packages")
    env = {**mini_env, "DBT_TARGET_PATH": str(root / "target"), "DBT_PROFILES_DIR": str(root)}
    context = Context(project_dir=root, env=env)
    call = "{{ featurehouse.version() }}"
    with pytest.raises(OfflineStoreError, match=r"not installed: run `featurehouse deps`$"):
        render.compile_inline(context.project, context.target, call, "the version")
    (root / "packages.yml").write_text("packages: []\n")
    with pytest.raises(OfflineStoreError, match=r"package: run `featurehouse init`$"):
        render.compile_inline(context.project, context.target, call, "the version")
