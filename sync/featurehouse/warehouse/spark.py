"""Spark: a local session like dbt-spark's `session` method (Hive catalog, the profile's
server_side_parameters), results read back as Arrow; the only module importing pyspark."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from featurehouse.errors import OfflineStoreError
from featurehouse.project.registry import Relation
from featurehouse.project.settings import Project, Target
from featurehouse.warehouse import first_line as _first_line

# Our SQL quotes identifiers with double quotes (as DuckDB and Postgres); Spark reads them so
# with this flag (ANSI mode, on by default in Spark 4).
_SESSION_SQL_CONF = {"spark.sql.ansi.doubleQuotedIdentifiers": "true"}
_QUIET = {"spark.ui.showConsoleProgress": "false"}  # our progress bar is the sync's
_JVM_EXIT_SECONDS = 30
# A quoted string (left as it is) or a `:name` marker.
_PARAM = re.compile(r"'(?:[^'\\]|\\.)*'|(?<![:\w]):([A-Za-z_]\w*)")


class Spark:
    """Spark: one local session per process, parameters `:name` bound as SQL literals."""

    adapter = "spark"
    param_style = "colon"
    reads_spines = True
    reads_parquet = False
    collects = True

    def __init__(self, session: Any) -> None:
        self._session = session
        self._held = 0

    @classmethod
    def open(cls, project: Project, target: Target, writable: bool = False) -> Spark:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise OfflineStoreError(
                f"target {target.name!r} is Spark but pyspark is not installed: "
                "pip install 'featurehouse[spark]'"
            ) from exc
        builder = SparkSession.builder.enableHiveSupport().appName("featurehouse")
        parameters = {**_QUIET, **(target.settings.get("server_side_parameters") or {})}
        for key, value in parameters.items():
            builder = builder.config(str(key), str(value))
        if str(parameters.get("spark.master", "local")).startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        try:
            # Relative paths in the parameters (the warehouse, the metastore) are the
            # project's, as for dbt run there: the JVM starts in the project directory.
            with contextlib.chdir(project.project_dir):
                session = builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
            for key, value in _SESSION_SQL_CONF.items():
                session.conf.set(key, value)
        except Exception as exc:  # py4j and JVM start-up errors have no common base
            raise OfflineStoreError(
                f"cannot start the Spark session of target {target.name!r} "
                f"({_first_line(exc)}); is Java 17 installed and no other process (dbt) "
                "using its metastore?"
            ) from exc
        return cls(session)

    @classmethod
    def param(cls, name: str) -> str:
        return f":{name}"

    @classmethod
    def partition(cls, keys: list[str], partitions: int) -> str:
        """SQL of a row's partition (0..partitions-1) from its (quoted) key columns."""
        return f"pmod(hash({', '.join(keys)}), {partitions})"

    def limit_memory(self, megabytes: int, *, holding: int | None = None) -> None:
        """Spark's memory is its JVM heap (spark.driver.memory, 1g unless the profile sets
        it), fixed when the session starts: nothing to cap here."""

    def prepare(self, macro_sql: str) -> str:
        return macro_sql

    @contextlib.contextmanager
    def hold(self, sql: str, params: Mapping[str, Any]) -> Iterator[str]:
        """Run `sql` once into a cached temporary view (memory, spilling to disk) that the
        stats and every partition read select from; uncache and drop it after."""
        self._held += 1
        name = f"featurehouse_latest_{self._held}"
        self.execute(f"cache table {name} as\n{sql}", params)
        try:
            yield f"select * from {name}"
        finally:
            self.execute(f"uncache table if exists {name}", {})
            self.execute(f"drop view if exists {name}", {})

    def exists(self, relation: Relation) -> bool:
        """Whether the table or view is in the session's catalog."""
        return bool(self._session.catalog.tableExists(relation.alias, relation.schema))

    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        table = self._arrow(sql, params)
        return list(zip(*(c.to_pylist() for c in table.columns), strict=True))

    def execute(self, sql: str, params: Mapping[str, Any]) -> None:
        self._arrow(sql, params)

    def stream(
        self, sql: str, params: Mapping[str, Any], batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        """The whole result is collected as Arrow, then handed out in batches: callers that
        need bounded memory read it partition by partition (`partition`)."""
        yield from self._arrow(sql, params).to_batches(max_chunksize=batch_size)

    def reader(self, sql: str, params: Mapping[str, Any], batch_size: int) -> pa.RecordBatchReader:
        """The query's whole result (collected), as a reader of `batch_size` batches."""
        table = self._arrow(sql, params)
        return pa.RecordBatchReader.from_batches(
            table.schema, table.to_batches(max_chunksize=batch_size)
        )

    def register(self, name: str, table: pa.Table) -> None:
        """Make an Arrow table queryable as the temporary view `name` (naive timestamps are
        UTC, as everywhere in Featurehouse)."""
        try:
            frame = self._session.createDataFrame(_utc(table))
            frame.createOrReplaceTempView(name)
        except Exception as exc:  # py4j and Arrow conversion errors have no common base
            raise OfflineStoreError(f"Spark cannot read the spine: {_first_line(exc)}") from exc

    def _arrow(self, sql: str, params: Mapping[str, Any]) -> pa.Table:
        try:
            table = self._session.sql(bind(sql, params)).toArrow()
        except Exception as exc:  # Spark's AnalysisException and friends, over py4j
            raise OfflineStoreError(f"Spark query failed: {_first_line(exc)}") from exc
        return _naive(table)

    def close(self) -> None:
        """Stop the session and its JVM: the embedded metastore admits one process at a
        time, and dbt may run next."""
        from pyspark import SparkContext

        self._session.stop()
        gateway = SparkContext._gateway
        if gateway is None:
            return
        gateway.shutdown()
        process = getattr(gateway, "proc", None)
        if process is not None:  # the JVM exits when its stdin closes
            process.stdin.close()
            try:
                process.wait(timeout=_JVM_EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        SparkContext._gateway = None
        SparkContext._jvm = None


def bind(sql: str, params: Mapping[str, Any]) -> str:
    """`:name` markers outside quoted strings replaced by the parameters as SQL literals
    (timestamps in UTC)."""

    def literal(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None or name not in params:
            return match.group(0)
        return _literal(params[name])

    return _PARAM.sub(literal, sql)


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return f"timestamp '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _utc(table: pa.Table) -> pa.Table:
    """Naive timestamps marked UTC, so that Spark does not read them in a local time zone."""
    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit, "UTC"))
        if pa.types.is_timestamp(f.type) and f.type.tz is None
        else f
        for f in table.schema
    ]
    schema = pa.schema(fields)
    return table if schema.equals(table.schema) else table.cast(schema)


def _naive(table: pa.Table) -> pa.Table:
    """Spark timestamps arrive in the session time zone (UTC): naive UTC, as elsewhere."""
    fields = [
        pa.field(f.name, pa.timestamp("us")) if pa.types.is_timestamp(f.type) else f
        for f in table.schema
    ]
    schema = pa.schema(fields)
    return table if schema.equals(table.schema) else table.cast(schema)
