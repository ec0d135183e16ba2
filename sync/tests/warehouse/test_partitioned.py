"""Reading the latest rows in pieces: the key-hash partitions of DuckDB and Postgres cover
every entity exactly once, the read-ahead thread hands over batches, errors and a stop, and
DuckDB's held rows keep only what the read needs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pytest
from compare_support import assert_partitions_cover_once, keys_by_partition
from featurehouse.ahead import read_ahead
from featurehouse.api.context import Context
from featurehouse.project import render
from featurehouse.warehouse import connect
from featurehouse.warehouse.duckdb import DuckDB
from featurehouse.warehouse.latest import latest_rows, read_latest
from featurehouse.warehouse.partitioned import partition_count
from sync_fixtures import AS_OF, REPO_ROOT, fh_environment, online_views

if TYPE_CHECKING:
    from conftest import DbtRun


def test_duckdb_partitions_cover_every_entity_once(context: Context) -> None:
    assert_partitions_cover_once(keys_by_partition(context))


def test_postgres_partitions_cover_every_entity_once(
    dbt_build_postgres: DbtRun, pg_schema: str, redis_prefix: str
) -> None:
    env = fh_environment(dbt_build_postgres.target_dir, None, f"{redis_prefix}:pgpart")
    env["FEATUREHOUSE_PG_SCHEMA"] = pg_schema
    pg = Context(project_dir=REPO_ROOT, target_name="pg", env=env)
    assert_partitions_cover_once(keys_by_partition(pg))


class _Warehouse:
    def __init__(self, collects: bool) -> None:
        self.collects = collects


@pytest.mark.fast
def test_partition_count_only_where_results_are_collected() -> None:
    assert partition_count(_Warehouse(collects=False), 50_000_000) == 1  # type: ignore[arg-type]
    assert partition_count(_Warehouse(collects=True), 1_000_000) == 1  # type: ignore[arg-type]
    assert partition_count(_Warehouse(collects=True), 2_500_000) == 3  # type: ignore[arg-type]


def _numbered(n: int, fail_at: int | None = None, closed: list[bool] | None = None):
    try:
        for i in range(n):
            if i == fail_at:
                raise RuntimeError(f"warehouse failed at batch {i}")
            yield pa.record_batch({"i": [i]})
    finally:
        if closed is not None:
            closed.append(True)


@pytest.mark.fast
def test_read_ahead_hands_over_batches_errors_and_stops() -> None:
    got = [b.column(0)[0].as_py() for b in read_ahead(_numbered(50), depth=4)]
    assert got == list(range(50))
    with pytest.raises(RuntimeError, match="failed at batch 7"):
        list(read_ahead(_numbered(50, fail_at=7), depth=4))
    closed: list[bool] = []
    before = threading.active_count()
    reader = read_ahead(_numbered(10_000, closed=closed), depth=2)
    assert next(reader).column(0)[0].as_py() == 0
    reader.close()  # the consumer stops early (a failed publish): the thread ends, source closed
    assert closed == [True] and threading.active_count() == before


def test_duckdb_held_rows_read_as_the_macro_rows(context: Context) -> None:
    """The held table (the macro run once, for the stats and the read) is a table on DuckDB
    and reads, feature for feature, as the macro's own rows do."""
    views = online_views(context)
    sqls = render.latest_rows_sql(
        context.project, context.target, context.artifacts.manifest, views, "$as_of"
    )
    with connect(context.project, context.target) as warehouse:
        for view in views:
            direct = pa.Table.from_batches(
                list(read_latest(warehouse, view, sqls[view.ref], AS_OF, expired=True))
            )
            with latest_rows(warehouse, view, sqls[view.ref], AS_OF) as held:
                assert held != sqls[view.ref], view.ref  # a table of its own, not the macro
                rows = pa.Table.from_batches(
                    list(read_latest(warehouse, view, held, AS_OF, expired=True))
                )
            keys = [(k.name, "ascending") for k in view.keys]
            assert direct.num_rows > 0, view.ref
            assert rows.sort_by(keys).equals(direct.sort_by(keys)), view.ref


@pytest.mark.fast
def test_duckdb_holds_under_the_higher_cap_and_reads_under_the_lower(tmp_path: Path) -> None:
    """limit_memory(m, holding=h): the held table is built under h MB, everything after it
    (the stats, the read) runs under m again; a profile's memory_limit is left alone."""

    def limit(warehouse: DuckDB) -> str:
        return str(warehouse.fetch_all("select current_setting('memory_limit')", {})[0][0])

    warehouse = DuckDB(duckdb.connect(str(tmp_path / "w.duckdb")))
    warehouse.limit_memory(100, holding=300)
    lower = limit(warehouse)
    with warehouse.hold("select current_setting('memory_limit') as m", {}) as held:
        during = warehouse.fetch_all(held, {})[0][0]
        assert limit(warehouse) == lower
    warehouse.limit_memory(300)
    assert during == limit(warehouse) != lower
    warehouse.close()

    profiled = DuckDB(duckdb.connect(str(tmp_path / "p.duckdb")), {"memory_limit": "1GB"})
    before = limit(profiled)
    profiled.limit_memory(100, holding=300)
    with profiled.hold("select current_setting('memory_limit') as m", {}) as held:
        assert profiled.fetch_all(held, {})[0][0] == before == limit(profiled)
    profiled.close()
