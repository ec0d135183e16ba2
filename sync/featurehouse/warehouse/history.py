"""Monitoring history: append-only tables in the warehouse, one row per feature per drift run
and one per view version per sync, so trends can be queried and charted.

Tables live in schema `featurehouse_monitoring` (env FEATUREHOUSE_MONITORING_SCHEMA, var
featurehouse_monitoring_schema) and are created on first use. Rows are only ever inserted.
DuckDB allows one writer per file: while a dbt run holds the file the append waits a few
seconds, then gives up with an error the CLI prints as a warning.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from featurehouse.errors import ConfigError, OfflineStoreError
from featurehouse.project.settings import Project, Target, resolve
from featurehouse.warehouse import Warehouse, connect

log = logging.getLogger(__name__)
DEFAULT_SCHEMA = "featurehouse_monitoring"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WAIT_SECONDS = (0.5, 1.0, 2.0, 4.0)  # between attempts while the DuckDB file is locked

# column -> SQL type, in table order (DuckDB and Postgres both read these types).
DRIFT_HISTORY: dict[str, str] = {
    "run_id": "varchar",  # one id per `featurehouse drift` run
    "recorded_at": "timestamp",  # when the run finished (UTC)
    "target": "varchar",  # profiles.yml target measured
    "view": "varchar",  # feature view name
    "version": "integer",  # its version (null when unversioned)
    "feature": "varchar",  # column, or column[dimension] for an array dimension
    "kind": "varchar",  # numeric | categorical
    "reference_start": "timestamp",
    "reference_end": "timestamp",  # windows are [start, end)
    "current_start": "timestamp",
    "current_end": "timestamp",
    "n_reference": "bigint",  # rows in each window
    "n_current": "bigint",
    "null_rate_reference": "double precision",
    "null_rate_current": "double precision",
    "mean_reference": "double precision",  # numeric features only (else null)
    "mean_current": "double precision",
    "std_reference": "double precision",
    "mean_shift_std": "double precision",  # (mean_current - mean_reference) / std_reference
    "p50_reference": "double precision",
    "p50_current": "double precision",
    "p90_reference": "double precision",
    "p90_current": "double precision",
    "psi": "double precision",  # population stability index (null: a window had no values)
    "warn_psi": "double precision",  # thresholds applied
    "fail_psi": "double precision",
    "verdict": "varchar",  # ok | warn | fail
}
SYNC_HISTORY: dict[str, str] = {
    "run_id": "varchar",  # one id per `featurehouse sync` run
    "recorded_at": "timestamp",  # when the run finished (UTC)
    "target": "varchar",
    "view": "varchar",
    "version": "integer",
    "mode": "varchar",  # full | incremental
    "as_of": "timestamp",  # the as-of the rows were picked at
    "rows_read": "bigint",  # rows latest_feature_rows returned
    "entities_written": "bigint",  # entities published to Redis
    "rows_skipped": "bigint",  # null keys, lost tie-breaks, unchanged, older than stored
    "skipped": "varchar",  # the same per reason, as JSON
    "watermark": "timestamp",  # greatest created timestamp published
    "generation": "bigint",  # the Redis generation now served
    "seconds": "double precision",
    "forced": "varchar",  # gate problems --force overrode ('; '-separated), else null
    "redis_prefix": "varchar",
}
RUN_HISTORY: dict[str, str] = {
    "run_id": "varchar",  # one id per `featurehouse run`; a row when it starts, one at its end
    "recorded_at": "timestamp",  # when the row was written (UTC)
    "status": "varchar",  # running | ok | failed (a view refused, a node failed, an error)
    "started_at": "timestamp",
    "ended_at": "timestamp",  # null while running
    "seconds": "double precision",
    "target": "varchar",
    "as_of": "timestamp",  # the as-of the views were built and published at
    "clock": "varchar",  # as_of (a fixed --as-of) | wall (now)
    "selection": "varchar",  # the --select given ('' for every online view)
    "views_built": "bigint",  # view versions whose model built
    "views_published": "bigint",
    "views_refused": "bigint",  # view versions the gate refused
    "tests_passed": "bigint",  # tests of the build (dbt's results)
    "tests_failed": "bigint",
    "entities_written": "bigint",  # over the published views
    "message": "varchar",  # what failed, in one line (null when ok)
    "host": "varchar",
    "pid": "bigint",
    "redis_prefix": "varchar",
}
RUN_VIEWS: dict[str, str] = {
    "run_id": "varchar",
    "recorded_at": "timestamp",
    "view": "varchar",
    "version": "integer",
    "as_of": "timestamp",
    "build_status": "varchar",  # the model's dbt status: success | error | skipped | not run
    "tests_passed": "bigint",  # tests of the view and its upstream models
    "tests_failed": "bigint",
    "published": "boolean",
    "problems": "varchar",  # why the gate refused it, or why the publish failed ('; ')
    "generation": "bigint",  # the online generation now served (published views)
    "entities_written": "bigint",
    "seconds": "double precision",
}
FEATURE_LOG: dict[str, str] = {
    "log_id": "varchar",  # the row's id in the online store's log (for de-duplication)
    "served_at": "timestamp",  # when it was served (UTC)
    "service": "varchar",  # the feature service
    "entity": "varchar",  # its entity keys, as JSON
    "features": "varchar",  # column -> value served, as JSON
    "statuses": "varchar",  # column -> present | not_found | expired, as JSON
    "redis_prefix": "varchar",
}
TABLES = {
    "drift_history": DRIFT_HISTORY,
    "sync_history": SYNC_HISTORY,
    "run_history": RUN_HISTORY,
    "run_views": RUN_VIEWS,
    "feature_log": FEATURE_LOG,
}


# The column types above as Spark spells them (it has no `varchar` without a length).
_SPARK_TYPES = {"varchar": "string", "double precision": "double"}


def _column_type(warehouse: Warehouse, kind: str) -> str:
    return _SPARK_TYPES.get(kind, kind) if warehouse.adapter == "spark" else kind


def monitoring_schema(project: Project) -> str:
    """Env FEATUREHOUSE_MONITORING_SCHEMA, else var featurehouse_monitoring_schema, else default."""
    name = str(
        resolve(
            None,
            "FEATUREHOUSE_MONITORING_SCHEMA",
            "featurehouse_monitoring_schema",
            DEFAULT_SCHEMA,
            project=project,
            env=project.env,
        )
    )
    if not _NAME.match(name):
        raise ConfigError(f"monitoring schema {name!r}: use letters, digits and underscores")
    return name


def append(
    project: Project,
    target: Target,
    table: str,
    rows: Sequence[Mapping[str, Any]],
) -> str:
    """Insert `rows` into `<schema>.<table>` (created if missing); returns the table's name.

    Retries for a few seconds while another process (a dbt run) holds a DuckDB file."""
    columns = TABLES[table]
    schema = monitoring_schema(project)
    qualified = f'"{schema}"."{table}"'
    if not rows:
        return qualified
    waits = list(_WAIT_SECONDS)
    while True:
        try:
            with connect(project, target, writable=True) as warehouse:
                _create(warehouse, schema, qualified, columns)
                _insert(warehouse, qualified, columns, rows)
            return qualified
        except OfflineStoreError as exc:
            if not waits or "read-write" not in str(exc):
                raise OfflineStoreError(
                    f"{qualified} not appended ({exc}); the figures were printed, rerun when "
                    "no dbt run holds the warehouse"
                ) from exc
            log.info("warehouse busy, retrying the append in %.1fs", waits[0])
            time.sleep(waits.pop(0))


def _create(warehouse: Warehouse, schema: str, qualified: str, columns: Mapping[str, str]) -> None:
    warehouse.execute(f'create schema if not exists "{schema}"', {})
    body = ",\n    ".join(
        f'"{name}" {_column_type(warehouse, kind)}' for name, kind in columns.items()
    )
    warehouse.execute(f"create table if not exists {qualified} (\n    {body}\n)", {})


def _insert(
    warehouse: Warehouse,
    qualified: str,
    columns: Mapping[str, str],
    rows: Iterable[Mapping[str, Any]],
) -> None:
    names = list(columns)
    params: dict[str, Any] = {}
    values = []
    for i, row in enumerate(rows):
        placeholders = []
        for j, name in enumerate(names):
            key = f"r{i}c{j}"
            params[key] = row.get(name)
            kind = _column_type(warehouse, columns[name])
            placeholders.append(f"cast({warehouse.param(key)} as {kind})")
        values.append("(" + ", ".join(placeholders) + ")")
    column_list = ", ".join(f'"{n}"' for n in names)
    warehouse.execute(
        f"insert into {qualified} ({column_list}) values\n" + ",\n".join(values), params
    )
