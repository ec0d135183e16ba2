"""The stall check of `bench_server`: long runs of the feature server at 1 and 16 connections,
each beside the same run of the machine's own references, so the report shows whether the
server adds stalls beyond what the machine does.

Target: p99.9 <= 5x p50 over the soak. References, each measured in the same run:
- noop: POST /v1/noop, the same server process and stack without Redis;
- raw ASGI: a 6-line ASGI app (`benchmarks/raw_asgi.py`) on the same uvicorn/uvloop/httptools;
- Redis PING: `redis-benchmark -c N -t ping_mbulk` against the benchmark's Redis (C only),
  when redis-benchmark is installed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks import bench_server as bs

TARGET = 5.0
_PERCENTILE = re.compile(r"^\s*([0-9.]+)% <= ([0-9.]+) milliseconds")


@dataclass(frozen=True)
class Soak:
    conns: int
    feature: bs.Run
    references: tuple[bs.Run, ...]


def soak_all(
    args: argparse.Namespace,
    tmp: Path,
    base: str,
    pids: list[int],
    files: dict[str, Path],
    script: Path,
    redis_port: int,
) -> list[Soak]:
    seconds: float = args.soak
    raw_port = bs.free_port()
    raw = bs.start(
        [sys.executable, "-m", "uvicorn", "benchmarks.raw_asgi:app", "--port", str(raw_port),
         "--loop", "uvloop", "--http", "httptools", "--lifespan", "off", "--no-access-log",
         "--log-level", "warning", "--app-dir", str(Path(__file__).resolve().parents[1])],
        raw_port, "raw ASGI app", tmp / "raw.log", bs.NICE,
    )  # fmt: skip
    raw_base = f"http://127.0.0.1:{raw_port}"
    out = []
    try:
        bs.measure(raw_base, [raw.pid], files, script, "noop", 4, 1)  # warm up
        for conns in (int(c) for c in args.soak_connections.split(",")):
            runs = [
                named(bs.measure(base, pids, files, script, "1 entity", conns, seconds), "1 entity")
            ]
            runs.append(
                named(bs.measure(base, pids, files, script, "noop", conns, seconds), "noop")
            )
            raw_run = bs.measure(raw_base, [raw.pid], files, script, "noop", conns, seconds)
            runs.append(named(raw_run, "raw ASGI"))
            ping = redis_benchmark(redis_port, conns, seconds)
            if ping is not None:
                runs.append(ping)
            for run in runs:
                print(bs.table([run]).splitlines()[-1], file=sys.stderr, flush=True)
            out.append(Soak(conns, runs[0], tuple(runs[1:])))
    finally:
        raw.terminate()
        raw.wait(timeout=30)
    return out


def named(run: bs.Run, what: str) -> bs.Run:
    return replace(run, case=f"soak {what}")


def redis_benchmark(port: int, conns: int, seconds: float) -> bs.Run | None:
    """PING round trips by redis-benchmark (no Python anywhere), for about `seconds`."""
    if shutil.which("redis-benchmark") is None:
        return None
    started = time.monotonic()
    _ping(port, conns, 20_000)
    rate = 20_000 / max(time.monotonic() - started, 1e-3)
    requests = max(int(rate * seconds), 20_000)
    started = time.monotonic()
    text = _ping(port, conns, requests)
    took = time.monotonic() - started
    found: dict[float, float] = {}
    for line in text.splitlines():
        match = _PERCENTILE.match(line)
        if match:
            found.setdefault(float(match[1]), float(match[2]))

    def at(pct: float) -> float:
        return next(ms for p, ms in sorted(found.items()) if p >= pct)

    return bs.Run(
        case="soak Redis PING", connections=conns, seconds=took, requests=requests, errors=0,
        rps=requests / took, p50_ms=at(50), p99_ms=at(99), p999_ms=at(99.9),
        max_ms=max(found.values()), cpu_us=0.0, p99_wrk_ms=at(99),
    )  # fmt: skip


def _ping(port: int, conns: int, requests: int) -> str:
    cmd = [*bs.NICE, "redis-benchmark", "-p", str(port), "-c", str(conns), "-n", str(requests)]
    done = subprocess.run([*cmd, "-t", "ping_mbulk"], capture_output=True, text=True, check=True)
    return done.stdout


def verdicts(soaks: list[Soak]) -> list[tuple[str, bool | None]]:
    out: list[tuple[str, bool | None]] = []
    for soak in soaks:
        f = soak.feature
        ratio = f.p999_ms / f.p50_ms
        out.append(
            (
                f"soak {f.seconds:.0f} s, 1 entity, {soak.conns} conn: p99.9 {f.p999_ms:.2f} ms "
                f"= {ratio:.1f}x p50 {f.p50_ms:.2f} ms (target <= {TARGET:g}x)",
                ratio <= TARGET,
            )
        )
        refs = ", ".join(
            f"{r.case.removeprefix('soak ')} {r.p999_ms / r.p50_ms:.1f}x "
            f"(p50 {r.p50_ms:.2f}, p99.9 {r.p999_ms:.2f} ms)"
            for r in soak.references
        )
        out.append((f"machine reference, p99.9/p50 at {soak.conns} conn: {refs}", None))
    return out
