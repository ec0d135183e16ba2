"""Warehouse reads as Arrow record batches; the only module that talks to DuckDB or Postgres.

The rows a sync publishes are picked by the dbt macro `featurehouse.latest_feature_rows`,
rendered by dbt (see `render`); this module only projects, casts and streams them.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from featurehouse.errors import OfflineStoreError
from featurehouse.online.encoding import RECORD, arrow_type, duckdb_record_sql
from featurehouse.registry import FeatureView, Relation
from featurehouse.settings import Project, Target, as_int

EVENT_AT = "__event_at"
CREATED_AT = "__created_at"
DEFAULT_BATCH_SIZE = 10_000
_SQL_TYPES = {
    "int64": "bigint",
    "float64": "double precision",
    "string": "varchar",
    "bool": "boolean",
    "timestamp": "timestamp",
    "list<float64>": "double precision[]",
}


class Warehouse(Protocol):
    """An open, read-only warehouse connection."""

    adapter: str

    def param(self, name: str) -> str: ...
    def prepare(self, macro_sql: str) -> str: ...
    def encodes_records(self) -> bool: ...
    def hold(self, sql: str, params: Mapping[str, Any]) -> AbstractContextManager[str]: ...

    concurrent: bool  # can `submit` a query that runs beside this connection's own

    def submit(self, sql: str, params: Mapping[str, Any]) -> Future[list[tuple[Any, ...]]]: ...
    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]: ...
    def execute(self, sql: str, params: Mapping[str, Any]) -> None: ...
    def stream(
        self, sql: str, params: Mapping[str, Any], batch_size: int
    ) -> Iterator[pa.RecordBatch]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class LatestStats:
    """What the macro's rows at one as-of look like before publishing."""

    rows: int  # rows the macro returned
    null_keys: int  # of which have a null key: skipped
    duplicate_keys: int  # entities returned more than once (a broken grain)
    changed: int  # rows with a key that an incremental read returns (all of them when full)
    watermark: datetime | None  # greatest created (else event) timestamp of those rows
    tie_breaks: Future[int]  # rows of the view that lost the tie-break on created timestamp


@dataclass(frozen=True)
class Since:
    """Incremental reads: rows whose event ts > as_of or created/event ts > watermark."""

    as_of: datetime
    watermark: datetime | None


def placeholder(adapter: str, name: str) -> str:
    """How a bind parameter is written in the adapter's SQL (`$name` or `%(name)s`)."""
    return f"%({name})s" if adapter == "postgres" else f"${name}"


def arrow_schema(view: FeatureView, *, encoded: bool = False) -> pa.Schema:
    """The batches' schema: keys, __event_at, __created_at, then the features (or, encoded,
    their online record in one column, RECORD)."""
    fields = [pa.field(k.name, arrow_type(k.online_type)) for k in view.keys]
    fields += [pa.field(EVENT_AT, pa.timestamp("us")), pa.field(CREATED_AT, pa.timestamp("us"))]
    if encoded:
        fields.append(pa.field(RECORD, pa.string()))
    else:
        fields += [pa.field(f.name, arrow_type(f.online_type)) for f in view.features]
    return pa.schema(fields)


@dataclass(frozen=True)
class Latest:
    """The macro's rows as SQL to select from; `encoded`: they carry a RECORD column."""

    sql: str
    encoded: bool = False


@contextlib.contextmanager
def latest_rows(
    warehouse: Warehouse, view: FeatureView, macro_sql: str, as_of: datetime, *, encode: bool
) -> Iterator[Latest]:
    """The macro's rows at `as_of`, which the stats and the read both select from: held once
    in a table where the warehouse can (DuckDB), so that the macro runs once, and with
    `encode` with each row's online record built in that same query, on all of DuckDB's
    threads."""
    encoded = encode and warehouse.encodes_records()
    sql = macro_sql
    if encoded:
        sql = f"select *, {_record_sql(view)} as {_q(RECORD)}\nfrom (\n{macro_sql}\n) as latest"
    with warehouse.hold(sql, {"as_of": as_of}) as held:
        yield Latest(held, encoded)


