"""The `featurehouse run` tests' project (sync/tests/fixtures/runs) in a work dir of its own:
its environment, the ingestion stand-in (ingest.events, fresh or stale) and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from cli_process import FEATUREHOUSE
from featurehouse.api.context import Context
from sync_fixtures import REPO_ROOT, fh_environment

RUNS_DIR = REPO_ROOT / "sync" / "tests" / "fixtures" / "runs"
VIEWS = ("feat_country__orders.v1", "feat_customer__orders.v1", "feat_feed__events.v1")
FAILING_TEST = "assert_feat_country__orders__amounts_plausible"
RUN_TIMEOUT = 900


@dataclass(frozen=True)
class RunsProject:
    workdir: Path
    env: dict[str, str]

    @property
    def duckdb_path(self) -> Path:
        return Path(self.env["FEATUREHOUSE_DUCKDB_PATH"])

    @property
    def target_dir(self) -> Path:
        return Path(self.env["DBT_TARGET_PATH"])

    def feed(self, *, age: timedelta) -> None:
        """(Re)write ingest.events as an ingestion job would, loaded `age` ago."""
        loaded = datetime.now(UTC).replace(tzinfo=None) - age
        with duckdb.connect(str(self.duckdb_path)) as connection:
            connection.execute("create schema if not exists ingest")
            connection.execute(
                "create or replace table ingest.events as select * from (values "
                "(1::bigint, timestamp '2026-04-20 10:00:00', $loaded::timestamp), "
                "(2::bigint, timestamp '2026-04-21 11:00:00', $loaded::timestamp)) "
                "t(customer_id, event_at, loaded_at)",
                {"loaded": loaded},
            )

    def featurehouse(
        self, *args: str, timeout: float = RUN_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [FEATUREHOUSE, *args], cwd=RUNS_DIR, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [FEATUREHOUSE, *args], cwd=RUNS_DIR, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    def generations(self) -> dict[str, int]:
        """view ref -> the generation the online store serves."""
        context = Context(project_dir=RUNS_DIR, env=self.env)
        return {s.schema.ref: s.generation for s in context.store.views()}

    def runs(self) -> list[dict[str, Any]]:
        done = self.featurehouse("runs", "--json", "--limit", "50")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def runs_project(workdir: Path, prefix: str) -> RunsProject:
    env = fh_environment(workdir / "target", workdir / "runs.duckdb", prefix, RUNS_DIR)
    env["DBT_PROFILES_DIR"] = str(RUNS_DIR)
    env.pop("FEATUREHOUSE_DBT_PACKAGE", None)
    env["PATH"] = f"{Path(FEATUREHOUSE).parent}{os.pathsep}{env.get('PATH', '')}"
    return RunsProject(workdir, env)
