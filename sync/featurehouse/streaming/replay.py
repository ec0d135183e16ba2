"""Replay a seed's rows as raw events on its stream, at a chosen rate, in event-time order.

The demo clickstream becomes a live stream (`featurehouse stream replay raw_page_views`).
With `retime`, each event is stamped with the time it is sent (other timestamp columns keep
their distance to it) and unique-tested columns get an offset, so the replayed events are
new ones and a consumer on the wall clock shows values changing as they arrive.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from featurehouse.errors import StreamError
from featurehouse.online import OnlineStore
from featurehouse.online.redis import streams
from featurehouse.project.manifest import Manifest
from featurehouse.project.settings import parse_timestamp
from featurehouse.streaming.brokers import encode_event
from featurehouse.streaming.spec import StreamSource

CHUNK = 500


class Sink(Protocol):
    def send(self, events: Sequence[tuple[bytes | None, bytes]]) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Window:
    since: str | None = None
    until: str | None = None
    limit: int | None = None


class RedisSink:
    def __init__(self, store: OnlineStore, stream: str) -> None:
        self.client = store.client
        self.stream = stream

    def send(self, events: Sequence[tuple[bytes | None, bytes]]) -> None:
        streams.add(self.client, self.stream, [{streams.EVENT_FIELD: value} for _, value in events])

    def close(self) -> None:
        """The client belongs to the store."""


def sink(kind: str, store: OnlineStore, topic: str, kafka: Mapping[str, str]) -> Sink:
    """Where replayed events go: the Redis stream or Kafka topic `topic`."""
    if kind == "redis":
        return RedisSink(store, topic)
    if kind == "kafka":
        from featurehouse.streaming.kafka import KafkaSink

        return KafkaSink(dict(kafka), topic)
    raise StreamError(f"unknown broker {kind!r}: use redis or kafka")


def seed_rows(manifest: Manifest, source: StreamSource) -> pa.Table:
    """The seed's rows, typed by its column_types (a dbt source cannot be replayed)."""
    node = manifest.nodes[source.unique_id]
    if node.resource_type != "seed" or not node.file_path:
        raise StreamError(f"{source.name} is not a seed: only seeds can be replayed")
    types = {name: _arrow_type(kind) for name, kind in node.column_types.items()}
    try:
        return pv.read_csv(
            Path(node.file_path), convert_options=pv.ConvertOptions(column_types=types)
        )
    except (OSError, pa.ArrowInvalid) as exc:
        raise StreamError(f"cannot read {node.file_path} ({exc})") from exc


def events(
    rows: pa.Table, source: StreamSource, window: Window, unique: Sequence[str], retime: bool
) -> pa.Table:
    """The rows to send, in event time order (those of the window)."""
    when = event_column(source, rows)
    if window.since:
        rows = rows.filter(pc.greater_equal(rows[when], _ts(window.since, "--since")))
    if window.until:
        rows = rows.filter(pc.less(rows[when], _ts(window.until, "--until")))
    rows = rows.sort_by([(when, "ascending")])
    if window.limit is not None:
        rows = rows.slice(0, window.limit)
    if retime and rows.num_rows:
        offset = int(time.time() * 1000) * 100
        for name in unique:
            if name in rows.column_names and pa.types.is_integer(rows.schema.field(name).type):
                rows = rows.set_column(
                    rows.schema.get_field_index(name), name, pc.add(rows[name], offset)
                )
    return rows


def replay(
    manifest: Manifest,
    source: StreamSource,
    target: Sink,
    window: Window,
    rate: float,
    *,
    retime: bool = False,
    progress: Callable[[int], Any] | None = None,
    rows: pa.Table | None = None,
) -> int:
    """Send the window's events (of the seed, or of `rows` in its schema) at `rate` per
    second (0: at once); returns how many."""
    unique = [
        n.column_name
        for n in manifest.nodes.values()
        if n.resource_type == "test" and n.test_name == "unique"
        and n.attached_node == source.unique_id and n.column_name
    ]  # fmt: skip
    rows = events(
        seed_rows(manifest, source) if rows is None else rows, source, window, unique, retime
    )
    key = _key_column(source, rows)
    started = time.monotonic()
    sent = 0
    try:
        for chunk in _chunks(rows, source, retime, key):
            if rate > 0:
                delay = started + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            target.send(chunk)
            sent += len(chunk)
            if progress is not None:
                progress(sent)
    finally:
        target.close()
    return sent


def event_column(source: StreamSource, rows: pa.Table) -> str:
    """The event time to order by: the stream's declared one, else the first timestamp."""
    if source.event_timestamp:
        return source.event_timestamp
    for f in rows.schema:
        if pa.types.is_timestamp(f.type):
            return f.name
    raise StreamError(f"{source.name} has no timestamp column to replay in order")


def _chunks(
    rows: pa.Table, source: StreamSource, retime: bool, key: str | None
) -> Iterator[list[tuple[bytes | None, bytes]]]:
    when = event_column(source, rows)
    timestamps = [f.name for f in rows.schema if pa.types.is_timestamp(f.type)]
    for batch in rows.to_batches(CHUNK):
        chunk = []
        for row in batch.to_pylist():
            if retime and row.get(when) is not None:
                now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
                shift = now - row[when]
                for name in timestamps:
                    if row[name] is not None:
                        row[name] = row[name] + shift
            value = encode_event(row)
            chunk.append(
                (None if key is None or row[key] is None else str(row[key]).encode(), value)
            )
        yield chunk


def _key_column(source: StreamSource, rows: pa.Table) -> str | None:
    """The column carrying the views' entity key, so Kafka keeps an entity on one partition."""
    for view in source.views:
        for k in view.keys:
            if k.name in rows.column_names:
                return k.name
    return None


def _ts(value: str, what: str) -> pa.Scalar:
    return pa.scalar(parse_timestamp(value, what), pa.timestamp("us"))


def _arrow_type(kind: str) -> pa.DataType:
    text = kind.lower()
    if text.startswith(("bigint", "int", "integer", "smallint")):
        return pa.int64()
    if text.startswith(("double", "float", "real")):
        return pa.float64()
    if text.startswith(("numeric", "decimal")):
        return pa.float64()
    if text.startswith("timestamp"):
        return pa.timestamp("us")
    if text.startswith(("bool",)):
        return pa.bool_()
    if text.startswith("date"):
        return pa.date32()
    return pa.string()
