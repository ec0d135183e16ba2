"""Publishing a view version: a full sync writes a new generation and switches to it in one
atomic step; an incremental sync merges into the current generation, where an older event_at
never overwrites a newer one (server-side, in Lua).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import redis

from featurehouse.errors import OnlineStoreError
from featurehouse.online.clock import window_start_us
from featurehouse.online.encoding import ENCODING, JSON_RECORDS, Codec, naive_utc, to_epoch_us
from featurehouse.online.records import PublishResult, ViewSchema
from featurehouse.online.redis import cluster, cluster_writes, functions, layout, resp
from featurehouse.online.redis.listpack import listpack_limits, listpack_warning
from featurehouse.online.redis.prepare import (
    Prepared,
    Progress,
    bucket_sorted,
    encoded,
    prepare,
)
from featurehouse.online.redis.restore import Restorer
from featurehouse.online.redis.wire import REDIS_ERRORS, Job, Wire, describe, translate

log = logging.getLogger(__name__)

CHUNK_ROWS = 131_072  # rows encoded and sent per payload
HEARTBEAT_SECONDS = 30


@dataclass(frozen=True)
class Options:
    as_of: datetime
    clock: str
    mode: str
    watermark: datetime | None
    expected_rows: int | None
    progress: Callable[[int], None] | None
    stats: Mapping[str, Any] | Callable[[], Mapping[str, Any]]
    is_latest: bool
    chunk_rows: int = CHUNK_ROWS

    def window_us(self, schema: ViewSchema) -> int | None:
        """Rows with an older event are expired at this publish's clock (its as-of)."""
        return window_start_us(to_epoch_us(self.as_of), schema.ttl_seconds)


@dataclass(frozen=True)
class Target:
    """Where one generation of a view version lives."""

    root: str  # the store's key prefix
    schema: ViewSchema
    generation: int
    buckets: int
    tags: int = layout.TAGS
    codec: Codec = JSON_RECORDS  # how its records are written

    @property
    def key_prefix(self) -> str:
        return layout.data_prefix(self.root, self.schema.view, self.schema.version, self.generation)

    @property
    def meta(self) -> str:
        return layout.meta_key(self.root, self.schema.view, self.schema.version)

    @property
    def field(self) -> str:
        return f"g{self.generation}"

    def key_names(self, buckets: pa.Array) -> pa.Array:
        return layout.data_key_array(self.key_prefix, self.schema.entity, buckets, self.tags)

    def live_names(self, buckets: pa.Array) -> pa.Array:
        return layout.live_key_array(self.key_prefix, self.schema.entity, buckets, self.tags)

    def entry(self, started: float) -> str:
        """The `syncing` hash value: what a cleanup needs to delete this generation."""
        return json.dumps(
            {
                "view": self.schema.view,
                "version": layout.version_token(self.schema.version),
                "generation": self.generation,
                "key_prefix": self.key_prefix,
                "entity": self.schema.entity,
                "buckets": self.buckets,
                "tags": self.tags,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "pid_start": pid_start(os.getpid()),
                "started_at": started,
                "heartbeat_at": time.time(),
            }
        )


class Heartbeat:
    """Refreshes a generation's `syncing` entry while it is written, so that a cleanup on
    another host can tell a slow sync from a dead one."""

    def __init__(self, client: redis.Redis, key: str, target: Target, started: float) -> None:
        self._args = (client, key, target, started)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="featurehouse-heartbeat")
        self._thread.daemon = True

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        client, key, target, started = self._args
        while not self._stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(redis.RedisError, OSError):  # the publish reports errors
                client.hset(key, target.field, target.entry(started))


def iso(ts: datetime) -> str:
    return naive_utc(ts).isoformat() + "Z"


