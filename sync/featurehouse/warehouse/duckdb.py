"""DuckDB: the target's file (read-only unless writable), named parameters `$name`, and the
stream consumer's private in-memory `Engine`; the only module importing duckdb."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from featurehouse.errors import OfflineStoreError
from featurehouse.project.settings import Project, Target
from featurehouse.warehouse import first_line as _first_line

_WORK = "featurehouse_work"
_WAREHOUSE = "fh_warehouse"  # the warehouse file, attached read-only by Engine.copy_from
_INPUT = "fh_arrow_input"  # an Arrow table being loaded into an Engine


class DuckDB:
    """DuckDB: the target's file (read-only unless writable), named parameters `$name`."""

    adapter = "duckdb"
    param_style = "dollar"
    collects = False
    reads_spines = True
    reads_parquet = True

    def __init__(self, connection: Any, settings: Mapping[str, Any] | None = None) -> None:
        self._connection = connection
        self._settings = dict(settings or {})  # the profile's DuckDB settings
        self._held = 0
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self._caps: tuple[int, int] | None = None  # limit_memory's (megabytes, holding)

    @classmethod
    def open(cls, project: Project, target: Target, writable: bool = False) -> DuckDB:
        path = duckdb_file(project, target)
        mode = "read-write" if writable else "read-only"
        try:
            connection = duckdb.connect(str(path), read_only=not writable)
            connection.execute("set TimeZone = 'UTC'")  # timestamptz spines -> naive UTC
            return cls(connection, target.settings.get("settings"))
        except duckdb.Error as exc:
            raise OfflineStoreError(
                f"cannot open {path} {mode} ({_first_line(exc)}); is a dbt run writing to it?"
            ) from exc

    @classmethod
    def param(cls, name: str) -> str:
        return f"${name}"

    @classmethod
    def partition(cls, keys: list[str], partitions: int) -> str:
        """SQL of a row's partition (0..partitions-1) from its (quoted) key columns."""
        return f"hash({', '.join(keys)}) % {partitions}"

    def prepare(self, macro_sql: str) -> str:
        return macro_sql

    def limit_memory(self, megabytes: int, *, holding: int | None = None) -> None:
        """Cap DuckDB's memory (unless the profile's `settings` set memory_limit): beyond
        it, aggregates and held rows spill to a temporary directory of this connection's;
        `holding`: the cap while `hold` builds its table (lowered again after it, which
        gives the memory back at once)."""
        if self._temp is None:
            self._temp = tempfile.TemporaryDirectory(prefix="featurehouse-duckdb-")
            self.execute(f"set temp_directory = '{self._temp.name}'", {})
        if "memory_limit" not in self._settings:
            self._caps = (megabytes, holding or megabytes)
            self._cap(megabytes)

    def _cap(self, megabytes: int) -> None:
        self.execute(f"set memory_limit = '{megabytes}MB'", {})

    @contextlib.contextmanager
    def hold(self, sql: str, params: Mapping[str, Any]) -> Iterator[str]:
        """Run `sql` once into a table of an in-memory database attached for this (the
        file may be read-only); drop it after."""
        if not self._held:
            self.execute(f"attach ':memory:' as {_WORK} (read_only false)", {})
        self._held += 1
        name = f"{_WORK}.main.latest_{self._held}"
        try:
            if self._caps is not None:
                self._cap(self._caps[1])
            self.execute(f"create table {name} as\n{sql}", params)
        finally:
            if self._caps is not None:
                self._cap(self._caps[0])
        try:
            yield f"select * from {name}"
        finally:
            self.execute(f"drop table if exists {name}", {})

    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        try:
            return self._connection.execute(sql, _used(sql, params, "$")).fetchall()
        except duckdb.Error as exc:
            raise OfflineStoreError(f"DuckDB query failed: {_first_line(exc)}") from exc

    def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        self.fetch_all(sql, params)

    def stream(
        self, sql: str, params: Mapping[str, Any], batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        """The query's batches; closing the iterator early (a failed publish) closes the
        result, so the connection runs the next query (and the caller's cleanup)."""
        reader = self._open(sql, params, batch_size)
        try:
            yield from _translated(reader)
        finally:
            reader.close()

    def reader(self, sql: str, params: Mapping[str, Any], batch_size: int) -> pa.RecordBatchReader:
        """The query's batches as a reader (its schema known before the first batch)."""
        reader = self._open(sql, params, batch_size)
        return pa.RecordBatchReader.from_batches(reader.schema, _translated(reader))

    def _open(self, sql: str, params: Mapping[str, Any], batch_size: int) -> pa.RecordBatchReader:
        try:
            relation = self._connection.sql(sql, params=_used(sql, params, "$"))
            return relation.to_arrow_reader(batch_size=batch_size)
        except duckdb.Error as exc:
            raise OfflineStoreError(f"DuckDB query failed: {_first_line(exc)}") from exc

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as `name` on this connection (no copy)."""
        self._connection.register(name, table)

    def close(self) -> None:
        self._connection.close()
        if self._temp is not None:
            self._temp.cleanup()


def duckdb_file(project: Project, target: Target) -> Path:
    """The DuckDB file of a target (relative paths from the project), which must exist."""
    path = Path(str(target.settings.get("path", "")))
    if str(path) in ("", ":memory:"):
        raise OfflineStoreError(f"target {target.name!r} has no DuckDB file path")
    path = path if path.is_absolute() else project.project_dir / path
    if not path.exists():
        raise OfflineStoreError(f"DuckDB file {path} not found: run `dbt build` first")
    return path


def parquet_rows(path: Path) -> int:
    """The row count in a Parquet file's footer, read by DuckDB (pyarrow.parquet stays
    unloaded: ~9 MB of a training process)."""
    sql = f"select num_rows from parquet_file_metadata({_literal(str(path))})"
    try:
        with duckdb.connect() as con:
            found = con.execute(sql).fetchone()
    except duckdb.Error as exc:
        raise OfflineStoreError(_first_line(exc)) from exc
    return int(found[0]) if found else 0


class Engine:
    """A stream consumer's private in-memory DuckDB, where a view is recomputed for a few
    entities: copies of what the chain reads from the warehouse and the landed events, so the
    consumer never keeps the warehouse file open (`dbt build` must be able to write it)."""

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.connection = duckdb.connect(":memory:")
        self.connection.execute("set TimeZone = 'UTC'")
        if threads:
            self.connection.execute(f"set threads = {int(threads)}")
        if memory_limit:
            self.connection.execute(f"set memory_limit = '{memory_limit}'")
            # beyond it, spill to a private temp folder (DuckDB removes it on close)
            spill = Path(tempfile.gettempdir()) / f"featurehouse-engine-{os.getpid()}-{id(self)}"
            self.connection.execute(f"set temp_directory = '{spill}'")

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

    def warehouse(self) -> DuckDB:
        """This database as a Warehouse, for `warehouse.latest.read_latest`."""
        return DuckDB(self.connection)

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
        path = duckdb_file(project, target)
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                self.connection.execute(f"attach {_literal(str(path))} as {_WAREHOUSE} (read_only)")
                break
            except duckdb.Error as exc:
                if time.monotonic() > deadline:
                    raise OfflineStoreError(
                        f"cannot read {path} ({_first_line(exc)}); is a dbt run writing to it?"
                    ) from exc
                time.sleep(0.5)
        try:
            for name, relation in relations.items():
                there = ".".join(_q(p) for p in (_WAREHOUSE, *relation[-2:]))
                self.execute(f"create or replace table {_q(name)} as select * from {there}")
        finally:
            self.connection.execute(f"detach {_WAREHOUSE}")

    def close(self) -> None:
        self.connection.close()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _translated(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except duckdb.Error as exc:
        raise OfflineStoreError(f"DuckDB query failed: {_first_line(exc)}") from exc


def _used(sql: str, params: Mapping[str, Any], marker: str) -> dict[str, Any]:
    """DuckDB refuses unused named parameters: pass only those the SQL mentions."""
    return {k: v for k, v in params.items() if f"{marker}{k}" in sql}
