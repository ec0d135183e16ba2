"""The first render after `dbt build` starts from the build's parse (partial_parse.msgpack),
with the arguments that keep it valid (the build's --vars and --target)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from featurehouse.project.render import _compile_command, seed_partial_parse
from featurehouse.project.settings import Project, load_target

pytestmark = pytest.mark.fast


def _project(tmp_path: Path) -> Project:
    target = tmp_path / "target"
    target.mkdir()
    return Project(tmp_path, "p", "p", target, tmp_path)


def test_the_builds_parse_is_copied_when_newer(tmp_path):
    project = _project(tmp_path)
    (project.target_dir / "partial_parse.msgpack").write_bytes(b"build 1")
    ours = project.cache_dir / "dbt"
    seed_partial_parse(project, ours)
    assert (ours / "partial_parse.msgpack").read_bytes() == b"build 1"
    assert [p.name for p in ours.iterdir()] == ["partial_parse.msgpack"]  # no temporary left

    # dbt rewrote ours after a render: newer than the build's, so it stays.
    (ours / "partial_parse.msgpack").write_bytes(b"ours, newer")
    seed_partial_parse(project, ours)
    assert (ours / "partial_parse.msgpack").read_bytes() == b"ours, newer"

    # A new build: its parse replaces ours.
    built = project.target_dir / "partial_parse.msgpack"
    built.write_bytes(b"build 2")
    later = (ours / "partial_parse.msgpack").stat().st_mtime + 10
    os.utime(built, (later, later))
    seed_partial_parse(project, ours)
    assert (ours / "partial_parse.msgpack").read_bytes() == b"build 2"


def test_no_build_parse_leaves_dbt_to_parse_in_full(tmp_path):
    project = _project(tmp_path)
    seed_partial_parse(project, project.cache_dir / "dbt")
    assert not (project.cache_dir / "dbt" / "partial_parse.msgpack").exists()


PROFILES = """p:
  target: dev
  outputs:
    dev: {type: duckdb, path: dev.duckdb}
    ci: {type: duckdb, path: ci.duckdb}
"""


def _built(project: Project, args: dict) -> None:
    (project.profiles_dir / "profiles.yml").write_text(PROFILES)
    schema = "https://schemas.getdbt.com/dbt/run-results/v6.json"
    doc = {"metadata": {"dbt_schema_version": schema}, "results": [], "args": args}
    (project.target_dir / "run_results.json").write_text(json.dumps(doc))


def _target_args(command: list[str]) -> list[str]:
    if "--target" not in command:
        return []
    at = command.index("--target")
    return command[at : at + 2]


def test_the_compile_names_the_target_as_the_build_did(tmp_path):
    project = _project(tmp_path)
    _built(project, {"vars": {"a": 1}})
    dev, ci = load_target(project, "dev", {}), load_target(project, "ci", {})
    # The build named no target: the default one is named by none either (same parse).
    command = _compile_command(project, dev, "select 1")
    assert _target_args(command) == []
    assert command[command.index("--vars") + 1] == '{"a": 1}'
    # Another target than the default is named (dbt parses again, as it must).
    assert _target_args(_compile_command(project, ci, "select 1")) == ["--target", "ci"]
    # The build named its target: so does the compile.
    _built(project, {"target": "dev"})
    assert _target_args(_compile_command(project, dev, "select 1")) == ["--target", "dev"]
