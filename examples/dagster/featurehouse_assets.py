"""Featurehouse on Dagster: the dbt project's models as assets (dagster-dbt, their tests as
asset checks) and the publish as one asset downstream of them, which gates on that build's
results and syncs exactly the feature views that passed (`featurehouse run --no-build`).

A refused view fails the publish asset (the view and its failing tests in its error) while the
views that passed are published and keep their lineage in Dagster. Set
FEATUREHOUSE_PROJECT_DIR (the dbt project); load with `dagster dev -f featurehouse_assets.py`.
Install: `pip install featurehouse[dagster]`.
"""

# No `from __future__ import annotations`: Dagster reads the context annotation as a type.
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, Definitions, Failure, MaterializeResult, asset
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

PROJECT_DIR = Path(os.environ.get("FEATUREHOUSE_PROJECT_DIR", ".")).resolve()
# Where dbt writes run_results.json: the place `featurehouse run --no-build` reads it from.
TARGET_DIR = PROJECT_DIR / os.environ.get("DBT_TARGET_PATH", "target")
FEATUREHOUSE = os.environ.get("FEATUREHOUSE_BIN", "featurehouse")
# Views to publish (empty: every online view's latest version).
SELECT = os.environ.get("FEATUREHOUSE_SELECT", "").split()

project = DbtProject(project_dir=PROJECT_DIR, target_path=TARGET_DIR)
project.prepare_if_dev()  # `dagster dev` parses the project; deploys ship a manifest
dbt = DbtCliResource(project_dir=project, dbt_executable=os.environ.get("DBT_EXECUTABLE", "dbt"))


@dbt_assets(manifest=project.manifest_path)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """`dbt build` of the selected models; a failing test fails its asset check but does not
    stop the publish, which refuses exactly the views it concerns."""
    invocation = dbt.cli(["build"], context=context, target_path=TARGET_DIR, raise_on_error=False)
    yield from invocation.stream()


@asset(deps=[dbt_models], description="Publish the feature views that passed to the online store.")
def online_features(context: AssetExecutionContext) -> MaterializeResult:
    selection = [arg for view in SELECT for arg in ("--select", view)]
    done = subprocess.run(
        [FEATUREHOUSE, "run", "--no-build", "--project-dir", str(PROJECT_DIR), "--json",
         "--quiet", *selection],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    reports = json.loads(done.stdout) if done.stdout.strip() else []
    if done.returncode != 0:
        raise Failure(description=done.stderr.strip() or "featurehouse run failed")
    [report] = reports
    published = [v for v in report["views"] if v["published"]]
    context.log.info(f"featurehouse run {report['run_id']}: published {len(published)} view(s)")
    return MaterializeResult(
        metadata={
            "run_id": report["run_id"],
            "as_of": str(report["as_of"]),
            "published": [v["view"] for v in published],
            "entities_written": sum(v["entities_written"] or 0 for v in published),
        }
    )


defs = Definitions(assets=[dbt_models, online_features], resources={"dbt": dbt})
