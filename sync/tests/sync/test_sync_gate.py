"""The sync gate honours the monitoring tests: a view whose distribution_drift test fails is
refused unless --force; a drift that only warns is published."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from click.testing import CliRunner, Result
from featurehouse.api.context import Context
from featurehouse.cli import cli
from sync_fixtures import INTEGRATION_DIR, fh_environment

if TYPE_CHECKING:
    from conftest import DbtRun

VIEW = "must_fail__distribution_drift_numeric"


def run(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_failing_drift_test_refuses_the_sync_unless_forced(
    fixtures_build: DbtRun, redis_prefix: str
) -> None:
    env = fh_environment(
        fixtures_build.target_dir,
        fixtures_build.duckdb_path,
        f"{redis_prefix}:gate",
        INTEGRATION_DIR,
    )
    sync = ("sync", "-s", VIEW, "--as-of", "2026-05-01", "--no-history")
    refused = run(*sync, env=env)
    assert refused.exit_code == 1, refused.output
    [line] = refused.stderr.strip().splitlines()
    assert f"distribution_drift_{VIEW}_amount (fail)" in line and "pass --force" in line, line
    assert "__100__0_2" not in line  # the test that only warns does not block
    store = Context(project_dir=INTEGRATION_DIR, env=env).store
    assert not [s for s in store.views() if s.schema.view == VIEW]

    forced = run(*sync, "--force", "--json", env=env)
    assert forced.exit_code == 0, forced.output
    assert f"WARNING: --force published {VIEW} although:" in forced.stderr
    [summary] = json.loads(forced.stdout)["views"]
    assert summary["entities_written"] == 40
    assert any(f"distribution_drift_{VIEW}_amount" in p for p in summary["forced"])
    got = run("get", VIEW, "1", "--json", env=env)
    [row] = json.loads(got.stdout)
    # Customer 1's latest row (2026-04-30 00:10): amount 7 shifted by 2 x 11.55.
    assert row["features"]["amount"]["value"] == 7 + 23.1
    assert run("delete", VIEW, env=env).exit_code == 0
