"""The macro's rows in bounded pieces, read ahead: a warehouse that collects a query's result
whole (Spark) or that spills beyond a memory cap (DuckDB) is asked for one partition of the
entities (by a hash of their keys) at a time; every warehouse reads in a thread of its own
while the caller publishes, a few batches ahead, so that reading and publishing share the cores.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import pyarrow as pa

from featurehouse.online.encoding import RecordFormat
from featurehouse.project.registry import FeatureView
from featurehouse.warehouse import SpillingWarehouse, Warehouse, relation_sql
from featurehouse.warehouse import quote as _q
from featurehouse.warehouse.latest import LatestStats, latest_rows, latest_stats, read_latest

# Entities per partition where the warehouse collects results whole (rows held at once) or
# spills: on DuckDB, the pick of this many entities and their records fit WAREHOUSE_MEMORY_MB.
PARTITION_ROWS = 1_000_000
# The bind parameters of the macro's entity_filter: partition PARTITION of PARTITIONS.
PARTITION, PARTITIONS = "fh_partition", "fh_partitions"
# What an embedded warehouse (DuckDB) may use while a sync reads it, unless the profile says
# otherwise; beyond it DuckDB spills to disk, so that the sync's memory stays bounded.
WAREHOUSE_MEMORY_MB = 512
# Batches the reading thread may be ahead of the caller (DEFAULT_BATCH_SIZE rows each).
AHEAD_BATCHES = 8
_POLL_SECONDS = 0.1


def partition_count(warehouse: Warehouse, rows: int) -> int:
    """How many partitions to read `rows` entities in: one unless the warehouse collects."""
    if not warehouse.collects or rows <= PARTITION_ROWS:
        return 1
    return -(-rows // PARTITION_ROWS)


def read_partitioned(
    warehouse: Warehouse,
    view: FeatureView,
    macro_sql: str,
    as_of: datetime,
    *,
    rows: int,
    **options: Any,
) -> Iterator[pa.RecordBatch]:
    """`read_latest`'s batches, partition by partition (`partition_count` for `rows`
    expected entities), read ahead in a thread; `options` are read_latest's."""
    count = partition_count(warehouse, rows)

    def batches() -> Iterator[pa.RecordBatch]:
        for index in range(count):
            part = None if count == 1 else (index, count)
            yield from read_latest(warehouse, view, macro_sql, as_of, partition=part, **options)

    return read_ahead(batches(), AHEAD_BATCHES)


def read_ahead(batches: Iterator[pa.RecordBatch], depth: int) -> Iterator[pa.RecordBatch]:
    """`batches`, produced in a thread up to `depth` ahead; its errors are raised here, and
    closing this iterator stops the thread (and closes `batches` there) before returning."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                handoff.put(item, timeout=_POLL_SECONDS)
                return True
        return False

    def run() -> None:
        with contextlib.closing(batches):
            try:
                for batch in batches:
                    if not put(("batch", batch)):
                        return
                put(("end", None))
            except BaseException as exc:  # handed to the reader
                put(("error", exc))

    thread = threading.Thread(target=run, name="featurehouse-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "batch":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        thread.join()


@dataclass(frozen=True)
class Partitions:
    """A large view read in `count` key-hash partitions; `entities`: about how many it has."""

    count: int
    entities: int


def entity_filter(warehouse: type[Warehouse], view: FeatureView) -> str:
    """The macro's entity_filter that keeps partition $fh_partition of $fh_partitions (the
    warehouse's own partition SQL, on the view's rows, alias `feature`)."""
    return _in_partition(warehouse, view, "feature", warehouse.param(PARTITION),
                         warehouse.param(PARTITIONS))  # fmt: skip


def _in_partition(
    warehouse: type[Warehouse] | Warehouse, view: FeatureView, alias: str, index: str, count: str
) -> str:
    keys = [f"{alias}.{_q(k.name)}" for k in view.keys]
    return f"{warehouse.partition(keys, count)} = {index}"


def held_partitions(warehouse: Warehouse, view: FeatureView) -> Partitions | None:
    """Where the warehouse spills: partitions of about PARTITION_ROWS entities, when the view
    has more (None: it is read whole)."""
    if not warehouse.spills:
        return None
    spilling = cast(SpillingWarehouse, warehouse)
    entities = spilling.entities(relation_sql(view.relation), [_q(k.name) for k in view.keys])
    count = -(-entities // PARTITION_ROWS)
    return Partitions(count, entities) if count > 1 else None


class HeldPartitions:
    """A spilling warehouse's rows of a large view (full sync), partition by partition: each
    picked by the macro (`filtered_sql`, its entity_filter bound), held with its records,
    counted, `check`ed and read, then dropped before the next, so that the warehouse works on
    one partition's entities at a time; `stats()` sums them once all are read."""

    def __init__(
        self,
        warehouse: Warehouse,
        view: FeatureView,
        filtered_sql: str,
        as_of: datetime,
        partitions: Partitions,
        *,
        records: RecordFormat | None,
        batch_size: int,
        check: Callable[[LatestStats], None],
    ) -> None:
        self._read = (warehouse, view, filtered_sql, as_of)
        self._count = partitions.count
        self._records, self._batch_size, self._check = records, batch_size, check
        self._stats: list[LatestStats] = []

    def batches(self) -> Iterator[pa.RecordBatch]:
        warehouse, view, sql, as_of = self._read
        for index in range(self._count):
            params = {PARTITION: index, PARTITIONS: self._count}
            with latest_rows(
                warehouse, view, sql, as_of, records=self._records, params=params
            ) as latest:
                where = _in_partition(warehouse, view, "relation", str(index), str(self._count))
                stats = latest_stats(warehouse, view, latest.sql, as_of, relation_filter=where)
                try:
                    self._check(stats)
                    self._stats.append(stats)
                    yield from read_latest(
                        warehouse, view, latest.sql, as_of,
                        batch_size=self._batch_size, encoded=latest.encoded,
                    )  # fmt: skip
                finally:
                    futures.wait([stats.tie_breaks])  # its held rows stay until it is done

    def stats(self) -> LatestStats:
        parts = self._stats
        ties: futures.Future[int] = futures.Future()
        ties.set_result(sum(s.tie_breaks.result() for s in parts))
        marks = [s.watermark for s in parts if s.watermark is not None]
        return LatestStats(
            rows=sum(s.rows for s in parts),
            null_keys=sum(s.null_keys for s in parts),
            duplicate_keys=sum(s.duplicate_keys for s in parts),
            changed=sum(s.changed for s in parts),
            watermark=max(marks) if marks else None,
            tie_breaks=ties,
            expired=sum(s.expired for s in parts),
        )
