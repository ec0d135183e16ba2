"""Featurehouse pointed at the session's Spark build of the demo (its warehouse and metastore
in the build's temp dir)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from conftest import spark_environment
from featurehouse.api.context import Context
from sync_fixtures import REPO_ROOT, fh_environment

if TYPE_CHECKING:
    from conftest import DbtRun


def spark_env(build: DbtRun, prefix: str) -> dict[str, str]:
    """The environment of a Featurehouse command on the Spark build (`--target spark`)."""
    env = fh_environment(build.target_dir, None, prefix)
    env.update(spark_environment(build.target_dir.parent))
    env["DBT_TARGET"] = "spark"
    return env


def spark_context(build: DbtRun, prefix: str) -> Context:
    context = Context(project_dir=REPO_ROOT, target_name="spark", env=spark_env(build, prefix))
    assert context.target.type == "spark"
    return context
