"""Comparing a warehouse with DuckDB: the demo's builds row for row, the sync's served values,
and the key-hash partitions of the latest rows.

Row for row: every model under models/features/ and models/datasets/; the other side's rows
(Arrow) are loaded next to the DuckDB build in an in-memory DuckDB, both sides are sorted
(exact columns first, then float and array columns) and paired by position. Floats (also
inside arrays) may differ by 1e-9 relative; everything else must be equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from featurehouse.api.context import Context
from featurehouse.online import ReadRequest
from featurehouse.project import render
from featurehouse.sync import materialize
from featurehouse.warehouse import adapter, connect
from featurehouse.warehouse.latest import read_latest
from sync_fixtures import AS_OF, online_views

if TYPE_CHECKING:
    from conftest import DbtRun

COMPARED_FOLDERS = ("models/features/", "models/datasets/")
RELATIVE_TOLERANCE = 1e-9
MAX_REPORTED_ROWS = 3
INEXACT_TYPES = ("DOUBLE", "FLOAT", "REAL", "DECIMAL")
PARTITIONS = 3


def differences(
    duck_build: DbtRun, other_build: DbtRun, read_other: Callable[[str], pa.Table], name: str
) -> list[str]:
    """Per compared model, what differs between the DuckDB build and the other (`name`),
    whose relations `read_other(relation_name)` reads; [] when they are equal."""
    duck_nodes = compared_models(duck_build)
    other_nodes = compared_models(other_build)
    assert duck_nodes, "no feature views or datasets were built"
    assert duck_nodes.keys() == other_nodes.keys(), "the two builds built different models"
    problems = []
    with duckdb.connect() as scratch:
        for database in {database for database, _relation in duck_nodes.values()}:
            scratch.execute(f"attach '{duck_build.duckdb_path}' as \"{database}\" (read_only)")
        for unique_id in sorted(duck_nodes):
            scratch.register("other_arrow", read_other(other_nodes[unique_id][1]))
            problem = _difference(scratch, duck_nodes[unique_id][1], name)
            scratch.unregister("other_arrow")
            if problem:
                problems.append(f"{unique_id}: {problem}")
    return problems


def compared_models(build: DbtRun) -> dict[str, tuple[str, str]]:
    """unique_id -> (database, relation name) of the built feature views and datasets."""
    built = {r["unique_id"] for r in build.results if r["status"] == "success"}
    return {
        unique_id: (node["database"], node["relation_name"])
        for unique_id, node in build.manifest()["nodes"].items()
        if node["resource_type"] == "model"
        and node["original_file_path"].startswith(COMPARED_FOLDERS)
        and unique_id in built
    }


def _difference(scratch: duckdb.DuckDBPyConnection, duck_relation: str, name: str) -> str:
    """'' when equal, else what differs: columns, row count, or the first differing rows."""
    scratch.execute(f"create or replace temp table duck_side as select * from {duck_relation}")
    scratch.execute("create or replace temp table other_side as select * from other_arrow")
    duck_types = dict(
        scratch.execute("select column_name, column_type from (describe duck_side)").fetchall()
    )
    other_columns = [row[0] for row in scratch.execute("describe other_side").fetchall()]
    if list(duck_types) != other_columns:
        return f"columns differ: duckdb {list(duck_types)} vs {name} {other_columns}"
    counts = scratch.execute(
        "select (select count(*) from duck_side), (select count(*) from other_side)"
    ).fetchall()[0]  # fetchone would leave the result open: duckdb then refuses unregister
    if counts[0] != counts[1]:
        return f"row counts differ: duckdb {counts[0]} vs {name} {counts[1]}"
    inexact = [c for c, t in duck_types.items() if t.rstrip("[]").startswith(INEXACT_TYPES)]
    exact = [c for c in duck_types if c not in inexact]
    order = ", ".join(f'"{c}" nulls first' for c in (*exact, *inexact))
    equal = " and ".join(_equal_sql(c, duck_types[c], c in inexact) for c in duck_types)
    mismatches = scratch.execute(
        f"""
        with
        d as (select row_number() over (order by {order}) as _rn, * from duck_side),
        p as (select row_number() over (order by {order}) as _rn, * from other_side),
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
    shown = "; ".join(f"row {rn}: duckdb {d} vs {name} {p}" for _n, rn, d, p in mismatches)
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


