"""The macro's rows in bounded pieces, read ahead: a warehouse that collects a query's result
whole before handing it out (Spark) is asked for one partition of the entities (by a hash of
their keys) at a time; every warehouse reads in a thread of its own while the caller
publishes, a few batches ahead, so that reading and publishing share the cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pyarrow as pa

from featurehouse.ahead import read_ahead
from featurehouse.project.registry import FeatureView
from featurehouse.warehouse import Warehouse
from featurehouse.warehouse.latest import read_latest

# Entities per partition where the warehouse collects results whole (rows held at once).
PARTITION_ROWS = 1_000_000
# What an embedded warehouse (DuckDB) may use while a sync reads it, unless the profile says
# otherwise; beyond it DuckDB spills to disk, so that the sync's memory stays bounded.
WAREHOUSE_MEMORY_MB = 512
# ... and while it builds the held latest rows, before the publish holds any memory: at 10M
# entities from 100M rows the pick's aggregate and row-id join spilled under 512 MB and took
# 2.7x the CPU they take under 1,024 MB (README "Sync memory").
HOLD_MEMORY_MB = 1024
# Batches the reading thread may be ahead of the caller (DEFAULT_BATCH_SIZE rows each).
AHEAD_BATCHES = 8


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
