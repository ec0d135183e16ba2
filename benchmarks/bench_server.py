"""Feature server benchmark: `featurehouse serve` under wrk load from a second process.

    python -m benchmarks server                             # 10 s per run, then 60 s soaks
    python -m benchmarks server --duration 5 --soak 0 --connections 1
    python -m benchmarks server --isolate 1 --repeat 3 --duration 5   # on a shared machine
    python -m benchmarks server --redis-tls --soak 0       # also a server on Redis over TLS
    python -m benchmarks server --no-poll --soak 0         # also a server not busy-polling

Starts a redis-server of its own (free loopback port, no persistence), publishes an N-entity x
8-feature view (4 float, 3 int, 1 string) with OnlineStore.publish, starts `featurehouse serve`
(1 worker unless --workers) and runs wrk against it at 1, 16 and 64 connections for:
- noop: POST /v1/noop, same stack (routing, API key check, body limit, metrics), no Redis;
- round trip: GET /health, same stack plus one Redis round trip (PING) and nothing else: the
  least any request that reads Redis can take here (a reference, not a target);
- 1 entity / 100 entities: POST /get-online-features, all 8 features, random existing ids
  (a different body per request, cycled from 16,384 pre-built ones: BODIES).
Reports throughput, p50/p99/p99.9 latency, the server's CPU per request, the feature/no-op p99
ratio (target <= 2x) and compares the 1-connection figures with a Python feature server
measured on this machine (1 entity p50 1.2 ms / p99 1.8 ms; 100 entities p50 10 ms / p99 17 ms).
Then soak runs (--soak seconds, 1 entity, at 1 and 16 connections: --soak-connections) check
p99.9 <= 5x p50, each beside the same soak of the machine's own references (the no-op endpoint,
a raw ASGI app, redis-benchmark PING): see bench_server_soak.
--redis-tls adds a second `featurehouse serve` reaching the same Redis on its tls-port (mutual
TLS, a private CA made for the run): its 1- and 100-entity reads are measured interleaved with
the plain TCP server's, and compared line by line. --no-poll adds one started with
`--redis-busy-poll-us 0` (it sleeps until Redis answers), compared the same way.
On a machine others are using, --isolate CPU keeps the benchmark on one CPU at niceness -20
and --repeat N measures each case N times, interleaved, showing the run with the median p99
(or with --pick best the least disturbed one).

Needs wrk (Debian/Ubuntu: `apt-get install -y wrk`; macOS: `brew install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import redis
from featurehouse.online import FeatureSpec, ViewSchema
from featurehouse.online.redis import RedisStore

from benchmarks import wrk_latency
from benchmarks.bench_online import dataset

AS_OF = datetime(2026, 5, 1)
VIEW = "feat_customer__bench"
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
    view=VIEW,
    version=1,
    entity="customer",
    keys=("customer_id",),
    key_types=("int64",),
    features=tuple(FeatureSpec(n, t) for n, t in FEATURES),
    ttl_seconds=86_400,
)
FEAST_REFERENCE = {"1 entity": (1.2, 1.8), "100 entities": (10.0, 17.0)}  # p50, p99 ms
# Request bodies a case cycles through, each asking for other random entities: enough that
# a run reads about as many distinct entities as it sends requests (512 bodies read the same
# 512 entities over and over at 1 entity a request, whose buckets then stay in the server's
# CPU caches: a second read of the same 100 entities took 0.68x as long here, p50).
BODIES = 16_384
WRK_INSTALL = (
    "wrk is not installed: on Debian/Ubuntu run `apt-get install -y wrk` "
    "(as root, after `apt-get update`); on macOS `brew install wrk`"
)
WRK_SCRIPT = (
    wrk_latency.DUMP_LUA
    + r"""
local bodies, n, i = {}, 0, 0
for line in io.lines(os.getenv("BENCH_BODIES")) do n = n + 1; bodies[n] = line end
local get = os.getenv("BENCH_METHOD") == "GET"
wrk.method = get and "GET" or "POST"
if not get then wrk.headers["Content-Type"] = "application/json" end
request = function()
  i = i % n + 1
  return wrk.format(nil, nil, nil, (not get) and bodies[i] or nil)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "histogram": "%s"}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    histogram(latency)))
