"""The rows a sync publishes, read from any warehouse as Arrow record batches.

They are picked by the dbt macro `featurehouse.latest_feature_rows`, rendered by dbt (see
`project.render`); this module only counts, projects, casts and streams them, in SQL that
every adapter runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from featurehouse.online.clock import window_start
from featurehouse.online.encoding import CREATED_AT, EVENT_AT
from featurehouse.project.registry import FeatureView
from featurehouse.project.render import EXPIRED, TIE_BREAKS
from featurehouse.types import arrow_type, sql_type
from featurehouse.warehouse import DEFAULT_BATCH_SIZE, Warehouse
from featurehouse.warehouse import quote as _q


@dataclass(frozen=True)
class LatestStats:
    """What the macro's rows at one as-of look like before publishing."""

    rows: int  # rows the macro returned: entities with a row at or before the as-of
    null_keys: int  # of which have a null key: skipped
    duplicate_keys: int  # entities returned more than once (a broken grain)
    changed: int  # rows with a key that an incremental read returns (all of them when full)
    watermark: datetime | None  # greatest created (else event) timestamp of those rows
    tie_breaks: int  # rows of the view that lost the tie-break on created timestamp
    expired: int = 0  # rows with a key older than the TTL at the as-of (served as expired)


@dataclass(frozen=True)
class Since:
    """Incremental reads: rows whose event ts > as_of or created/event ts > watermark, and
    rows the TTL served at as_of that it no longer serves (now tombstones)."""

    as_of: datetime
    watermark: datetime | None


def arrow_schema(view: FeatureView, *, expired: bool = False) -> pa.Schema:
    """The batches' schema: keys, __event_at, __created_at, (`expired`: the macro's EXPIRED
    flag), then the features."""
    fields = [pa.field(k.name, arrow_type(k.online_type)) for k in view.keys]
    fields += [pa.field(EVENT_AT, pa.timestamp("us")), pa.field(CREATED_AT, pa.timestamp("us"))]
    if expired:
        fields.append(pa.field(EXPIRED, pa.bool_()))
    fields += [pa.field(f.name, arrow_type(f.online_type)) for f in view.features]
    return pa.schema(fields)


@contextlib.contextmanager
def latest_rows(
    warehouse: Warehouse, view: FeatureView, macro_sql: str, as_of: datetime
) -> Iterator[str]:
    """SQL of the macro's rows at `as_of`, which the stats and the read both select from:
    held once in a table where the warehouse can (DuckDB), so that the macro runs once."""
    with warehouse.hold(macro_sql, {"as_of": as_of}) as held:
        yield held


def _casts(view: FeatureView, dialect: str) -> list[tuple[str, str]]:
    """(SQL of the feature cast to its online type, online type) per feature."""
    return [
        (f"cast({_q(f.name)} as {sql_type(f.online_type, dialect)})", f.online_type)
        for f in view.features
    ]


def latest_stats(
    warehouse: Warehouse,
    view: FeatureView,
    macro_sql: str,
    as_of: datetime,
    since: Since | None = None,
) -> LatestStats:
    """Count the macro's rows, null keys, duplicate entities, expired rows and lost
    tie-breaks (the macro's TIE_BREAKS, summed); the watermark: one query over its rows."""
    changed, params = _changed(warehouse, view, since)
    sql = _stats_sql(view, warehouse.prepare(macro_sql), changed)
    row = warehouse.fetch_all(sql, {"as_of": as_of, **params})[0]
    counts = (int(v) for v in row[:4])
    return LatestStats(*counts, watermark=row[4], tie_breaks=int(row[6]), expired=int(row[5]))


def _stats_sql(view: FeatureView, latest_sql: str, changed: str) -> str:
    """One query over the macro's rows."""
    keys = [_q(k.name) for k in view.keys]
    null_key = " or ".join(f"{k} is null" for k in keys)
    not_null = " and ".join(f"{k} is not null" for k in keys)
    event = _q(view.event_timestamp)
    created = f"coalesce({_q(view.created_timestamp or view.event_timestamp)}, {event})"
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
    (select max({created}) from latest where {not_null} and {changed}) as watermark,
    (select count(*) from latest where {not_null} and {EXPIRED}) as n_expired,
    (select coalesce(sum({TIE_BREAKS}), 0) from latest where {not_null}) as n_tie_breaks
"""


def _changed(
    warehouse: Warehouse, view: FeatureView, since: Since | None
) -> tuple[str, dict[str, Any]]:
    """The incremental condition: a newer event than the last as-of, or a newer load, or a
    row that was within the TTL at the last as-of and is expired now (its record shrinks to a
    tombstone; the answer would be the same without, the memory not)."""
    if since is None or since.watermark is None:  # no watermark: the last sync saw no row
        return "true", {}
    event = _q(view.event_timestamp)
    created = _q(view.created_timestamp or view.event_timestamp)
    condition = f"{event} > {warehouse.param('since')}"
    condition += f" or coalesce({created}, {event}) > {warehouse.param('watermark')}"
    params: dict[str, Any] = {"since": since.as_of, "watermark": since.watermark}
    served_then = window_start(since.as_of, view.ttl_seconds)
    if served_then is not None:
        condition += f" or ({EXPIRED} and {event} >= {warehouse.param('served_then')})"
        params["served_then"] = served_then
    return f"({condition})", params


def read_latest(
    warehouse: Warehouse,
    view: FeatureView,
    macro_sql: str,
    as_of: datetime,
    *,
    since: Since | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    expired: bool = False,
    partition: tuple[int, int] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream the macro's rows at `as_of` (null keys dropped) in `arrow_schema(view)`;
    `expired`: with the macro's flag of rows older than the TTL (EXPIRED);
    `partition` (i, n): only the entities whose key hash falls in partition i of n."""
    schema = arrow_schema(view, expired=expired)
    created = _q(view.created_timestamp or view.event_timestamp)
    event = _q(view.event_timestamp)
    columns = [
        f"cast({_q(k.name)} as {sql_type(k.online_type, warehouse.adapter)}) as {_q(k.name)}"
        for k in view.keys
    ]
    columns += [
        f"cast({event} as timestamp) as {_q(EVENT_AT)}",
        f"cast({created} as timestamp) as {_q(CREATED_AT)}",
    ]
    if expired:
        columns.append(EXPIRED)
    columns += [
        f"{cast} as {_q(f.name)}"
        for (cast, _), f in zip(_casts(view, warehouse.adapter), view.features, strict=True)
    ]
    changed, params = _changed(warehouse, view, since)
    where = [*(f"{_q(k.name)} is not null" for k in view.keys), changed]
    if partition is not None:
        index, count = partition
        where.append(f"{warehouse.partition([_q(k.name) for k in view.keys], count)} = {index}")
    params["as_of"] = as_of
    sql = (
        "select\n    "
        + ",\n    ".join(columns)
        + f"\nfrom (\n{warehouse.prepare(macro_sql)}\n) as latest\nwhere "
        + "\n    and ".join(where)
    )
    with contextlib.closing(warehouse.stream(sql, params, batch_size)) as batches:
        for batch in batches:
            yield _conform(batch, schema)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    arrays = [
        column if column.type == f.type else column.cast(f.type)
        for column, f in zip(batch.columns, schema, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
