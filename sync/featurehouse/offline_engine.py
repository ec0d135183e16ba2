"""A stream consumer's private in-memory DuckDB: where a view is recomputed for a few entities.

It holds copies of what the chain reads from the warehouse (the source's rows, the other
relations) and the events the consumer landed, so the consumer never keeps the warehouse
file open: DuckDB lets one process write a file, and `dbt build` must be able to. With
`offline`, the only module importing duckdb.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from featurehouse import offline
from featurehouse.errors import OfflineStoreError
from featurehouse.settings import Project, Target

WAREHOUSE = "fh_warehouse"  # the warehouse file, attached read-only while copying from it
_INPUT = "fh_arrow_input"  # an Arrow table being loaded


class Engine:
    """One in-memory DuckDB database and connection; tables named by the caller."""

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.connection = duckdb.connect(":memory:")
        self.connection.execute("set TimeZone = 'UTC'")
        if threads:
            self.connection.execute(f"set threads = {int(threads)}")
        if memory_limit:
            self.connection.execute(f"set memory_limit = '{memory_limit}'")

    def replace(self, name: str, rows: pa.Table) -> None:
        """Create (or replace) table `name` holding `rows`."""
        with self.registered(_INPUT, rows):
            self.execute(f"create or replace table {_q(name)} as select * from {_INPUT}")

    def append(self, name: str, rows: pa.Table) -> None:
        """Insert `rows` into table `name`, matching columns by name."""
        with self.registered(_INPUT, rows):
            self.execute(f"insert into {_q(name)} by name select * from {_INPUT}")

    def append_parquet(self, name: str, paths: Sequence[Path]) -> None:
        """Insert the rows of Parquet files into table `name`, matching columns by name."""
        if paths:
            files = [str(p) for p in paths]
            self.execute(
                f"insert into {_q(name)} by name select * from read_parquet($files)",
                {"files": files},
            )

    def columns(self, name: str) -> list[tuple[str, str]]:
        """(column, DuckDB type) of a table, in order."""
        rows = self.connection.execute(f"describe {_q(name)}").fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        try:
            return self.connection.sql(sql, params=dict(params or {})).to_arrow_table()
        except duckdb.Error as exc:
            raise OfflineStoreError(f"stream query failed: {_first_line(exc)}") from exc

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            self.connection.execute(sql, dict(params or {}))
        except duckdb.Error as exc:
            raise OfflineStoreError(f"stream statement failed: {_first_line(exc)}") from exc

    @contextlib.contextmanager
    def registered(self, name: str, rows: pa.Table) -> Iterator[None]:
        """`rows` queryable as `name` for the duration (no copy)."""
        self.connection.register(name, rows)
        try:
            yield
        finally:
            self.connection.unregister(name)

    def warehouse(self) -> offline.Warehouse:
        """This database as a Warehouse, for `offline.read_latest`."""
        return offline.duckdb_warehouse(self.connection)

    def copy_from(
        self,
        project: Project,
        target: Target,
        relations: Mapping[str, tuple[str, ...]],
        wait_seconds: float = 60.0,
    ) -> None:
        """Copy warehouse relations (name here -> (database, schema, name) there) in one
        short read-only attach of the DuckDB file, retried while dbt holds it."""
        if target.type != "duckdb":
            raise OfflineStoreError(f"target {target.name!r} is {target.type}, not duckdb")
        path = offline.duckdb_file(project, target)
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                self.connection.execute(f"attach {_literal(str(path))} as {WAREHOUSE} (read_only)")
                break
            except duckdb.Error as exc:
                if time.monotonic() > deadline:
                    raise OfflineStoreError(
                        f"cannot read {path} ({_first_line(exc)}); is a dbt run writing to it?"
                    ) from exc
                time.sleep(0.5)
        try:
            for name, relation in relations.items():
                there = ".".join(_q(p) for p in (WAREHOUSE, *relation[-2:]))
                self.execute(f"create or replace table {_q(name)} as select * from {there}")
        finally:
            self.connection.execute(f"detach {WAREHOUSE}")

    def close(self) -> None:
        self.connection.close()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