end
"""
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port}")


def bodies(path: Path, n: int, entities: int, seed: int) -> None:
    """One Feast-shaped request body a line (or `{}` for the no-op)."""
    rng = random.Random(seed)
    features = [f"{VIEW}:{name}" for name, _ in FEATURES]
    with path.open("w") as f:
        for _ in range(BODIES):
            if entities == 0:
                f.write("{}\n")
                continue
            ids = [rng.randrange(n) for _ in range(entities)]
            body = {"features": features, "entities": {"customer_id": ids}}
            f.write(json.dumps(body, separators=(",", ":")) + "\n")


@dataclass
class Run:
    case: str
    connections: int
    seconds: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    cpu_us: float  # server process CPU (user + system) per request
    p99_wrk_ms: float  # wrk's own p99, after its coordinated-omission correction (wrk_latency)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


NICE: list[str] = []  # the command prefix of Redis, the server and wrk (--nice / --isolate)


NO_POLL = "not busy-polling (--redis-busy-poll-us 0) vs the default"
PATHS = {"noop": ("POST", "/v1/noop"), "round trip": ("GET", "/health")}
FEATURES_PATH = ("POST", "/get-online-features")


def wrk(
    url: str, body_file: Path, script: Path, connections: int, seconds: float, method: str
) -> dict:
    cmd = [*NICE, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s"]
    done = subprocess.run(
        [*cmd, "-s", str(script), url],
        env={**os.environ, "BENCH_BODIES": str(body_file), "BENCH_METHOD": method},
        capture_output=True,
        text=True,
        check=True,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    return json.loads(line[4:])


def measure(
    base: str, pids: list[int], files: dict[str, Path], script: Path, case: str, conns: int,
    seconds: float, label: str | None = None,
) -> Run:  # fmt: skip
    method, path = PATHS.get(case, FEATURES_PATH)
    cpu = sum(cpu_seconds(p) for p in pids)
    out = wrk(base + path, files[case], script, conns, seconds, method)
    cpu = sum(cpu_seconds(p) for p in pids) - cpu
    took = out["duration_us"] / 1e6
    hist = wrk_latency.recorded(
        wrk_latency.parse(out["histogram"]), out["duration_us"], out["requests"], conns
    )
    p50, p99, p999 = (wrk_latency.percentile(hist, p) for p in (50, 99, 99.9))
    return Run(
        case=label or case,
        connections=conns,
        seconds=took,
        requests=out["requests"],
        errors=out["errors"] + out["non2xx"],
        rps=out["requests"] / took,
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
        p999_ms=p999 / 1000,
        max_ms=out["max_us"] / 1000,
        cpu_us=cpu / max(out["requests"], 1) * 1e6,
        p99_wrk_ms=out["p99_us"] / 1000,
    )


def server_pids(proc: subprocess.Popen) -> list[int]:
    """The serving processes: the process itself, or its workers when --workers > 1."""
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    return [proc.pid, *map(int, children)]


def table(runs: list[Run]) -> str:
    head = (
        f"{'case':<16}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'p99.9 ms':>10}"
        f"{'max ms':>9}{'CPU us/req':>12}{'errors':>8}{'wrk p99':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in runs:
        lines.append(
            f"{r.case:<16}{r.connections:>6}{r.rps:>10,.0f}{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}"
            f"{r.p999_ms:>10.3f}{r.max_ms:>9.2f}{r.cpu_us:>12.0f}{r.errors:>8}"
            f"{r.p99_wrk_ms:>9.3f}"
        )
    return "\n".join(lines)


def verdicts(runs: list[Run]) -> list[tuple[str, bool | None]]:
    """(line, passed); None for figures shown for information (no target)."""
    by = {(r.case, r.connections): r for r in runs}
    out: list[tuple[str, bool | None]] = []
    for conns in sorted({r.connections for r in runs}):
        noop = by.get(("noop", conns))
        trip = by.get(("round trip", conns))
        if noop and trip:
            label = (
                f"one Redis round trip (GET /health) at {conns} conn: p99 {trip.p99_ms:.3f} ms, "
                f"{trip.p99_ms / noop.p99_ms:.2f}x the no-op's, {trip.rps:,.0f} req/s, "
                f"{trip.rps / noop.rps:.2f}x the no-op's: the least a read from Redis takes"
            )
            out.append((label, None))
        for case in ("1 entity", "100 entities"):
            run = by.get((case, conns))
            if noop and run:
                ratio = run.p99_ms / noop.p99_ms
                if case == "1 entity":
                    label = f"{case} p99 / no-op p99 at {conns} conn: {ratio:.2f}x (target <= 2x)"
                    out.append((label, ratio <= 2.0))
                else:
                    label = f"{case} p99 / no-op p99 at {conns} conn: {ratio:.2f}x (100x the work)"
                    out.append((label, None))
        for case in ("1 entity", "100 entities"):
            plain = by.get((case, conns))
            for suffix, what in ((" TLS", "Redis over TLS vs TCP"), (" no poll", NO_POLL)):
                other = by.get((case + suffix, conns))
                if plain and other:
                    label = (
                        f"{case} at {conns} conn, {what}: p50 {other.p50_ms:.3f} vs "
                        f"{plain.p50_ms:.3f} ms, p99 {other.p99_ms:.3f} vs {plain.p99_ms:.3f} "
                        f"ms, {other.rps:,.0f} vs {plain.rps:,.0f} req/s, server CPU "
                        f"{other.cpu_us:.0f} vs {plain.cpu_us:.0f} us/req"
                    )
                    out.append((label, None))
    for case, (p50, p99) in FEAST_REFERENCE.items():
        run = by.get((case, 1))
        if run:
            label = (
                f"{case} at 1 conn: p50 {run.p50_ms:.2f} ms vs {p50} ms, p99 {run.p99_ms:.2f} "
                f"ms vs {p99} ms (reference feature server)"
            )
            out.append((label, run.p50_ms < p50 and run.p99_ms < p99))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000, help="entities published")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument(
        "--soak", type=float, default=60.0, help="seconds of each soak run (0: skip)"
    )
    parser.add_argument(
        "--soak-connections", default="1,16", help="soak at these connection counts"
    )
    parser.add_argument("--connections", default="1,16,64", help="comma-separated")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per case, interleaved (see --pick)"
    )
    parser.add_argument(
        "--pick",
        choices=("median", "best"),
        default="median",
        help="with --repeat: show the run with the median p99, or the least disturbed one "
        "(lowest p99: on a shared machine, neighbours only ever add latency)",
    )
    parser.add_argument("--workers", type=int, default=1, help="featurehouse serve --workers")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run Redis, the server and wrk at this niceness (negative needs root): shields "
        "the figures from other work on a shared machine",
    )
    parser.add_argument(
        "--isolate",
        type=int,
        metavar="CPU",
        help="run Redis, the server and wrk on this one CPU at niceness -20 (root): on a "
        "shared machine the neighbours keep the other CPUs and hardly preempt the benchmark",
    )
    parser.add_argument(
        "--redis-unix", action="store_true", help="the server reaches Redis by a Unix socket"
    )
    parser.add_argument(
        "--redis-tls",
        action="store_true",
        help="also measure a second server that reaches the same Redis over mutual TLS "
        "(private CA, tls-port), beside the plain TCP one in the same run",
    )
    parser.add_argument(
        "--no-poll",
        action="store_true",
        help="also measure a second server started with --redis-busy-poll-us 0, beside the "
        "default one in the same run",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print(WRK_INSTALL, file=sys.stderr)
        return 2
    if args.nice:
        NICE[:] = ["nice", "-n", str(args.nice)]
    if args.isolate is not None:
        NICE[:] = ["taskset", "-c", str(args.isolate), "nice", "-n", str(args.nice or -20)]
    with tempfile.TemporaryDirectory(prefix="bench_server_") as tmp:
        return bench(args, Path(tmp))


def start(cmd: list[str], port: int, what: str, log: Path, prefix: list[str]) -> subprocess.Popen:
    with log.open("wb") as out:
        proc = subprocess.Popen([*prefix, *cmd], stdout=out, stderr=subprocess.STDOUT)
    wait_port(port, proc, what)
    return proc


def bench(args: argparse.Namespace, tmp: Path) -> int:
    redis_port, http_port = free_port(), free_port()
    tls_args, tls_url = _redis_tls(tmp) if args.redis_tls else ([], "")
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            start(
                ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--hash-max-listpack-value", "256",
                 "--unixsocket", str(tmp / "redis.sock"), *tls_args],
                redis_port, "redis-server", tmp / "redis.log", NICE,
            )
        )  # fmt: skip
        client = redis.Redis(port=redis_port)
        RedisStore(client, "fhbench").publish(
            SCHEMA,
            dataset(args.entities, max_age_seconds=80_000).to_batches(max_chunksize=100_000),
            as_of=AS_OF,
            clock="as_of",
            mode="full",
            watermark=AS_OF,
            is_latest=True,
        )
        url = (
            f"unix://{tmp / 'redis.sock'}" if args.redis_unix else f"redis://127.0.0.1:{redis_port}"
        )
        procs.append(_serve(args, url, http_port, tmp / "serve.log"))
        servers = {"": (f"http://127.0.0.1:{http_port}", procs[-1])}
        if tls_url:
            tls_http = free_port()
            procs.append(_serve(args, tls_url, tls_http, tmp / "serve-tls.log"))
            servers[" TLS"] = (f"http://127.0.0.1:{tls_http}", procs[-1])
        if args.no_poll:
            sleeping = free_port()
            procs.append(
                _serve(args, url, sleeping, tmp / "serve-no-poll.log", "--redis-busy-poll-us=0")
            )
            servers[" no poll"] = (f"http://127.0.0.1:{sleeping}", procs[-1])
        return measure_all(args, tmp, servers, client)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)


def _serve(
    args: argparse.Namespace, url: str, port: int, log: Path, *extra: str
) -> subprocess.Popen:
    serve = str(Path(sys.executable).with_name("featurehouse"))
    cmd = [serve, "serve", "--port", str(port), "--workers", str(args.workers), *extra]
    cmd += ["--redis-url", url, "--redis-prefix", "fhbench"]
    return start(cmd, port, "featurehouse serve", log, NICE)


def _redis_tls(tmp: Path) -> tuple[list[str], str]:
    """redis-server arguments of a tls-port requiring client certificates (a private CA made
    here), and the rediss:// URL of a client that has one."""
    from dev.redis_tls import make_certs

    c, port = make_certs(tmp / "tls"), free_port()
    args = ["--tls-port", str(port), "--tls-cert-file", str(c.server_crt),
            "--tls-key-file", str(c.server_key), "--tls-ca-cert-file", str(c.ca_crt),
            "--tls-auth-clients", "yes"]  # fmt: skip
    query = f"ssl_ca_certs={c.ca_crt}&ssl_certfile={c.client_crt}&ssl_keyfile={c.client_key}"
    return args, f"rediss://127.0.0.1:{port}/0?{query}"


