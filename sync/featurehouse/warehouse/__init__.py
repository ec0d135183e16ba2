"""The warehouse seam: a `Warehouse` protocol and one module per adapter (duckdb.py,
postgres.py, spark.py), the only importers of duckdb, psycopg2 and pyspark.

Callers ask `adapter(target)` what a warehouse can do (bind parameter style, building records
in SQL, joining a spine) and `connect` for a connection; no one else looks at `target.type`.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Protocol

import pyarrow as pa

from featurehouse.errors import OfflineStoreError
from featurehouse.project.registry import Relation
from featurehouse.project.settings import Project, Target

DEFAULT_BATCH_SIZE = 10_000
# target.type -> the module and class of its adapter (imported when first used).
ADAPTERS = {
    "duckdb": ("featurehouse.warehouse.duckdb", "DuckDB"),
    "postgres": ("featurehouse.warehouse.postgres", "Postgres"),
    "spark": ("featurehouse.warehouse.spark", "Spark"),
}


class Warehouse(Protocol):
    """An open, read-only (unless opened writable) warehouse connection."""

    adapter: ClassVar[str]  # dbt's adapter type: duckdb, postgres, spark
    param_style: ClassVar[str]  # how rendered SQL binds parameters: dollar, pyformat
    reads_spines: ClassVar[bool]  # can join a training spine (`SpineWarehouse`)
    collects: ClassVar[bool]  # holds a query's whole result before its first batch (Spark)

    @classmethod
    def param(cls, name: str) -> str: ...
    @classmethod
    def partition(cls, keys: list[str], partitions: int) -> str: ...
    def prepare(self, macro_sql: str) -> str: ...
    def limit_memory(self, megabytes: int, *, holding: int | None = None) -> None: ...
    def hold(self, sql: str, params: Mapping[str, Any]) -> AbstractContextManager[str]: ...
    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]: ...
    def execute(self, sql: str, params: Mapping[str, Any]) -> None: ...
    def stream(
        self, sql: str, params: Mapping[str, Any], batch_size: int
    ) -> Iterator[pa.RecordBatch]: ...
    def close(self) -> None: ...


class SpineWarehouse(Warehouse, Protocol):
    """A warehouse that joins training spines: Arrow tables registered as relations."""

    reads_parquet: ClassVar[bool]  # reads a Parquet spine in place (else loaded as Arrow)

    def reader(
        self, sql: str, params: Mapping[str, Any], batch_size: int
    ) -> pa.RecordBatchReader: ...
    def register(self, name: str, table: pa.Table) -> None: ...


def adapter(target: Target) -> type[Warehouse]:
    """The adapter class of the target's warehouse (its capabilities; `connect` opens it)."""
    found = ADAPTERS.get(target.type)
    if found is None:
        raise OfflineStoreError(
            f"target {target.name!r} has type {target.type!r}; Featurehouse reads "
            f"{' and '.join(ADAPTERS)}: add an adapter module to featurehouse/warehouse/"
        )
    module, name = found
    return getattr(importlib.import_module(module), name)


@contextlib.contextmanager
def connect(project: Project, target: Target, *, writable: bool = False) -> Iterator[Warehouse]:
    """Open the target's warehouse (read-only unless `writable`); close it on exit."""
    warehouse = adapter(target).open(project, target, writable)  # type: ignore[attr-defined]
    try:
        yield warehouse
    finally:
        warehouse.close()


def relation_exists(warehouse: Warehouse, relation: Relation) -> bool:
    """Whether the table or view exists (information_schema, or the adapter's own `exists`
    where it has none: Spark; names from the manifest)."""
    exists = getattr(warehouse, "exists", None)
    if exists is not None:
        return bool(exists(relation))
    sql = (
        "select count(*) from information_schema.tables where table_schema = "
        f"{warehouse.param('schema')} and table_name = {warehouse.param('name')}"
    )
    params = {"schema": relation.schema, "name": relation.alias}
    return bool(warehouse.fetch_all(sql, params)[0][0])


def query_arrow(warehouse: Warehouse, sql: str, params: Mapping[str, Any]) -> pa.Table:
    """Run any read query and collect it (tests and reference checks)."""
    return pa.Table.from_batches(list(warehouse.stream(sql, params, DEFAULT_BATCH_SIZE)))


def quote(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def first_line(exc: BaseException) -> str:
    """A driver error's first line (they can be long and multi-line)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
