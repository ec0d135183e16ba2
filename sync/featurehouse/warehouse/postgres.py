"""Postgres: psycopg2, a server-side cursor per stream, parameters `%(name)s`; the only module
importing psycopg2."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg2
import pyarrow as pa

from featurehouse.errors import OfflineStoreError
from featurehouse.project.settings import Project, Target, as_int
from featurehouse.warehouse import first_line as _first_line


class Postgres:
    """Postgres: psycopg2, a server-side cursor per stream, parameters `%(name)s`."""

    adapter = "postgres"
    param_style = "pyformat"
    collects = False
    reads_spines = False

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    @classmethod
    def open(cls, project: Project, target: Target, writable: bool = False) -> Postgres:
        s = target.settings
        try:
            connection = psycopg2.connect(
                host=s.get("host"),
                port=as_int(s.get("port", 5432), "port"),
                user=s.get("user"),
                password=s.get("password") or None,
                dbname=s.get("dbname") or s.get("database"),
                connect_timeout=int(s.get("connect_timeout", 10)),
            )
        except psycopg2.Error as exc:
            raise OfflineStoreError(
                f"cannot connect to Postgres target {target.name!r} at "
                f"{s.get('host')}:{s.get('port')} ({_first_line(exc)})"
            ) from exc
        connection.set_session(readonly=not writable, autocommit=writable)
        return cls(connection)

    @classmethod
    def param(cls, name: str) -> str:
        return f"%({name})s"

    @classmethod
    def partition(cls, keys: list[str], partitions: int) -> str:
        """SQL of a row's partition (0..partitions-1) from its (quoted) key columns."""
        text = ", ".join(f"{k}::text" for k in keys)
        hashed = f"hashtextextended(concat_ws(chr(31), {text}), 0)"
        # mod(), not %: the SQL goes through psycopg2's %(name)s parameter formatting.
        return f"mod(mod({hashed}, {partitions}) + {partitions}, {partitions})"

    def limit_memory(self, megabytes: int, *, holding: int | None = None) -> None:
        """The server's memory is its own: nothing to cap here."""

    def prepare(self, macro_sql: str) -> str:
        return re.sub(r"%%\((\w+)\)s", r"%(\1)s", macro_sql.replace("%", "%%"))

    @contextlib.contextmanager
    def hold(self, sql: str, params: Mapping[str, Any]) -> Iterator[str]:
        """A read-only session cannot create tables: the macro's SQL runs per query."""
        yield sql

    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        try:
            with self._connection.cursor() as cursor:
                cursor.execute(sql, dict(params))
                return cursor.fetchall()
        except psycopg2.Error as exc:
            self._connection.rollback()
            raise OfflineStoreError(f"Postgres query failed: {_first_line(exc)}") from exc

    def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        try:
            with self._connection.cursor() as cursor:
                cursor.execute(sql, dict(params))
        except psycopg2.Error as exc:
            raise OfflineStoreError(f"Postgres statement failed: {_first_line(exc)}") from exc

    def stream(
        self, sql: str, params: Mapping[str, Any], batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        try:
            with self._connection.cursor(name="featurehouse_read") as cursor:
                cursor.itersize = batch_size
                cursor.execute(sql, dict(params))
                yield from _pg_batches(cursor, batch_size)
            self._connection.rollback()
        except psycopg2.Error as exc:
            self._connection.rollback()
            raise OfflineStoreError(f"Postgres query failed: {_first_line(exc)}") from exc

    def close(self) -> None:
        self._connection.close()


def _pg_batches(cursor: Any, batch_size: int) -> Iterator[pa.RecordBatch]:
    names: Sequence[str] | None = None
    while True:
        rows = cursor.fetchmany(batch_size)
        if names is None:
            names = [d[0] for d in cursor.description]
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        yield pa.RecordBatch.from_arrays([pa.array(c) for c in columns], names=list(names))
