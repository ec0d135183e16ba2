"""Featurehouse on Airflow: one task a day runs `featurehouse run` (dbt build, the validation
gate, the sync of the views that passed, the run record) as of the run's logical date.

A refused view fails the task (exit 1, the view and its failing tests in the log) while the
views that passed are published; re-running a day's task is idempotent, and Airflow's own
backfill runs one task per past day. Copy this file into your DAGs folder and set
FEATUREHOUSE_PROJECT_DIR (the dbt project) and, if `featurehouse` is not on the workers' PATH,
FEATUREHOUSE_BIN. Install: `pip install featurehouse[airflow]`.
"""

from __future__ import annotations

import os
import shlex
from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

PROJECT_DIR = os.environ.get("FEATUREHOUSE_PROJECT_DIR", ".")
FEATUREHOUSE = os.environ.get("FEATUREHOUSE_BIN", "featurehouse")
# Views to build and publish (empty: the whole project, every online view's latest version).
SELECT = os.environ.get("FEATUREHOUSE_SELECT", "").split()

with DAG(
    dag_id="featurehouse",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # featurehouse also locks the project: a second run would refuse
    default_args={"retries": 1, "retry_delay": timedelta(minutes=10)},
    tags=["featurehouse"],
) as dag:
    selection = " ".join(f"--select {shlex.quote(view)}" for view in SELECT)
    BashOperator(
        task_id="build_validate_publish",
        # The slot's time is the as-of: the dbt var as_of and the sync's.
        bash_command=(
            f"{shlex.quote(FEATUREHOUSE)} run --project-dir {shlex.quote(PROJECT_DIR)} "
            f"{selection} --as-of {{{{ logical_date.strftime('%Y-%m-%dT%H:%M:%S') }}}} --quiet"
        ),
        # dbt and featurehouse read their settings (profiles, Redis URL) from the environment.
        append_env=True,
    )
