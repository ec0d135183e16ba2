"""Online store benchmark: our publish and reads against plain Redis on the same data.

    python -m benchmarks.bench_online --entities 1000000

Builds an N-entity x 8-feature Arrow dataset (4 float, 3 int, 1 string) in memory and, on a
redis-server of its own (free loopback port, flushed between phases), measures:
- the floor: `redis-cli --pipe` loading pre-built plain 8-field HSETs (readable field names,
  decimal string values), its used_memory delta, and raw redis-py HMGET / 100-HMGET pipeline
  read latencies;
- featurehouse: `OnlineStore.publish` (encode + send + atomic switch, the Redis part of a
  sync), its used_memory delta (recommended and default hash-max-listpack-value), and `read`
  latencies for 1 entity and 100 entities (1 view, all features);
- the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import hiredis
import pyarrow as pa
import pyarrow.compute as pc
import redis
from featurehouse.online import FeatureSpec, OnlineStore, ReadRequest, ViewSchema
from featurehouse.online.encoding import encode_column
from featurehouse.online.redis import RedisStore
from featurehouse.online.redis.read import Reader, ReadSteps
from featurehouse.online.redis.resp import bulk_array, concatenated

AS_OF = datetime(2026, 5, 1)
PREFIX = "fhbench"
FEATURES = (
    ("sum_amount_30d", "float64"),
    ("avg_amount_30d", "float64"),
    ("share_cancelled_90d", "float64"),
    ("max_amount_lifetime", "float64"),
    ("count_orders_30d", "int64"),
    ("count_orders_lifetime", "int64"),
    ("days_since_last_order", "int64"),
    ("country_code", "string"),
)
SCHEMA = ViewSchema(
    view="feat_customer__bench",
    version=1,
    entity="customer",
    keys=("customer_id",),
    key_types=("int64",),
    features=tuple(FeatureSpec(n, t) for n, t in FEATURES),
    ttl_seconds=86_400,
)
COUNTRIES = pa.array(["US", "DE", "FR", "GB", "NL", "JP", "BR", "IN", "CA", "ES"])


def dataset(n: int, max_age_seconds: int = 86_400) -> pa.Table:
    """Money rounded to cents, ratios and averages at full double precision; event times
    spread over the `max_age_seconds` before AS_OF."""
    rand = pc.random  # uniform [0, 1), column-wise

    def ints(scale: int) -> pa.Array:
        return pc.cast(pc.floor(pc.multiply(rand(n), scale)), pa.int64())

    events = pc.subtract(
        pa.scalar(AS_OF, pa.timestamp("us")),
        pc.cast(pc.multiply(ints(max_age_seconds), 1_000_000), pa.duration("us")),
    )
    return pa.table(
        {
            "customer_id": pa.array(range(n), pa.int64()),
            "__event_at": events,
            "sum_amount_30d": pc.round(pc.multiply(rand(n), 2000), 2),
            "avg_amount_30d": pc.multiply(rand(n), 200),
            "share_cancelled_90d": rand(n),
            "max_amount_lifetime": pc.round(pc.multiply(rand(n), 5000), 2),
            "count_orders_30d": ints(20),
            "count_orders_lifetime": ints(500),
            "days_since_last_order": ints(365),
            "country_code": pc.take(COUNTRIES, ints(len(COUNTRIES))),
        }
    )


def plain_key(ids: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise("plain:customer:", pc.cast(ids, pa.string()), "")


def plain_hset_file(table: pa.Table, path: Path) -> None:
    """RESP `HSET plain:customer:<id> <name> <decimal text> ...` for every row."""
    with path.open("wb") as f:
        for batch in table.to_batches(max_chunksize=100_000):
            parts = [
                f"*{2 + 2 * len(FEATURES)}\r\n$4\r\nHSET\r\n",
                bulk_array(plain_key(batch.column("customer_id"))),
            ]
            for name, kind in FEATURES:
                text = pc.cast(batch.column(name), pa.string())
                if kind == "float64":
                    text = encode_column(batch.column(name), kind)
                parts += [f"${len(name)}\r\n{name}\r\n", bulk_array(text)]
            joined = pc.binary_join_element_wise(*parts, "")
            f.write(concatenated(joined))


@dataclass
class Server:
    port: int
    proc: subprocess.Popen

    @classmethod
    def start(cls, listpack_value: int | None) -> Server:
        """A redis-server on a free loopback port; `listpack_value` None: the server's default."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        if listpack_value is not None:
            cmd += ["--hash-max-listpack-value", str(listpack_value)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                return cls(port, proc)
            except OSError:
                time.sleep(0.05)
        proc.kill()
        raise RuntimeError("benchmark redis-server did not start")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def server_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def flush(client: redis.Redis) -> int:
    client.flushall()
    time.sleep(0.2)
    return used_memory(client)


def p_us(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def timed(fn: Callable[[], object], rounds: int) -> list[int]:
    out = []
    for _ in range(rounds):
        t = time.perf_counter_ns()
        fn()
        out.append(time.perf_counter_ns() - t)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_plain(port: int, path: Path) -> float:
    """Seconds `redis-cli --pipe` takes to load the pre-built HSET file."""
    t = time.perf_counter()
    with path.open("rb") as f:
        done = subprocess.run(
            ["redis-cli", "-p", str(port), "--pipe"],
            stdin=f,
            capture_output=True,
            text=True,
            check=True,
        )
    seconds = time.perf_counter() - t
    if "errors: 0" not in done.stdout:
        raise RuntimeError(f"redis-cli --pipe reported errors: {done.stdout.strip()}")
    return seconds


def publish(store: OnlineStore, table: pa.Table) -> float:
    t = time.perf_counter()
    store.publish(
        SCHEMA,
        table.to_batches(max_chunksize=100_000),
        as_of=AS_OF,
        clock="as_of",
        mode="full",
        watermark=AS_OF,
        expected_rows=table.num_rows,
        is_latest=True,
    )
    return time.perf_counter() - t


def sample_encoding(client: redis.Redis, match: str) -> str:
    key = next(iter(client.scan_iter(match=match, count=1000)), None)
    return client.object("encoding", key).decode() if key else "-"


class BareClient:
    """The fastest raw client we can write in Python: one TCP socket, commands packed by
    hiredis and sent in one write, replies parsed by hiredis (no pool, no retries, no
    per-reply Python). A second reference beside redis-py's, printed for information."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def call(self, commands: list[tuple]) -> list:
        return self.call_packed(b"".join(map(hiredis.pack_command, commands)), len(commands))

    def call_packed(self, packed: bytes, count: int) -> list:
        self.sock.sendall(packed)
        out: list = []
        while len(out) < count:
            self.reader.feed(self.sock.recv(1 << 20))
            while (reply := self.reader.gets()) is not False:
                out.append(reply)
        return out


def latencies(client: redis.Redis, store: OnlineStore, n: int, rounds: int) -> dict[str, list]:
    """Interleaved rounds of raw HMGET, our read (1 entity), 100 HMGETs, our read (100), the
    bare client's HMGET and 100 HMGETs, and the bare client sending our read's commands
    (`layout_round`). Each measure of a round draws its own entities: one that read the keys
    another had just read would find them in the server's CPU caches (our read's commands
    sent a second time for the same 100 entities took 0.68x / 0.74x as long, p50 / p99),
    flattering whichever came second."""
    names = [name for name, _ in FEATURES]
    request = [ReadRequest(SCHEMA.view, SCHEMA.version)]
    rng = random.Random(7)
    keys = ("raw1", "ours1", "raw100", "ours100", "bare1", "bare100", "layout100")
    out: dict[str, list[int]] = {k: [] for k in keys}
    bare = BareClient(client.connection_pool.connection_kwargs["port"])

    def raw100(ids: list[int]) -> None:
        pipe = client.pipeline(transaction=False)
        for i in ids:
            pipe.hmget(f"plain:customer:{i}", names)
        pipe.execute()

    def bare_hmgets(ids: list[int]) -> list:
        return bare.call([("HMGET", f"plain:customer:{i}", *names) for i in ids])

    store.read(request, [{"customer_id": 0}])  # schema cache, function loaded
    steps = Reader(client, PREFIX)  # a reader's planning (ReadSteps), sent on `bare` below
    steps.read(request, [{"customer_id": 0}], None)  # its metadata cached

    def ids(count: int) -> list[int]:
        return [rng.randrange(n) for _ in range(count)]

    def rows(count: int) -> list[dict[str, int]]:
        return [{"customer_id": i} for i in ids(count)]

    for _ in range(rounds):
        one, ours1, many, ours100 = ids(1)[0], rows(1), ids(100), rows(100)
        bare_one, bare_many, layout = ids(1), ids(100), rows(100)
        out["raw1"] += timed(lambda one=one: client.hmget(f"plain:customer:{one}", names), 1)
        out["ours1"] += timed(lambda r=ours1: store.read(request, r), 1)
        out["raw100"] += timed(lambda many=many: raw100(many), 1)
        out["ours100"] += timed(lambda r=ours100: store.read(request, r), 1)
        out["bare1"] += timed(lambda i=bare_one: bare_hmgets(i), 1)
        out["bare100"] += timed(lambda i=bare_many: bare_hmgets(i), 1)
        out["layout100"] += timed(lambda r=layout: layout_round(bare, steps, request, r), 1)
    bare.sock.close()
    return out


def layout_round(bare: BareClient, steps: ReadSteps, request: list, rows: list) -> list:
    """Our read's round trip on the bare client: the commands `OnlineStore.read` sends (its
    HGETs and generation check, planned by the same `ReadSteps`), the replies parsed by
    hiredis and not decoded into an answer: the floor of any client of our layout here."""
    plan = steps.steps(request, rows, None)
    trip = next(plan)
    plan.close()
    return bare.call_packed(trip.packed(), trip.count)


def report(n: int, figures: dict[str, float], lat: dict[str, list], encodings: dict) -> None:
    def line(metric: str, floor: str, ours: str, ratio: str = "", target: str = "") -> None:
        print(f"{metric:<40}{floor:>14}{ours:>14}{ratio:>8}  {target}")

    f = figures
    mb = 2**20
    print(f"\nonline store benchmark: {n:,} entities x 8 features (4 float, 3 int, 1 string)")
    print(
        f"redis {f['redis_version']}, hash-max-listpack-value {f['listpack']:.0f}, "
        f"load average {f['load']:.1f} on {f['cpus']} cores\n"
    )
    line("metric", "plain floor", "featurehouse", "ratio", "target")
    line("publish seconds (Redis part)", f"{f['floor_s']:.2f}", f"{f['ours_s']:.2f}")
    line(
        "publish rows/s",
        f"{n / f['floor_s']:,.0f}",
        f"{n / f['ours_s']:,.0f}",
        f"{f['floor_s'] / f['ours_s']:.2f}x",
        ">= 1.0x",
    )
    line("  redis-server CPU s", f"{f['plain_cpu']:.2f}", f"{f['ours_cpu']:.2f}")
    line("  client CPU s (encode + send)", "prebuilt", f"{f['ours_client_cpu']:.2f}")
    line(
        "used_memory delta MB",
        f"{f['plain_mem'] / mb:.1f}",
        f"{f['ours_mem'] / mb:.1f}",
        f"{f['ours_mem'] / f['plain_mem']:.2f}x",
        "<= 0.5x",
    )
    line("  bytes per entity", f"{f['plain_mem'] / n:.0f}", f"{f['ours_mem'] / n:.0f}")
    line("  hash encoding", encodings["plain"], encodings["ours"])
    line(
        "  listpack-value 64 (Redis default) MB",
        "",
        f"{f['ours64_mem'] / mb:.1f}",
        f"{f['ours64_mem'] / f['plain_mem']:.2f}x",
        encodings["ours64"],
    )
    for label, raw, ours, target in (
        ("1 entity", "raw1", "ours1", "<= 1.5x"),
        ("100 entities", "raw100", "ours100", "<= 1.0x"),
    ):
        for q in (0.5, 0.9, 0.99):
            a, b = p_us(lat[raw], q), p_us(lat[ours], q)
            tgt = target if q == 0.99 else ""
            line(
                f"read p{q * 100:.0f} {label}, 1 view, 8 features us",
                f"{a:.0f}",
                f"{b:.0f}",
                f"{b / a:.2f}x",
                tgt,
            )
    for label, n_ in (("1 entity", 1), ("100 entities", 100)):
        a, b = p_us(lat[f"bare{n_}"], 0.99), p_us(lat[f"ours{n_}"], 0.99)
        line(f"read p99 {label}, bare hiredis socket us", f"{a:.0f}", f"{b:.0f}", f"{b / a:.2f}x")
    a, b = p_us(lat["raw100"], 0.99), p_us(lat["layout100"], 0.99)
    line("  our commands on that socket, no decode", f"{a:.0f}", f"{b:.0f}", f"{b / a:.2f}x")
    line(
        "peak RSS MB (dataset built / after publish)", f"{f['rss_data']:.0f}", f"{f['rss_pub']:.0f}"
    )
    print(
        "\nfloor: redis-cli --pipe of pre-built `HSET plain:customer:<id> <name> <value> x8`;"
        "\nreads: redis-py HMGET / pipeline(transaction=False) of 100 HMGETs of those hashes,"
        "\n  and the same on a bare socket packed and parsed by hiredis (BareClient),"
        "\ninterleaved with OnlineStore.read rounds on the same server."
    )


def run(n: int, rounds: int, listpack: int, workdir: Path) -> dict[str, float]:
    """Measure and print; returns the figures and the read percentiles (for `--json`)."""
    t = time.perf_counter()
    table = dataset(n)
    figures: dict[str, float] = {"build_s": time.perf_counter() - t, "listpack": listpack}
    figures["load"], figures["cpus"] = os.getloadavg()[0], os.cpu_count() or 0
    plain = workdir / "plain.resp"
    plain_hset_file(table, plain)
    figures["rss_data"] = peak_rss_mb()
    server = Server.start(listpack)
    try:
        client = redis.Redis(port=server.port)
        figures["redis_version"] = client.info("server")["redis_version"]
        base, cpu = flush(client), server_cpu(client)
        figures["floor_s"] = load_plain(server.port, plain)
        figures["plain_cpu"] = server_cpu(client) - cpu
        figures["plain_mem"] = used_memory(client) - base
        encodings = {"plain": sample_encoding(client, "plain:*")}
        base, cpu = flush(client), server_cpu(client)
        store = RedisStore(client, PREFIX)
        cpu_self = time.process_time()
        figures["ours_s"] = publish(store, table)
        figures["ours_client_cpu"] = time.process_time() - cpu_self
        figures["ours_cpu"] = server_cpu(client) - cpu
        figures["ours_mem"] = used_memory(client) - base
        figures["rss_pub"] = peak_rss_mb()
        encodings["ours"] = sample_encoding(client, f"{PREFIX}:d:*")
        load_plain(server.port, plain)  # both data sets loaded for interleaved reads
        lat = latencies(client, store, n, rounds)
        base = flush(client)
        client.config_set("hash-max-listpack-value", 64)
        publish(RedisStore(client, PREFIX), table)
        figures["ours64_mem"] = used_memory(client) - base
        encodings["ours64"] = sample_encoding(client, f"{PREFIX}:d:*")
    finally:
        server.stop()
    report(n, figures, lat, encodings)
    for name, samples in lat.items():
        for q in (0.5, 0.99):
            figures[f"{name}_p{q * 100:.0f}_us"] = p_us(samples, q)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=2000, help="read rounds per measure")
    parser.add_argument(
        "--listpack-value",
        type=int,
        default=128,
        help="hash-max-listpack-value of the benchmark server (recommended: 128)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fh-bench-") as tmp:
        figures = run(args.entities, args.reads, args.listpack_value, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