def _casts(view: FeatureView) -> list[tuple[str, str]]:
    """(SQL of the feature cast to its online type, online type) per feature."""
    return [
        (f"cast({_q(f.name)} as {_SQL_TYPES[f.online_type]})", f.online_type) for f in view.features
    ]


def _record_sql(view: FeatureView) -> str:
    return duckdb_record_sql(f"cast({_q(view.event_timestamp)} as timestamp)", _casts(view))


@contextlib.contextmanager
def connect(project: Project, target: Target, *, writable: bool = False) -> Iterator[Warehouse]:
    """Open the target's warehouse (read-only unless `writable`); close it on exit."""
    if target.type == "duckdb":
        warehouse: Warehouse = _DuckDB.open(project, target, writable)
    elif target.type == "postgres":
        warehouse = _Postgres.open(target, writable)
    else:
        raise OfflineStoreError(
            f"target {target.name!r} has type {target.type!r}; "
            "Featurehouse reads duckdb and postgres"
        )
    try:
        yield warehouse
    finally:
        warehouse.close()


def relation_exists(warehouse: Warehouse, relation: Relation) -> bool:
    """Whether the table or view exists (information_schema; names from the manifest)."""
    sql = (
        "select count(*) from information_schema.tables where table_schema = "
        f"{warehouse.param('schema')} and table_name = {warehouse.param('name')}"
    )
    params = {"schema": relation.schema, "name": relation.alias}
    return bool(warehouse.fetch_all(sql, params)[0][0])


def latest_stats(
    warehouse: Warehouse,
    view: FeatureView,
    macro_sql: str,
    as_of: datetime,
    since: Since | None = None,
) -> LatestStats:
    """Count the macro's rows, null keys, duplicate entities and tie-breaks; the watermark.

    Where the warehouse runs queries side by side (DuckDB, on the held rows) the tie-break
    count, which only the summary needs, goes on while the caller publishes; elsewhere it is
    part of the one stats query, so that the macro's SQL runs once for all of them."""
    changed, params = _changed(warehouse, view, since)
    latest = warehouse.prepare(macro_sql)
    together = not warehouse.concurrent
    sql = _stats_sql(view, latest, changed, with_ties=together)
    row = warehouse.fetch_all(sql, {"as_of": as_of, **params})[0]
    if together:
        ties: Future[int] = Future()
        ties.set_result(int(row[5]))
    else:
        ties = _count(warehouse.submit(_ties_sql(view, f"({latest}) as latest"), {"as_of": as_of}))
    counts = (int(v) for v in row[:4])
    return LatestStats(*counts, watermark=row[4], tie_breaks=ties)


def _ties_sql(view: FeatureView, latest: str) -> str:
    """Rows of the view with the keys and event timestamp of one of `latest`'s (a FROM item
    aliased latest), beyond that row itself: the rows the created timestamp ruled out."""
    keys = [_q(k.name) for k in view.keys]
    on = " and ".join(f"relation.{k} = latest.{k}" for k in keys)
    latest_keys = ", ".join(f"latest.{k}" for k in keys)
    event = _q(view.event_timestamp)
    return f"""
select coalesce(sum(n - 1), 0) from (
    select {latest_keys}, count(*) as n
    from {latest}
    inner join {_relation(view.relation)} as relation
        on {on} and relation.{event} = latest.{event}
    group by {latest_keys}
    having count(*) > 1
) as tied
"""


def _count(rows: Future[list[tuple[Any, ...]]]) -> Future[int]:
    """The single count a query's future will hold."""
    count: Future[int] = Future()

    def done(f: Future[list[tuple[Any, ...]]]) -> None:
        error = f.exception()
        if error is not None:
            count.set_exception(error)
        else:
            count.set_result(int(f.result()[0][0]))

    rows.add_done_callback(done)
    return count


