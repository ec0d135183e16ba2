"""The same project builds on Postgres, and its feature views and datasets equal DuckDB's.

Every model under models/features/ and models/datasets/ is compared row for row, order-free:
rows are normalised (numbers as floats, arrays as tuples), sorted, then compared column by
column; floats (also inside arrays) may differ by 1e-9 relative, everything else is exact.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import DbtRun

COMPARED_FOLDERS = ("models/features/", "models/datasets/")
RELATIVE_TOLERANCE = 1e-9
MAX_REPORTED_DIFFERENCES = 5


def test_full_postgres_build_succeeds(dbt_build_postgres: DbtRun) -> None:
    build = dbt_build_postgres
    assert build.returncode == 0 and not build.bad_results(), build.summary()


def test_features_and_datasets_equal_duckdb(
    dbt_build_duckdb: DbtRun, dbt_build_postgres: DbtRun, pg_connection: Any
) -> None:
    duck_nodes = _compared_models(dbt_build_duckdb)
    pg_nodes = _compared_models(dbt_build_postgres)
    assert duck_nodes.keys() == pg_nodes.keys(), "the two builds have different models"
    problems = []
    with duckdb.connect(str(dbt_build_duckdb.duckdb_path), read_only=True) as duck:
        for unique_id in sorted(duck_nodes):
            duck_columns, duck_rows = _read_duckdb(duck, duck_nodes[unique_id])
            pg_columns, pg_rows = _read_postgres(pg_connection, pg_nodes[unique_id])
            problem = _difference(duck_columns, duck_rows, pg_columns, pg_rows)
            if problem:
                problems.append(f"{unique_id}: {problem}")
    assert not problems, "Postgres differs from DuckDB:\n" + "\n".join(problems)


def _compared_models(build: DbtRun) -> dict[str, str]:
    """unique_id -> relation name for the built feature-view and dataset models."""
    built = {r["unique_id"] for r in build.results if r["status"] == "success"}
    return {
        unique_id: node["relation_name"]
        for unique_id, node in build.manifest()["nodes"].items()
        if node["resource_type"] == "model"
        and node["original_file_path"].startswith(COMPARED_FOLDERS)
        and unique_id in built
    }


def _read_duckdb(connection: duckdb.DuckDBPyConnection, relation: str) -> tuple[list, list]:
    cursor = connection.execute(f"select * from {relation}")
    return [d[0] for d in cursor.description], cursor.fetchall()


def _read_postgres(connection: Any, relation: str) -> tuple[list, list]:
    with connection.cursor() as cursor:
        cursor.execute(f"select * from {relation}")
        return [d[0] for d in cursor.description], cursor.fetchall()


def _normalise(value: Any) -> Any:
    """One comparable Python value per SQL value, whichever driver produced it."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return tuple(_normalise(item) for item in value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _sort_key(inexact_columns: frozenset[int]) -> Callable[[tuple], tuple]:
    """Order rows by their exact columns first, then float/array columns (rounded)."""

    def key(value: Any) -> tuple:
        if value is None:
            return (0, 0.0)
        if isinstance(value, float):
            return (1, float(f"{value:.9g}")) if not math.isnan(value) else (2, 0.0)
        if isinstance(value, tuple):
            return (1, tuple(key(item) for item in value))
        return (1, value)

    def row_key(row: tuple) -> tuple:
        exact = tuple(key(v) for i, v in enumerate(row) if i not in inexact_columns)
        inexact = tuple(key(v) for i, v in enumerate(row) if i in inexact_columns)
        return exact + inexact

    return row_key


def _close(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return math.isclose(left, right, rel_tol=RELATIVE_TOLERANCE)
    if isinstance(left, tuple) and isinstance(right, tuple):
        return len(left) == len(right) and all(map(_close, left, right))
    return left == right


def _difference(duck_columns: list, duck_rows: list, pg_columns: list, pg_rows: list) -> str:
    """'' when equal, else what differs: columns, row count, or the first differing rows."""
    if duck_columns != pg_columns:
        return f"columns differ: duckdb {duck_columns} vs postgres {pg_columns}"
    if len(duck_rows) != len(pg_rows):
        return f"row counts differ: duckdb {len(duck_rows)} vs postgres {len(pg_rows)}"
    duck_rows = [tuple(map(_normalise, row)) for row in duck_rows]
    pg_rows = [tuple(map(_normalise, row)) for row in pg_rows]
    inexact = frozenset(
        i
        for row in (*duck_rows, *pg_rows)
        for i, value in enumerate(row)
        if isinstance(value, float | tuple)
    )
    duck_sorted = sorted(duck_rows, key=_sort_key(inexact))
    pg_sorted = sorted(pg_rows, key=_sort_key(inexact))
    differences = [
        f"row {i}: duckdb {d} vs postgres {p}"
        for i, (d, p) in enumerate(zip(duck_sorted, pg_sorted, strict=True))
        if not all(map(_close, d, p))
    ]
    if not differences:
        return ""
    shown = "; ".join(differences[:MAX_REPORTED_DIFFERENCES])
    return f"{len(differences)} of {len(duck_rows)} rows differ ({shown})"
