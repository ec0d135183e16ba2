"""Incremental publish: merge rows into the current generation, in place.

Each record is written by the `merge` function only unless the record Redis holds for that
entity wins by the point-in-time rule (the greater event_at, then the greater created_at), so
replays and out-of-order batches are harmless and a failed run can simply be rerun.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime

import pyarrow as pa
import redis

from featurehouse.errors import OnlineStoreError
from featurehouse.online.encoding import Codec
from featurehouse.online.records import PublishResult, ViewSchema
from featurehouse.online.redis import functions, layout, resp
from featurehouse.online.redis.prepare import Progress, chunks, prepare
from featurehouse.online.redis.publish import Options, Publisher, Target, iso, result


def same_layout(a: ViewSchema, b: ViewSchema) -> bool:
    """Records of `a` and `b` are read the same way (keys, features, a created_at or not)."""
    return (a.entity, a.keys, a.key_types, a.features, a.created) == (
        b.entity,
        b.keys,
        b.key_types,
        b.features,
        b.created,
    )


class Merger(Publisher):
    """Incremental: merge into the current generation (which must exist)."""

    def _publish(
        self, schema: ViewSchema, batches: Iterable[pa.RecordBatch], opts: Options
    ) -> PublishResult:
        started = time.time()
        target = self._current(schema)
        functions.load(self.client)
        prog = Progress()
        wire = self._wire(target)
        try:
            header = resp.fcall_header(
                functions.function_name("merge"),
                self._generation_keys(target),
                target.key_names,
                [str(target.generation), "1" if schema.created else "0"],
            )
            window = opts.window_us(schema)
            for chunk in chunks(schema, batches, opts.chunk_rows):
                p = prepare(schema, chunk, target.buckets, window, target.codec)
                prog.add(p)
                self._send(wire, p, header, "pair")
                if opts.progress:
                    opts.progress(p.rows)
            totals = wire.finish()
        except redis.ResponseError as exc:
            wire.abort()
            if "FHSTALE" in str(exc):
                raise self._stale(schema) from None
            raise
        except BaseException:
            wire.abort()
            raise
        self._touch(target, opts, prog, totals.first)
        written, added = totals.second, totals.first
        skipped = prog.rows_received - prog.dropped - written
        return result(
            target,
            opts,
            prog,
            rows=written,
            new=added,
            skipped=skipped,
            previous=None,
            bytes_sent=totals.bytes_sent,
            started=started,
            warnings=(),
        )

    def _current(self, schema: ViewSchema) -> Target:
        meta_key = layout.meta_key(self.root, schema.view, schema.version)
        got = self.client.hmget(
            meta_key, ["gen", "buckets", "tags", "schema", "encoding", "event_base"]
        )
        if got[0] is None:
            raise OnlineStoreError(
                f"{schema.view} v{schema.version} has no published generation to merge into; "
                "run a full sync first"
            )
        current = ViewSchema.from_json(got[3])
        if not same_layout(current, schema):
            raise OnlineStoreError(
                f"{schema.view} v{schema.version}: keys or features changed since generation "
                f"{int(got[0])}; run a full sync"
            )
        where = f"{schema.view} v{schema.version}"
        codec = Codec.stored(got[4], got[5], where)
        return Target(self.root, schema, int(got[0]), int(got[1]), int(got[2]), codec)

    def _touch(self, target: Target, opts: Options, prog: Progress, added: int) -> None:
        s = target.schema
        keys = [target.meta, layout.latest_key(self.root), layout.views_key(self.root)]
        fields = {
            "synced_at": iso(datetime.now(UTC)),
            "mode": "incremental",
            "schema": s.to_json(),
            "as_of": iso(opts.as_of),
            "clock": opts.clock,
        }
        if opts.watermark is not None:
            fields["watermark"] = iso(opts.watermark)
        args = [
            str(target.generation),
            s.view,
            layout.version_token(s.version),
            "1" if opts.is_latest else "0",
            str(added),
        ]
        for k, v in fields.items():
            args += [k, v]
        try:
            functions.fcall(self.client, "touch", keys, args)
        except redis.ResponseError as exc:
            if "FHSTALE" in str(exc):
                raise self._stale(s) from None
            raise

    @staticmethod
    def _stale(schema: ViewSchema) -> OnlineStoreError:
        return OnlineStoreError(
            f"{schema.view} v{schema.version}: the generation changed during the incremental "
            "sync (a full sync or delete ran meanwhile); rerun it"
        )
