"""The same project builds on Postgres, and its feature views and datasets equal DuckDB's.

Every model under models/features/ and models/datasets/ is compared row for row, order-free:
the Postgres rows are loaded (as Arrow) next to the DuckDB build in an in-memory DuckDB, both
sides are sorted (exact columns first, then float and array columns) and paired by position.
Floats (also inside arrays) may differ by 1e-9 relative; everything else must be equal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

if TYPE_CHECKING:
    from conftest import DbtRun

COMPARED_FOLDERS = ("models/features/", "models/datasets/")
RELATIVE_TOLERANCE = 1e-9
MAX_REPORTED_ROWS = 3
INEXACT_TYPES = ("DOUBLE", "FLOAT", "REAL", "DECIMAL")


def test_full_postgres_build_succeeds(dbt_build_postgres: DbtRun) -> None:
    build = dbt_build_postgres
    assert build.returncode == 0 and not build.bad_results(), build.summary()


def test_features_and_datasets_equal_duckdb(
    dbt_build_duckdb: DbtRun, dbt_build_postgres: DbtRun, pg_connection: Any
) -> None:
    duck_nodes = _compared_models(dbt_build_duckdb)
    pg_nodes = _compared_models(dbt_build_postgres)
    assert duck_nodes, "no feature views or datasets were built"
    assert duck_nodes.keys() == pg_nodes.keys(), "the two builds built different models"
    problems = []
    with duckdb.connect() as scratch:
        for database in {database for database, _relation in duck_nodes.values()}:
            scratch.execute(
                f"attach '{dbt_build_duckdb.duckdb_path}' as \"{database}\" (read_only)"
            )
        for unique_id in sorted(duck_nodes):
            scratch.register("pg_arrow", _read_postgres(pg_connection, pg_nodes[unique_id][1]))
            problem = _difference(scratch, duck_nodes[unique_id][1])
            scratch.unregister("pg_arrow")
            if problem:
                problems.append(f"{unique_id}: {problem}")
    assert not problems, "Postgres differs from DuckDB:\n" + "\n".join(problems)


def _compared_models(build: DbtRun) -> dict[str, tuple[str, str]]:
    """unique_id -> (database, relation name) of the built feature views and datasets."""
    built = {r["unique_id"] for r in build.results if r["status"] == "success"}
    return {
        unique_id: (node["database"], node["relation_name"])
        for unique_id, node in build.manifest()["nodes"].items()
        if node["resource_type"] == "model"
        and node["original_file_path"].startswith(COMPARED_FOLDERS)
        and unique_id in built
    }


def _read_postgres(connection: Any, relation: str) -> pa.Table:
    with connection.cursor() as cursor:
        cursor.execute(f"select * from {relation}")
        names = [description[0] for description in cursor.description]
        rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table(
        {name: pa.array(list(values)) for name, values in zip(names, columns, strict=True)}
    )


def _difference(scratch: duckdb.DuckDBPyConnection, duck_relation: str) -> str:
    """'' when equal, else what differs: columns, row count, or the first differing rows."""
    scratch.execute(f"create or replace temp table duck_side as select * from {duck_relation}")
    scratch.execute("create or replace temp table pg_side as select * from pg_arrow")
    duck_types = dict(
        scratch.execute("select column_name, column_type from (describe duck_side)").fetchall()
    )
    pg_columns = [row[0] for row in scratch.execute("describe pg_side").fetchall()]
    if list(duck_types) != pg_columns:
        return f"columns differ: duckdb {list(duck_types)} vs postgres {pg_columns}"
    counts = scratch.execute(
        "select (select count(*) from duck_side), (select count(*) from pg_side)"
    ).fetchone()
    if counts[0] != counts[1]:
        return f"row counts differ: duckdb {counts[0]} vs postgres {counts[1]}"
    inexact = [c for c, t in duck_types.items() if t.rstrip("[]").startswith(INEXACT_TYPES)]
    exact = [c for c in duck_types if c not in inexact]
    order = ", ".join(f'"{c}" nulls first' for c in (*exact, *inexact))
    equal = " and ".join(_equal_sql(c, duck_types[c], c in inexact) for c in duck_types)
    mismatches = scratch.execute(
        f"""
        with
        d as (select row_number() over (order by {order}) as _rn, * from duck_side),
        p as (select row_number() over (order by {order}) as _rn, * from pg_side),
        paired as (
            select d._rn, coalesce({equal}, false) as is_equal, d, p
            from d inner join p on d._rn = p._rn
        )
        select count(*) over () as n_differing, _rn, d, p
        from paired
        where not is_equal
        order by _rn
        limit {MAX_REPORTED_ROWS}
        """
    ).fetchall()
    if not mismatches:
        return ""
    shown = "; ".join(f"row {rn}: duckdb {d} vs postgres {p}" for _n, rn, d, p in mismatches)
    return f"{mismatches[0][0]} of {counts[0]} sorted rows differ ({shown})"


def _equal_sql(column: str, column_type: str, inexact: bool) -> str:
    """SQL that is true when d.<column> and p.<column> are equal (floats within tolerance)."""
    left, right = f'd."{column}"', f'p."{column}"'
    if not inexact:
        return f"({left} is not distinct from {right})"
    if not column_type.endswith("[]"):
        return f"({left} is not distinct from {right} or {_close_sql(left, right)})"
    elementwise = _close_sql(f"{left}[i]", f"{right}[i]")
    return (
        f"({left} is not distinct from {right} or (len({left}) = len({right})"
        f" and list_bool_and(list_transform(range(1, len({left}) + 1),"
        f" lambda i: {left}[i] is not distinct from {right}[i] or {elementwise}))))"
    )


def _close_sql(left: str, right: str) -> str:
    a, b = f"cast({left} as double)", f"cast({right} as double)"
    return f"abs({a} - {b}) <= {RELATIVE_TOLERANCE} * greatest(abs({a}), abs({b}))"
