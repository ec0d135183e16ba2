"""The same project builds on Postgres, and its feature views and datasets equal DuckDB's,
row for row (compare_support)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
from compare_support import differences

if TYPE_CHECKING:
    from conftest import DbtRun


def test_full_postgres_build_succeeds(dbt_build_postgres: DbtRun) -> None:
    build = dbt_build_postgres
    assert build.returncode == 0 and not build.bad_results(), build.summary()


def test_features_and_datasets_equal_duckdb(
    dbt_build_duckdb: DbtRun, dbt_build_postgres: DbtRun, pg_connection: Any
) -> None:
    problems = differences(
        dbt_build_duckdb,
        dbt_build_postgres,
        lambda relation: _read_postgres(pg_connection, relation),
        "postgres",
    )
    assert not problems, "Postgres differs from DuckDB:\n" + "\n".join(problems)


def _read_postgres(connection: Any, relation: str) -> pa.Table:
    with connection.cursor() as cursor:
        cursor.execute(f"select * from {relation}")
        names = [description[0] for description in cursor.description]
        rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table(
        {name: pa.array(list(values)) for name, values in zip(names, columns, strict=True)}
    )
