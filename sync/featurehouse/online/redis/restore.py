"""A full publish's buckets written with RESTORE instead of HSET, where Redis takes it.

A full sync writes a new generation: none of its bucket keys exists before the publish, and
with the rows sorted by bucket (prepare.bucket_sorted) each bucket of a group arrives whole in
one chunk. The C extension (_speedups.c `restore_payload`) then writes each bucket as the
DUMP payload of the listpack hash its HSET would have made (the same entries, byte for byte),
and Redis copies it in place with `RESTORE <key> 0 <payload>`: a fifth of the CPU HSET takes
to insert the entries one by one (~80 ms against ~390 ms for 1M entities), and Redis's CPU is
what a full sync waits for last.

HSET still writes (the same bytes, the same keys) when:
- the server refuses the probe at the start of the publish: Redis before 7.0 (its RDB has no
  listpack hashes), a user whose ACL lacks RESTORE, a server that renames or lacks it;
- the store is a Redis Cluster (its writes are resent after a slot moves; HSET is idempotent);
- the records are JSON (an incremental generation), or the extension is not built;
- a bucket was written before in this publish (a publish larger than one group: its later
  groups add to the buckets the first one restored), or a chunk holds a field twice (HSET
  keeps the last);
- a chunk's records or keys are longer than Redis's hash-max-listpack-value (64, its default,
  when CONFIG GET is denied): HSET makes those buckets hashtables, RESTORE would keep them
  listpacks (Redis converts a restored listpack only for its entry count).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import redis

from featurehouse.online.packed import bytes_array
from featurehouse.online.packed_c import text_buffers
from featurehouse.online.redis import layout, resp
from featurehouse.online.redis.cluster import is_cluster
from featurehouse.online.redis.prepare import Prepared
from featurehouse.online.redis.resp import bucket_runs

try:  # the C writer (setup.py builds it when a C compiler is there)
    from featurehouse.online.redis._speedups import restore_payload as _restore_payload
except ImportError:  # pragma: no cover - not built: HSET writes every bucket
    _restore_payload = None

# The RDB version of the payloads: Redis 7.0's, the first with listpack hashes (type 16);
# every later Redis and Valkey reads it.
RDB_VERSION = 10
DEFAULT_VALUE_LIMIT = 64  # Redis's hash-max-listpack-value, assumed when CONFIG is denied


class Restorer:
    """The RESTORE writer of one full publish: which buckets it has written."""

    def __init__(self, key_names: Any, buckets: int, value_limit: int) -> None:
        self.key_names = key_names  # bucket numbers -> key names (Target.key_names)
        self.written = np.zeros(buckets, bool)
        self.value_limit = value_limit  # the longest record or key a listpack keeps

    @classmethod
    def start(cls, client: Any, target: Any, limits: tuple[int, int] | None) -> Restorer | None:
        """The publish's Restorer, when this server restores a probe into the generation's
        first bucket key and reads it back as written (the key deleted in the same round
        trip; a crash leaves it to the generation's cleanup); None: HSET writes (see the
        module's docstring)."""
        if _restore_payload is None or not target.codec.binary or is_cluster(client):
            return None
        key = layout.data_key(target.key_prefix, target.schema.entity, 0, target.tags)
        probe = _restore_payload(
            np.ones(1, np.int32),
            *text_buffers(bytes_array(key.encode(), pa.binary())),
            *text_buffers(bytes_array(b"probe", pa.binary())),
            *text_buffers(bytes_array(b"restored", pa.binary())),
            RDB_VERSION,
        )
        check = resp.command("HGET", key, "probe") + resp.command("UNLINK", key)
        conn = client.connection_pool.get_connection()
        try:
            conn.send_packed_command([probe, check])
            replies = []
            for _ in range(3):  # RESTORE, HGET, UNLINK: each read, an error or not
                try:
                    replies.append(conn.read_response())
                except redis.ResponseError as exc:
                    replies.append(exc)
        finally:
            client.connection_pool.release(conn)
        if replies[0] not in (b"OK", "OK") or replies[1] not in (b"restored", "restored"):
            return None  # refused, or not read back as written: HSET writes
        if isinstance(replies[2], Exception):
            raise replies[2]
        value_limit = limits[1] if limits is not None else DEFAULT_VALUE_LIMIT
        return cls(target.key_names, target.buckets, value_limit)

    def claim(self, p: Prepared) -> tuple[pa.Array, pa.Array] | None:
        """Mark the chunk's buckets written (whichever command writes them); their runs
        (bucket values, rows each) when RESTORE may write them (`build`), None when HSET
        must: a bucket written before, a record or key longer than a listpack keeps, nulls."""
        if not len(p.fields):
            return None
        values, lengths, _ = bucket_runs(p.buckets)
        index = layout.to_numpy(values).astype(np.int64)  # (np.asarray would import pandas)
        fresh = not self.written[index].any()
        self.written[index] = True
        if not fresh or not p.binary or p.fields.null_count or p.items[0].null_count:
            return None
        if max(p.max_record, p.max_field) > self.value_limit:
            return None
        return values, lengths

    def build(self, p: Prepared, runs: tuple[pa.Array, pa.Array]) -> tuple[bytes, int] | None:
        """The chunk's RESTORE commands and their count (`claim`'s runs); None when a run
        holds a field twice (HSET keeps the last)."""
        values, lengths = runs
        data = _restore_payload(
            np.ascontiguousarray(layout.to_numpy(lengths), np.int32),
            *text_buffers(self.key_names(values)),
            *text_buffers(p.fields),
            *text_buffers(p.items[0]),
            RDB_VERSION,
        )
        return None if data is None else (data, len(values))