def _stats_sql(view: FeatureView, latest_sql: str, changed: str, *, with_ties: bool) -> str:
    """One query over the macro's rows (the tie-break count last, `with_ties`)."""
    keys = [_q(k.name) for k in view.keys]
    null_key = " or ".join(f"{k} is null" for k in keys)
    not_null = " and ".join(f"{k} is not null" for k in keys)
    event = _q(view.event_timestamp)
    created = f"coalesce({_q(view.created_timestamp or view.event_timestamp)}, {event})"
    ties = f",\n    ({_ties_sql(view, 'latest')}) as n_tie_breaks" if with_ties else ""
    return f"""
with

latest as (
{latest_sql}
),

entities as (
    select {", ".join(keys)}, count(*) as n from latest where {not_null}
    group by {", ".join(keys)}
)

select
    (select count(*) from latest) as n_rows,
    (select count(*) from latest where {null_key}) as n_null_keys,
    (select count(*) from entities where n > 1) as n_duplicate_keys,
    (select count(*) from latest where {not_null} and {changed}) as n_changed,
    (select max({created}) from latest where {not_null} and {changed}) as watermark{ties}
"""


def _changed(
    warehouse: Warehouse, view: FeatureView, since: Since | None
) -> tuple[str, dict[str, Any]]:
    """The incremental condition: a newer event than the last as-of, or a newer load."""
    if since is None:
        return "true", {}
    event = _q(view.event_timestamp)
    created = _q(view.created_timestamp or view.event_timestamp)
    condition = f"{event} > {warehouse.param('since')}"
    params: dict[str, Any] = {"since": since.as_of}
    if since.watermark is not None:
        condition += f" or coalesce({created}, {event}) > {warehouse.param('watermark')}"
        params["watermark"] = since.watermark
    return f"({condition})", params