def close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def assert_serves_like(
    other: Context, context: Context, synced: Sequence[Any], *, force: bool = False
) -> None:
    """Sync every online view version of the demo from `other` (a context on another
    warehouse's build, its own Redis prefix): the same entities, skips and served values as
    the DuckDB sync (`context`, `synced`); `force`: past the gate, for a build that left
    dbt's own generic tests out (Spark)."""
    refs = [v.ref for v in online_views(other)]
    summaries = materialize.sync(
        other.project,
        other.target,
        other.artifacts,
        other.registry,
        refs,
        other.store,
        materialize.SyncOptions(as_of=AS_OF, clock="as_of", force=force),
    )
    by_ref = {s.view: s for s in synced}
    assert {s.view for s in summaries} == {s.view for s in synced}
    for summary in summaries:
        assert summary.entities_written == by_ref[summary.view].entities_written, summary.view
        assert summary.skipped == by_ref[summary.view].skipped, summary.view  # ties counted alike
    for view in online_views(other):
        state = next(
            s
            for s in other.store.views()
            if (s.schema.view, s.schema.version) == (view.name, view.version)
        )
        assert state.rows > 0
        keys = [k.name for k in view.keys]
        entity_rows = [{k: row[k] for k in keys} for row in _some_keys(context, view)]
        request = ReadRequest(view=view.name, version=view.version)
        [from_other] = other.store.read([request], entity_rows, now=AS_OF)
        [from_duckdb] = context.store.read([request], entity_rows, now=AS_OF)
        assert from_other.event_at == from_duckdb.event_at, view.ref
        for mine, theirs in zip(from_other.values, from_duckdb.values, strict=True):
            assert all(close(a, b) for a, b in zip(mine, theirs, strict=True)), view.ref


def _some_keys(context: Context, view: Any) -> list[dict[str, Any]]:
    keys = ", ".join(f'"{k.name}"' for k in view.keys)
    sql = f'select distinct {keys} from "main"."{view.relation.alias}" order by {keys} limit 300'
    with duckdb.connect(str(context.target.settings["path"]), read_only=True) as connection:
        return connection.sql(sql).to_arrow_table().to_pylist()


def keys_by_partition(context: Context) -> dict[str, list[list[tuple[Any, ...]]]]:
    """Per online view version: the entity keys read whole, then of each partition."""
    views = online_views(context)
    placeholder = adapter(context.target).param("as_of")
    sqls = render.latest_rows_sql(
        context.project, context.target, context.artifacts.manifest, views, placeholder
    )
    found = {}
    with connect(context.project, context.target) as warehouse:
        for view in views:
            names = [k.name for k in view.keys]
            parts = [None, *((i, PARTITIONS) for i in range(PARTITIONS))]
            found[view.ref] = [
                _keys(read_latest(warehouse, view, sqls[view.ref], AS_OF, partition=p), names)
                for p in parts
            ]
    return found


def _keys(batches: Iterator[pa.RecordBatch], names: list[str]) -> list[tuple[Any, ...]]:
    table = pa.Table.from_batches(list(batches))
    return list(zip(*(table.column(n).to_pylist() for n in names), strict=True))


def assert_partitions_cover_once(found: dict[str, list[list[tuple[Any, ...]]]]) -> None:
    assert found
    for ref, (whole, *parts) in found.items():
        assert whole, ref
        assert sorted(k for part in parts for k in part) == sorted(whole), ref
        assert sum(1 for part in parts if part) > 1, f"{ref}: one partition got every entity"
