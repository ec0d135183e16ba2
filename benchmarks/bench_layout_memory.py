"""Redis memory of record encodings and bucket sizes, on the records a sync wrote.

    python -m benchmarks layout-memory --entities 100000

Syncs the sync benchmark's view (bench_sync's project under --workdir, built if missing) into
a redis-server of its own, reads every (entity, record) back, and loads the same entities
again, one layout at a time on the flushed server, measuring the used_memory delta of each:
- plain: a readable hash per entity, the sync benchmark's (the reference of issue #19's
  memory row: bench_online.plain_hset_file, field names as the features are named);
- synced/N: the records as the sync wrote them (msgpack-v1: tagged event and load delay)
  in buckets of ~N entities;
- json/N: the same values as compact JSON arrays (json-array-v2, the encoding before);
- msgpack/N: the same values as a plain msgpack array (float64 as 9 bytes, ints as 1-9
  bytes, event_at and the load delay as epoch µs);
- struct/N: a fixed binary layout (int64 event_at, float64 and int64 features, a length-
  prefixed string, int32 load delay): what a packed record could cost at best without
  compression.
Each at the embedded store's hash settings (embedded_files.SERVER_SETTINGS) and at the
server's defaults. Nothing here changes what Featurehouse writes: it measures the options.
"""

from __future__ import annotations

import argparse
import json
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import msgpack
import redis
from featurehouse.online.encoding import Codec
from featurehouse.online.packed import untagged
from featurehouse.online.redis.embedded_files import SERVER_SETTINGS

from benchmarks.bench_online import Server, flush, load_plain, plain_hset_file, used_memory
from benchmarks.bench_sync import build, latest_rows, make_project, run_sync

Record = list  # [event_at, features..., load delay]
BATCH = 2000  # HSET fields per command while loading


def read_records(client: redis.Redis) -> tuple[Codec, list[tuple[bytes, bytes]]]:
    """The synced generation's encoding and every (entity key text, record)."""
    [meta] = client.keys("fh:{ctl}:view:*")
    codec = Codec.stored(
        *(v and v.decode() for v in client.hmget(meta, "encoding", "event_base")), "bench"
    )
    out: list[tuple[bytes, bytes]] = []
    for key in client.scan_iter(match="fh:d:*", count=1000):
        out += list(client.hgetall(key).items())
    return codec, out


def decoded(codec: Codec, raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, Record]]:
    """The records' values: event_at and load delay in epoch µs."""
    records = codec.decode([v for _, v in raw])
    if codec.binary:
        for r in records:
            r[-1] = untagged(r[-1])
    return [(f, r) for (f, _), r in zip(raw, records, strict=True)]


def packed_struct(r: Record) -> bytes:
    event, *features, delay = r
    floats, ints, text = features[:4], features[4:7], features[7].encode()
    head = struct.pack("<q4d3q", event, *floats, *ints)
    return head + bytes([len(text)]) + text + struct.pack("<i", delay)


ENCODERS: dict[str, Callable[[Record], bytes]] = {
    "json": lambda r: json.dumps(r, separators=(",", ":")).encode(),
    "msgpack": lambda r: msgpack.packb(r, use_single_float=False),
    "struct": packed_struct,
}


def load_buckets(client: redis.Redis, rows: Iterable[tuple[bytes, bytes]], buckets: int) -> None:
    by_bucket: dict[int, list[bytes]] = {}
    for field, value in rows:
        by_bucket.setdefault(zlib.crc32(field) % buckets, []).extend((field, value))
    pipe = client.pipeline(transaction=False)
    for b, items in by_bucket.items():
        key = f"fh:d:feat_bench__big:v1:g1:{{bench:{b % 1024}}}:{b}"
        for i in range(0, len(items), BATCH):
            pipe.hset(key, items=items[i : i + BATCH])
        if len(pipe) > 500:
            pipe.execute()
    pipe.execute()


def measure(client: redis.Redis, load: Callable[[], None]) -> int:
    base = flush(client)
    load()
    return used_memory(client) - base


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/benchsync"))
    parser.add_argument("--per-bucket", default="32,64,120", help="entities per bucket")
    args = parser.parse_args(argv)
    root = args.workdir / f"e{args.entities}x10"
    make_project(root)
    build(root, args.entities, 10, keep=True)
    server = Server.start(None)
    try:
        client = redis.Redis(port=server.port)
        defaults = {k: str(client.config_get(k)[k]) for k in SERVER_SETTINGS}
        for k, v in SERVER_SETTINGS.items():
            client.config_set(k, v)
        flush(client)
        run_sync(root, server.port, cold=False)
        plain = args.workdir / "plain.resp"
        plain_hset_file(latest_rows(root), plain)
        codec, raw = read_records(client)
        values = decoded(codec, raw)
        encoded = {"synced": raw}
        encoded |= {name: [(f, enc(r)) for f, r in values] for name, enc in ENCODERS.items()}
        for label, settings in (
            ("embedded store's settings", SERVER_SETTINGS),
            ("defaults", defaults),
        ):
            for k, v in settings.items():
                client.config_set(k, v)
            reference = measure(client, lambda: load_plain(server.port, plain))
            report(client, label, settings, reference, encoded, args)
        plain.unlink()
    finally:
        server.stop()


def report(
    client: redis.Redis,
    label: str,
    settings: dict[str, str],
    plain: int,
    encoded: dict[str, list[tuple[bytes, bytes]]],
    args: argparse.Namespace,
) -> None:
    n = len(next(iter(encoded.values())))
    shown = ", ".join(f"{k} {v}" for k, v in settings.items())
    print(f"\n{n:,} entities, {label} ({shown}); plain hash per entity: {plain / n:.0f} B/entity")
    print(f"{'layout':<16}{'record B':>10}{'B/entity':>10}{'vs plain':>10}")
    for name, rows in encoded.items():
        size = sum(len(v) for _, v in rows) / n
        for per in (int(x) for x in args.per_bucket.split(",")):
            buckets = 1024
            while n / buckets > per:
                buckets *= 2
            mem = measure(client, lambda r=rows, b=buckets: load_buckets(client, r, b))
            print(f"{f'{name}/{per}':<16}{size:>10.1f}{mem / n:>10.1f}{mem / plain:>9.2f}x")


if __name__ == "__main__":
    main()