def read_latest(
    warehouse: Warehouse,
    view: FeatureView,
    macro_sql: str,
    as_of: datetime,
    *,
    since: Since | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    encoded: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Stream the macro's rows at `as_of` (null keys dropped) in `arrow_schema(view)`;
    `encoded`: the rows carry their records (`latest_rows`), read instead of the features."""
    schema = arrow_schema(view, encoded=encoded)
    created = _q(view.created_timestamp or view.event_timestamp)
    event = _q(view.event_timestamp)
    columns = [
        f"cast({_q(k.name)} as {_SQL_TYPES[k.online_type]}) as {_q(k.name)}" for k in view.keys
    ]
    columns += [
        f"cast({event} as timestamp) as {_q(EVENT_AT)}",
        f"cast({created} as timestamp) as {_q(CREATED_AT)}",
    ]
    if encoded:
        columns.append(_q(RECORD))
    else:
        columns += [
            f"{cast} as {_q(f.name)}"
            for (cast, _), f in zip(_casts(view), view.features, strict=True)
        ]
    changed, params = _changed(warehouse, view, since)
    where = [*(f"{_q(k.name)} is not null" for k in view.keys), changed]
    params["as_of"] = as_of
    sql = (
        "select\n    "
        + ",\n    ".join(columns)
        + f"\nfrom (\n{warehouse.prepare(macro_sql)}\n) as latest\nwhere "
        + "\n    and ".join(where)
    )
    for batch in warehouse.stream(sql, params, batch_size):
        yield _conform(batch, schema)


def query_arrow(warehouse: Warehouse, sql: str, params: Mapping[str, Any]) -> pa.Table:
    """Run any read query and collect it (tests and reference checks)."""
    return pa.Table.from_batches(list(warehouse.stream(sql, params, DEFAULT_BATCH_SIZE)))


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    arrays = [
        column if column.type == f.type else column.cast(f.type)
        for column, f in zip(batch.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _relation(relation: Relation) -> str:
    return ".".join(_q(p) for p in (relation.database, relation.schema, relation.alias) if p)


_WORK = "featurehouse_work"


class _DuckDB:
    """DuckDB: the target's file (read-only unless writable), named parameters `$name`."""

    adapter = "duckdb"
    concurrent = True

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._held = 0

    @classmethod
    def open(cls, project: Project, target: Target, writable: bool = False) -> _DuckDB:
        import duckdb

        path = duckdb_file(project, target)
        mode = "read-write" if writable else "read-only"
        try:
            connection = duckdb.connect(str(path), read_only=not writable)
            connection.execute("set TimeZone = 'UTC'")  # timestamptz spines -> naive UTC
            return cls(connection)
        except duckdb.Error as exc:
            raise OfflineStoreError(
                f"cannot open {path} {mode} ({_first_line(exc)}); is a dbt run writing to it?"
            ) from exc

    def param(self, name: str) -> str:
        return placeholder(self.adapter, name)

    def prepare(self, macro_sql: str) -> str:
        return macro_sql

    def encodes_records(self) -> bool:
        """DuckDB builds the records in the query, on all its threads (json_array)."""
        return True

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
                future.set_result(_DuckDB(cursor).fetch_all(sql, params))
            except BaseException as exc:  # handed to whoever waits for the result
                future.set_exception(exc)
            finally:
                cursor.close()

        threading.Thread(target=run, name="featurehouse-duckdb", daemon=True).start()
        return future

    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        import duckdb

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
        import duckdb

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


def duckdb_file(project: Project, target: Target) -> Path:
    """The DuckDB file of a target (relative paths from the project), which must exist."""
    path = Path(str(target.settings.get("path", "")))
    if str(path) in ("", ":memory:"):
        raise OfflineStoreError(f"target {target.name!r} has no DuckDB file path")
    path = path if path.is_absolute() else project.project_dir / path
    if not path.exists():
        raise OfflineStoreError(f"DuckDB file {path} not found: run `dbt build` first")
    return path


def _translated(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    import duckdb

    try:
        yield from reader
    except duckdb.Error as exc:
        raise OfflineStoreError(f"DuckDB query failed: {_first_line(exc)}") from exc


class _Postgres:
    """Postgres: psycopg2, a server-side cursor per stream, parameters `%(name)s`."""

    adapter = "postgres"
    concurrent = False

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    @classmethod
    def open(cls, target: Target, writable: bool = False) -> _Postgres:
        import psycopg2

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

    def param(self, name: str) -> str:
        return placeholder(self.adapter, name)

    def prepare(self, macro_sql: str) -> str:
        return re.sub(r"%%\((\w+)\)s", r"%(\1)s", macro_sql.replace("%", "%%"))

    def encodes_records(self) -> bool:
        return False

    @contextlib.contextmanager
    def hold(self, sql: str, params: Mapping[str, Any]) -> Iterator[str]:
        """A read-only session cannot create tables: the macro's SQL runs per query."""
        yield sql

    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        import psycopg2

        try:
            with self._connection.cursor() as cursor:
                cursor.execute(sql, dict(params))
                return cursor.fetchall()
        except psycopg2.Error as exc:
            self._connection.rollback()
            raise OfflineStoreError(f"Postgres query failed: {_first_line(exc)}") from exc

    def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        import psycopg2

        try:
            with self._connection.cursor() as cursor:
                cursor.execute(sql, dict(params))
        except psycopg2.Error as exc:
            raise OfflineStoreError(f"Postgres statement failed: {_first_line(exc)}") from exc

    def stream(
        self, sql: str, params: Mapping[str, Any], batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        import psycopg2

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


def _used(sql: str, params: Mapping[str, Any], marker: str) -> dict[str, Any]:
    """DuckDB refuses unused named parameters: pass only those the SQL mentions."""
    return {k: v for k, v in params.items() if f"{marker}{k}" in sql}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def duckdb_warehouse(connection: Any) -> Warehouse:
    """An open DuckDB connection (e.g. a stream consumer's in-memory one) as a Warehouse."""
    return _DuckDB(connection)