def _placement(args: argparse.Namespace) -> str:
    if args.isolate is not None:
        return f"Redis, server and wrk on CPU {args.isolate} at niceness {args.nice or -20}"
    return "any CPU" + (f", niceness {args.nice}" if args.nice else "")


def measure_all(
    args: argparse.Namespace,
    tmp: Path,
    servers: dict[str, tuple[str, subprocess.Popen]],
    client: redis.Redis,
) -> int:
    """`servers`: label suffix -> (base URL, process); "" is the plain one (no-op, soaks)."""
    script = tmp / "bench.lua"
    script.write_text(WRK_SCRIPT)
    files = {
        "noop": tmp / "noop.txt",
        "round trip": tmp / "noop.txt",
        "1 entity": tmp / "one.txt",
        "100 entities": tmp / "hundred.txt",
    }
    for (case, path), entities in zip(files.items(), (0, 0, 1, 100), strict=True):
        bodies(path, args.entities, entities, seed=len(case))
    time.sleep(1.0)
    # label -> (base, pids, case): every case on the plain server, the reads on the others
    targets = {}
    for suffix, (url, proc) in servers.items():
        for case in files if not suffix else ("1 entity", "100 entities"):
            targets[case + suffix] = (url, server_pids(proc), case)
    for base, pids, case in targets.values():  # warm up: metadata, function, connections
        measure(base, pids, files, script, case, 4, 1)
    runs, every = [], []
    for conns in [int(c) for c in args.connections.split(",")]:
        tries: dict[str, list[Run]] = {label: [] for label in targets}
        for _ in range(args.repeat):
            for label, (base, pids, case) in targets.items():
                run = measure(base, pids, files, script, case, conns, args.duration, label)
                tries[label].append(run)
                print(table([run]).splitlines()[-1], file=sys.stderr, flush=True)
        for got in tries.values():
            ordered = sorted(got, key=lambda r: r.p99_ms)
            runs.append(ordered[0] if args.pick == "best" else ordered[len(got) // 2])
            every += got
    base, server = servers[""]
    pids = server_pids(server)
    soaks = []
    if args.soak:
        from benchmarks import bench_server_soak

        port = client.connection_pool.connection_kwargs["port"]
        soaks = bench_server_soak.soak_all(args, tmp, base, pids, files, script, port)
    version = client.info("server")["redis_version"]
    print(
        f"\nfeature server benchmark: {args.entities:,} entities x 8 features, "
        f"{args.workers} worker(s), Redis {version}, wrk -t1, {args.duration:g} s per run "
        f"({args.pick} p99 of {args.repeat}), "
        f"{_placement(args)}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
        "cores\n"
    )
    print(table(runs + [r for s in soaks for r in (s.feature, *s.references)]))
    print()
    results = verdicts(runs)
    if soaks:
        results += bench_server_soak.verdicts(soaks)
    for label, ok in results:
        print(f"{'info' if ok is None else 'PASS' if ok else 'FAIL'}  {label}")
    if args.json:
        figures = {
            "runs": [asdict(r) for r in runs],
            "every_run": [asdict(r) for r in every],
            "soak": [asdict(r) for s in soaks for r in (s.feature, *s.references)],
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if all(ok is not False for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