def pid_start(pid: int) -> str | None:
    """The process start time (clock ticks since boot, Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def check_options(schema: ViewSchema, opts: Options) -> None:
    where = f"{schema.view} v{schema.version}"
    if opts.clock not in ("wall", "as_of"):
        raise OnlineStoreError(f"{where}: clock must be 'wall' or 'as_of', not {opts.clock!r}")
    if opts.mode not in ("full", "incremental"):
        raise OnlineStoreError(f"{where}: mode must be 'full' or 'incremental', not {opts.mode!r}")


def meta_fields(
    target: Target, opts: Options, prog: Progress, rows: int, started: float
) -> dict[str, str]:
    s = target.schema
    return {
        "layout": str(layout.LAYOUT_VERSION),
        **target.codec.meta(),
        "view": s.view,
        "version": layout.version_token(s.version),
        "gen": str(target.generation),
        "key_prefix": target.key_prefix,
        "entity": s.entity,
        "buckets": str(target.buckets),
        "tags": str(target.tags),
        "schema": s.to_json(),
        "synced_at": iso(datetime.now(UTC)),
        "as_of": iso(opts.as_of),
        "clock": opts.clock,
        "watermark": iso(opts.watermark) if opts.watermark else "",
        "rows": str(rows),
        "rows_received": str(prog.rows_received),
        "mode": opts.mode,
        "seconds": f"{time.time() - started:.3f}",
        "max_record_bytes": str(prog.max_record),
        "stats": json.dumps(
            dict(opts.stats() if callable(opts.stats) else opts.stats),
            default=str,
            separators=(",", ":"),
        ),
        "library": functions.LIBRARY_HASH,
    }


def result(
    target: Target,
    opts: Options,
    prog: Progress,
    *,
    rows: int,
    new: int,
    skipped: int,
    previous: int | None,
    bytes_sent: int,
    started: float,
    warnings: tuple[str, ...],
) -> PublishResult:
    return PublishResult(
        view=target.schema.view,
        version=target.schema.version,
        mode=opts.mode,
        generation=target.generation,
        previous_generation=previous,
        rows=rows,
        rows_received=prog.rows_received,
        new_entities=new,
        skipped_older=skipped,
        dropped_null_keys=prog.dropped,
        buckets=target.buckets,
        bytes_sent=bytes_sent,
        max_record_bytes=prog.max_record,
        seconds=time.time() - started,
        is_latest=opts.is_latest,
        warnings=warnings,
        expired=prog.expired,
    )


def unlink_generation(
    client: redis.Redis, key_prefix: str, entity: str, buckets: int, tags: int
) -> int:
    """Delete every key a generation may have, by name (no SCAN)."""
    keys = layout.all_data_keys(key_prefix, entity, buckets, tags)
    pipe = client.pipeline(transaction=False)
    if cluster.is_cluster(client):  # one key per command: the pipeline groups them per node
        for key in keys + [layout.live_key(key_prefix, entity, t) for t in range(tags)]:
            pipe.unlink(key)
        return sum(pipe.execute()[: len(keys)])  # data keys (the markers go with them)
    for i in range(0, len(keys), 1000):
        pipe.unlink(*keys[i : i + 1000])
    return sum(pipe.execute())


class Publisher:
    """One publish of one view version (full or incremental)."""

    def __init__(
        self, client: redis.Redis, root: str, active: set[int], encoding: str = ENCODING
    ) -> None:
        self.client = client
        self.root = root
        self.active = active  # generations this process is writing right now
        self.encoding = encoding  # a full publish's (a merge writes its generation's)
        self.where = describe(client)

    def run(
        self, schema: ViewSchema, batches: Iterable[pa.RecordBatch], opts: Options
    ) -> PublishResult:
        check_options(schema, opts)
        action = f"publishing {schema.view} v{schema.version}"
        try:
            return self._publish(schema, batches, opts)
        except REDIS_ERRORS as exc:
            raise translate(exc, self.where, action) from exc

    def _publish(
        self, schema: ViewSchema, batches: Iterable[pa.RecordBatch], opts: Options
    ) -> PublishResult:
        started = time.time()
        rows_hint = opts.expected_rows
        if rows_hint is None:
            batches, rows_hint = self._rows_hint(schema, batches)
        codec = Codec.starting(opts.as_of, self.encoding)
        target = self._begin(schema, layout.choose_buckets(rows_hint), started, codec)
        try:
            with Heartbeat(self.client, layout.syncing_key(self.root), target, started):
                prog, totals, warning = self._stream_full(target, batches, opts)
            fields = meta_fields(target, opts, prog, totals.count, started)
            previous = self._commit(target, opts, fields)
        except BaseException as exc:
            self._abandon(target)
            if isinstance(exc, redis.ResponseError) and "FHGONE" in str(exc):
                raise OnlineStoreError(
                    f"{schema.view} v{schema.version}: generation {target.generation} was removed "
                    "by a cleanup or delete while it was written; rerun the sync"
                ) from None
            raise
        finally:
            self.active.discard(target.generation)
        if previous is not None:
            self._drop_retired(previous)
        return result(
            target,
            opts,
            prog,
            rows=totals.count,
            new=totals.count,
            skipped=0,
            previous=previous,
            bytes_sent=totals.bytes_sent,
            started=started,
            warnings=warning,
        )

    def _rows_hint(
        self, schema: ViewSchema, batches: Iterable[pa.RecordBatch]
    ) -> tuple[Iterable[pa.RecordBatch], int]:
        """Without expected_rows: the stored row count, else count the (buffered) batches."""
        meta = layout.meta_key(self.root, schema.view, schema.version)
        stored = int(self.client.hget(meta, "rows") or 0)
        if stored:
            return batches, stored
        buffered = list(batches)
        return buffered, sum(b.num_rows for b in buffered)

    def _begin(self, schema: ViewSchema, buckets: int, started: float, codec: Codec) -> Target:
        generation = int(self.client.incr(layout.seq_key(self.root)))
        target = Target(self.root, schema, generation, buckets, codec=codec)
        self.active.add(generation)
        self.client.hset(layout.syncing_key(self.root), target.field, target.entry(started))
        return target

    def _stream_full(self, target: Target, batches, opts: Options):
        limits = listpack_limits(self.client)
        header = resp.hset_header(target.key_names)
        prog = Progress()
        wire = self._wire(target)
        try:
            restorer = Restorer.start(self.client, target, limits)
            window = opts.window_us(target.schema)
            with contextlib.closing(encoded(target.schema, batches, target.codec)) as records:
                ordered = bucket_sorted(target.schema, records, target.buckets, opts.chunk_rows)
                for chunk in ordered:
                    p = prepare(target.schema, chunk, target.buckets, window, target.codec)
                    prog.add(p)
                    runs = restorer.claim(p) if restorer is not None else None
                    restored = restorer.build(p, runs) if runs is not None else None
                    if restored is not None:
                        data, commands = restored
                        wire.submit(Job([data], commands, "restore", rows=len(p.fields)))
                    else:
                        self._send(wire, p, header, "count")
                    if opts.progress:
                        opts.progress(p.rows)
            cluster_writes.mark_live(wire, target.live_names, target.generation)
            totals = wire.finish()
        except BaseException:
            wire.abort()
            raise
        warning = listpack_warning(target.schema, prog, limits)
        if warning:
            log.warning(warning)
        return prog, totals, (warning,) if warning else ()

    def _generation_keys(self, target: Target) -> Any:
        """The key whose `gen` the merge checks: meta, or a cluster slot's `layout.live_key`."""
        return target.live_names if cluster.is_cluster(self.client) else [target.meta]

    def _wire(self, target: Target) -> Wire | cluster_writes.NodeWires:
        """The writer of a publish: one connection, or one per node of a cluster."""
        return cluster_writes.writer(self.client, target.schema.entity, target.tags)

    def _send(self, wire: Any, p: Prepared, header: resp.Header, kind: str) -> None:
        if p.rows - p.dropped == 0:
            return
        for node, part in cluster_writes.routed(wire, p):
            data, commands = resp.payload(
                part.buckets, part.fields, part.items, part.record_length, header, part.binary
            )
            retry = None  # a merge is not resent: its counts would be wrong
            if wire is not node and kind == "count":
                retry = cluster_writes.resend(self._send, part, header, kind)
            node.submit(Job(data, commands, kind, retry=retry))

    def _commit(self, target: Target, opts: Options, fields: dict[str, str]) -> int | None:
        s = target.schema
        ctl = (layout.syncing_key, layout.retired_key, layout.latest_key, layout.views_key)
        keys = [target.meta, *(f(self.root) for f in ctl)]
        args = [
            target.field,
            s.view,
            layout.version_token(s.version),
            "1" if opts.is_latest else "0",
            iso(datetime.now(UTC)),
        ]
        for k, v in fields.items():
            args += [k, v]
        previous = functions.fcall(self.client, "commit", keys, args)
        return int(previous) if previous else None

    def _abandon(self, target: Target) -> None:
        """Best effort: delete a failed generation now (else the next cleanup() does)."""
        with contextlib.suppress(redis.RedisError, OSError):
            unlink_generation(
                self.client, target.key_prefix, target.schema.entity, target.buckets, target.tags
            )
            self.client.hdel(layout.syncing_key(self.root), target.field)

    def _drop_retired(self, generation: int) -> None:
        raw = self.client.hget(layout.retired_key(self.root), f"g{generation}")
        if raw:
            e = json.loads(raw)
            unlink_generation(self.client, e["key_prefix"], e["entity"], e["buckets"], e["tags"])
            self.client.hdel(layout.retired_key(self.root), f"g{generation}")
