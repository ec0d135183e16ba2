"""DuckDB: the target's file (read-only unless writable), named parameters `$name`; the only
module importing duckdb."""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from featurehouse.errors import OfflineStoreError
from featurehouse.project.settings import Project, Target
from featurehouse.warehouse import first_line as _first_line

_WORK = "featurehouse_work"


class DuckDB:
    """DuckDB: the target's file (read-only unless writable), named parameters `$name`."""

    adapter = "duckdb"
    param_style = "dollar"
    concurrent = True
    collects = False
    reads_spines = True

    def __init__(self, connection: Any, settings: Mapping[str, Any] | None = None) -> None:
        self._connection = connection
        self._settings = dict(settings or {})  # the profile's DuckDB settings
        self._held = 0
        self._temp: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def open(cls, project: Project, target: Target, writable: bool = False) -> DuckDB:
        path = Path(str(target.settings.get("path", "")))
        if str(path) in ("", ":memory:"):
            raise OfflineStoreError(f"target {target.name!r} has no DuckDB file path")
        path = path if path.is_absolute() else project.project_dir / path
        if not path.exists():
            raise OfflineStoreError(f"DuckDB file {path} not found: run `dbt build` first")
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

    def limit_memory(self, megabytes: int) -> None:
        """Cap DuckDB's memory (unless the profile's `settings` set memory_limit): beyond
        it, aggregates and held rows spill to a temporary directory of this connection's."""
        if self._temp is None:
            self._temp = tempfile.TemporaryDirectory(prefix="featurehouse-duckdb-")
            self.execute(f"set temp_directory = '{self._temp.name}'", {})
        if "memory_limit" not in self._settings:
            self.execute(f"set memory_limit = '{megabytes}MB'", {})

    @contextlib.contextmanager
    def hold(self, sql: str, params: Mapping[str, Any]) -> Iterator[str]:
        """Run `sql` once into a table of an in-memory database attached for this (the
        file may be read-only), visible to `submit`'s connections; drop it after."""
        if not self._held:
            self.execute(f"attach ':memory:' as {_WORK} (read_only false)", {})
        self._held += 1
        name = f"{_WORK}.main.latest_{self._held}"
        self.execute(f"create table {name} as\n{sql}", params)
        try:
            yield f"select * from {name}"
        finally:
            self.execute(f"drop table if exists {name}", {})

    def submit(self, sql: str, params: Mapping[str, Any]) -> Future[list[tuple[Any, ...]]]:
        """Run a read query on another connection to the same database, in a thread."""
        future: Future[list[tuple[Any, ...]]] = Future()
        cursor = self._connection.cursor()

        def run() -> None:
            try:
                future.set_result(DuckDB(cursor).fetch_all(sql, params))
            except BaseException as exc:  # handed to whoever waits for the result
                future.set_exception(exc)
            finally:
                cursor.close()

        threading.Thread(target=run, name="featurehouse-duckdb", daemon=True).start()
        return future

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
        yield from self.reader(sql, params, batch_size)

    def reader(self, sql: str, params: Mapping[str, Any], batch_size: int) -> pa.RecordBatchReader:
        """The query's batches as a reader (its schema known before the first batch)."""
        try:
            relation = self._connection.sql(sql, params=_used(sql, params, "$"))
            reader = relation.to_arrow_reader(batch_size=batch_size)
        except duckdb.Error as exc:
            raise OfflineStoreError(f"DuckDB query failed: {_first_line(exc)}") from exc
        return pa.RecordBatchReader.from_batches(reader.schema, _translated(reader))

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as `name` on this connection (no copy)."""
        self._connection.register(name, table)

    def close(self) -> None:
        self._connection.close()
        if self._temp is not None:
            self._temp.cleanup()


def _translated(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    try:
        yield from reader
    except duckdb.Error as exc:
        raise OfflineStoreError(f"DuckDB query failed: {_first_line(exc)}") from exc


def _used(sql: str, params: Mapping[str, Any], marker: str) -> dict[str, Any]:
    """DuckDB refuses unused named parameters: pass only those the SQL mentions."""
    return {k: v for k, v in params.items() if f"{marker}{k}" in sql}
