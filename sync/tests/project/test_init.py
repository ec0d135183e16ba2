"""`featurehouse init` edits packages.yml as text: the entry is added once, other entries and
comments stay byte for byte, and what it cannot edit safely it refuses, naming the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from featurehouse.cli import cli
from featurehouse.errors import ConfigError
from featurehouse.project.init import ENTRY, add_package, has_package, packages_file

PROJECT = "name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\n"
OURS = yaml.safe_load(ENTRY)[0]


def project(tmp_path: Path, packages: str | None = None, name: str = "packages.yml") -> Path:
    (tmp_path / "dbt_project.yml").write_text(PROJECT)
    if packages is not None:
        (tmp_path / name).write_text(packages)
    return tmp_path


def entries(path: Path) -> list[object]:
    return yaml.safe_load(path.read_text())["packages"]


def test_a_new_packages_file(tmp_path: Path) -> None:
    result = add_package(project(tmp_path))
    assert result.changed and result.path == tmp_path / "packages.yml"
    assert entries(result.path) == [OURS]
    assert "FEATUREHOUSE_DBT_PACKAGE" in OURS["local"]


def test_other_entries_and_comments_stay_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    theirs = (
        "# pinned by the data platform team\n"
        "packages:\n"
        "    - package: dbt-labs/dbt_utils  # for surrogate keys\n"
        '      version: [">=1.1.0", "<2.0.0"]\n'
        "\n"
        "    # our shared macros\n"
        "    - local: ../shared\n"
        "\n"
    )
    path = project(tmp_path, theirs) / "packages.yml"
    assert add_package(tmp_path).changed
    text = path.read_text()
    assert text.startswith(theirs.rstrip("\n") + "\n    # Featurehouse"), text
    assert entries(path) == [
        {"package": "dbt-labs/dbt_utils", "version": [">=1.1.0", "<2.0.0"]},
        {"local": "../shared"},
        OURS,
    ]
    assert not add_package(tmp_path).changed
    assert path.read_text() == text


def test_keys_after_the_packages_block_and_an_empty_list(tmp_path: Path) -> None:
    path = project(tmp_path, "packages: []\nprojects:\n  - name: core\n", "dependencies.yml")
    assert packages_file(tmp_path) == tmp_path / "dependencies.yml"
    add_package(tmp_path)
    doc = yaml.safe_load((tmp_path / "dependencies.yml").read_text())
    assert doc == {"packages": [OURS], "projects": [{"name": "core"}]}
    assert not (path / "packages.yml").exists()


def test_an_existing_featurehouse_entry_is_left_alone(tmp_path: Path) -> None:
    git = "packages:\n  - git: https://github.com/acme/featurehouse.git\n    revision: v0.1.0\n"
    project(tmp_path, git)
    assert has_package(tmp_path) and not add_package(tmp_path).changed
    assert (tmp_path / "packages.yml").read_text() == git


def test_what_cannot_be_edited_safely_is_refused(tmp_path: Path) -> None:
    project(tmp_path, "packages: [{local: ../shared}]\n")
    with pytest.raises(ConfigError, match=r"written on one line.*add this entry yourself"):
        add_package(tmp_path)
    project(tmp_path, "packages: {local: x}\n")
    with pytest.raises(ConfigError, match="expected `packages:` to be a list"):
        add_package(tmp_path)
    project(tmp_path, "packages:\n  - local: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        add_package(tmp_path)


def test_the_command_prints_the_entry_and_next_steps(tmp_path: Path) -> None:
    project(tmp_path)
    runner = CliRunner()
    first = runner.invoke(cli, ["init", "--project-dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert "Added the featurehouse dbt package" in first.output
    assert "featurehouse deps" in first.output and "featurehouse init --view" in first.output
    again = runner.invoke(cli, ["init", "--project-dir", str(tmp_path), "--json"])
    assert again.exit_code == 0 and '"changed": false' in again.output
    missing = runner.invoke(cli, ["init", "--project-dir", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no dbt_project.yml" in missing.output


def test_deps_without_the_entry_says_run_init(tmp_path: Path) -> None:
    project(tmp_path, "packages:\n  - local: ../shared\n")
    done = CliRunner().invoke(cli, ["deps", "--project-dir", str(tmp_path)])
    assert done.exit_code == 1 and "run `featurehouse init` first" in done.output
    path = CliRunner().invoke(cli, ["deps", "--path"])
    assert Path(path.output.strip(), "dbt_project.yml").exists()
