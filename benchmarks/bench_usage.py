"""Usage counters' cost: `featurehouse serve` with usage history on and off, in the same run.

    python -m benchmarks usage                       # 1 and 16 connections, 5 x 5 s each
    python -m benchmarks usage --isolate 1 --repeat 7 --duration 5

Starts a redis-server of its own, publishes bench_server's N-entity x 8-feature view and a
feature service over its 8 features, then two servers on that Redis: one counting usage (the
default, flushed every --usage-flush-seconds) and one with --no-usage. wrk sends each the same
1-entity requests by service name, interleaved (on, off, on, off ...) so that a neighbour's
load falls on both alike; the p99 reported per side is the median of its runs. Target: usage
on adds at most 5% to p99. Afterwards the counters must equal the requests served.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis
from featurehouse.online import ServiceRecord
from featurehouse.online.redis import RedisStore
from featurehouse.online.usage import UsageRecorder
from featurehouse.refs import ServiceRefs, parse_feature

from benchmarks import bench_server as server_bench
from benchmarks.bench_online import dataset

SERVICE = "bench_model"
TARGET = 1.05  # p99 with usage on / off


def service_bodies(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(server_bench.BODIES):
            body = {"feature_service": SERVICE, "entities": {"customer_id": [rng.randrange(n)]}}
            f.write(json.dumps(body, separators=(",", ":")) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per side and connections")
    parser.add_argument("--connections", default="1,16", help="comma-separated")
    parser.add_argument("--usage-flush-seconds", default="5")
    parser.add_argument("--isolate", type=int, help="one CPU for Redis, servers and wrk")
    args = parser.parse_args(argv)
    if args.isolate is not None:
        server_bench.NICE[:] = ["taskset", "-c", str(args.isolate), "nice", "-n", "-20"]
    with tempfile.TemporaryDirectory(prefix="bench_usage_") as tmp:
        return bench(args, Path(tmp))


def bench(args: argparse.Namespace, tmp: Path) -> int:
    redis_port = server_bench.free_port()
    procs = []
    nice = server_bench.NICE
    try:
        procs.append(server_bench.start(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--hash-max-listpack-value", "256"],
            redis_port, "redis-server", tmp / "redis.log", nice,
        ))  # fmt: skip
        client = redis.Redis(port=redis_port)
        store = RedisStore(client, "fhbench")
        store.publish(
            server_bench.SCHEMA,
            dataset(args.entities, max_age_seconds=80_000).to_batches(max_chunksize=100_000),
            as_of=server_bench.AS_OF, clock="as_of", mode="full", watermark=server_bench.AS_OF,
            is_latest=True,
        )  # fmt: skip
        refs = [f"{server_bench.VIEW}.v1:{name}" for name, _ in server_bench.FEATURES]
        store.publish_services(
            [ServiceRecord(ServiceRefs(SERVICE, tuple(parse_feature(r) for r in refs)))]
        )
        bases = {}
        for side, flag in (("on", "--usage"), ("off", "--no-usage")):
            port = server_bench.free_port()
            cmd = [
                str(Path(sys.executable).with_name("featurehouse")), "serve", "--port", str(port),
                "--redis-url", f"redis://127.0.0.1:{redis_port}", "--redis-prefix", "fhbench",
                flag, "--usage-flush-seconds", args.usage_flush_seconds,
            ]  # fmt: skip
            procs.append(server_bench.start(cmd, port, f"serve {flag}", tmp / f"{side}.log", nice))
            bases[side] = (f"http://127.0.0.1:{port}", procs[-1])
        return measure(args, tmp, bases, store, procs)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)


def measure(args: argparse.Namespace, tmp: Path, bases: dict, store: RedisStore, procs) -> int:
    script = tmp / "bench.lua"
    script.write_text(server_bench.WRK_SCRIPT)
    files = {"1 entity": tmp / "one.txt"}
    service_bodies(files["1 entity"], args.entities, seed=1)
    served = {"on": 0, "off": 0}
    for side, (base, proc) in bases.items():  # warm up
        run = server_bench.measure(base, [proc.pid], files, script, "1 entity", 4, 1)
        served[side] += run.requests
    lines, ok = [], True
    for conns in [int(c) for c in args.connections.split(",")]:
        runs: dict[str, list] = {"on": [], "off": []}
        for _ in range(args.repeat):
            for side, (base, proc) in bases.items():
                run = server_bench.measure(
                    base, [proc.pid], files, script, "1 entity", conns, args.duration
                )
                assert run.errors == 0, f"{run.errors} errors with usage {side}"
                runs[side].append(run)
                served[side] += run.requests
                shown = f"p99 {run.p99_ms:7.3f} ms  {run.rps:8.0f} req/s  {run.cpu_us:6.0f} us CPU"
                print(f"usage {side:<3} {conns:>3} conns  {shown}", file=sys.stderr)
        p99 = {side: statistics.median(r.p99_ms for r in got) for side, got in runs.items()}
        cpu = {side: statistics.median(r.cpu_us for r in got) for side, got in runs.items()}
        ratio = p99["on"] / p99["off"]
        ok &= ratio <= TARGET
        lines.append(
            f"{conns:>5}  {p99['on']:10.3f}  {p99['off']:11.3f}  {ratio:6.3f}x  "
            f"{cpu['on']:8.0f}  {cpu['off']:9.0f}  {'PASS' if ratio <= TARGET else 'FAIL'}"
        )
    procs[1].terminate()  # the counting server flushes what it holds when it stops
    procs[1].wait(timeout=30)
    counted = {u.name: u.reads for u in store.usage()}
    print(f"\nusage counters, 1 entity by feature service, {args.duration:g} s x {args.repeat} "
          "runs per side, interleaved; median p99 per side\n")  # fmt: skip
    print("conns  p99 on (ms)  p99 off (ms)   ratio  CPU on us  CPU off us  verdict (<= 1.05x)")
    print("\n".join(lines))
    # wrk counts the requests answered within each run; the server also answers those in
    # flight when a run ends (at most one per connection per run), so it counts a few more.
    in_flight = sum(int(c) for c in args.connections.split(",")) * args.repeat + 4
    extra = counted.get(SERVICE, 0) - served["on"]
    exact = 0 <= extra <= in_flight
    print(
        f"\ncounted reads {counted.get(SERVICE, 0):,}; requests wrk saw answered {served['on']:,} "
        f"(+{extra} in flight at the ends of runs, at most {in_flight}): "
        f"{'ok' if exact else 'WRONG'}"
    )
    record_us = _record_cost()
    cpu_on = statistics.median(float(line.split()[4]) for line in lines)
    print(
        f"UsageRecorder.record: {record_us:.2f} us a request, {record_us / cpu_on:.2%} of the "
        f"server's CPU per request with usage on ({cpu_on:.0f} us)"
    )
    return 0 if ok and exact else 1


def _record_cost(n: int = 200_000) -> float:
    """The counter's own cost per request (a service and one view version), in microseconds."""
    recorder = UsageRecorder()
    views = [f"{server_bench.VIEW}.v1"]
    started = time.perf_counter()
    for _ in range(n):
        recorder.record(SERVICE, views, 1)
    return (time.perf_counter() - started) / n * 1e6


if __name__ == "__main__":
    sys.exit(main())
