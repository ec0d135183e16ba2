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


def test_postgres_streams_through_a_server_side_cursor() -> None:
    """The sync's read of Postgres (`Postgres.stream`) is a server-side cursor: while the
    stream is open the session holds the cursor and the client has the batches handed out
    only, so the sync's memory does not grow with the table; it is closed at the end."""
    from conftest import pg_connect
    from featurehouse.warehouse.postgres import Postgres

    connection = pg_connect()
    connection.autocommit = False  # a named cursor lives in a transaction, as in `open`
    pg = Postgres(connection)
    try:
        sql = "select g as id, repeat('x', 200) as pad from generate_series(1, 100000) g"
        stream = pg.stream(sql, {}, 5000)
        first = next(stream)
        cursors = pg.fetch_all("select name, is_holdable from pg_cursors", {})
        assert first.num_rows == 5000
        assert cursors == [("featurehouse_read", False)]
        sizes = [first.num_rows, *(b.num_rows for b in stream)]
        assert sizes == [5000] * 20
        assert pg.fetch_all("select name from pg_cursors", {}) == []
    finally:
        pg.close()
