"""Issue 19's table: every target row with our figure, its reference from the same run, the
ratio and PASS/FAIL.

    python -m benchmarks                  # full sizes (1M entities; ~6 min on 2 cores)
    python -m benchmarks table --quick    # 100k entities, short runs (a few minutes)
    make bench BENCH_ARGS=--quick

Runs the detailed benchmarks as subprocesses with `--json` (their own output goes to
<workdir>/<name>.log) and reads their figures back:
- training: the API's point-in-time join streamed as Arrow vs the fastest hand-written DuckDB
  query (range join + row_number(), ASOF...) in fresh processes: wall time and peak RSS;
- sync: `featurehouse sync` warm (rendered SQL cached) and cold (first sync after `dbt
  build`) vs `redis-cli --pipe` of precomputed plain HSETs; used_memory of both layouts at
  the embedded store's hash settings and at the server's defaults;
- online: OnlineStore.read p99 vs redis-py HMGET / a pipeline of 100 HMGETs;
- server: `featurehouse serve` under wrk vs its own no-op endpoint (same stack).
A benchmark that fails shows its rows as ERROR with the log to read; the exit status is 1
when any row fails or errs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    what: str
    reference: str  # what the reference is
    unit: str
    ours: float
    ref: float
    ratio: float
    target: str
    passed: bool
    note: str = ""  # a second reference, for information


@dataclass(frozen=True)
class Sizes:
    spine: int
    features: int
    entities: int
    reads: int
    duration: float
    repeat: int


FULL = Sizes(1_000_000, 10_000_000, 1_000_000, 2000, 10.0, 3)
QUICK = Sizes(100_000, 1_000_000, 100_000, 500, 3.0, 2)


def commands(s: Sizes, work: Path) -> dict[str, list[str]]:
    """name -> arguments of `python -m benchmarks`, each writing <work>/<name>.json."""
    return {
        "training": [
            "training", f"--sizes={s.spine}:{s.features}", "--rows-per-entity=10",
            "--parity-entities=0", f"--repeat={s.repeat - 1 or 1}",
            "--only=range_qualify,range_arg_max_struct,range_arg_max_rowid,asof_struct_key",
            f"--data-dir={work / 'training'}",
        ],
        "sync": [
            "sync", f"--entities={s.entities}", "--rows-per-entity=10",
            "--flat-rows-per-entity=0", f"--repeat={s.repeat}", f"--workdir={work / 'sync'}",
        ],
        "online": ["online", f"--entities={s.entities}", f"--reads={s.reads}"],
        "server": [
            "server", f"--entities={s.entities}", f"--duration={s.duration:g}",
            "--connections=1,64", "--soak=0", f"--repeat={s.repeat}", "--no-poll",
        ],
    }  # fmt: skip


def run(name: str, argv: list[str], work: Path) -> dict[str, Any] | str:
    """Figures of one benchmark, or the error line naming its log."""
    out, log = work / f"{name}.json", work / f"{name}.log"
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    print(f"running {name} (log: {log}) ...", file=sys.stderr, flush=True)
    with log.open("w") as f:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks", *argv, f"--json={out}"],
            stdout=f,
            stderr=subprocess.STDOUT,
            check=False,
        )
    took = time.perf_counter() - started
    print(f"  {name}: {took:.0f} s, exit {done.returncode}", file=sys.stderr, flush=True)
    if not out.exists():
        return f"{name} benchmark failed (exit {done.returncode}): see {log}"
    return json.loads(out.read_text())


def training_rows(t: dict[str, Any]) -> list[Row]:
    join = t["joins"][0]
    api, fastest = join["runs"]["featurehouse_api"], join["runs"][join["fastest_hand_written"]]
    label = f"point-in-time {join['spine']:,} spine x {join['features']:,} rows"
    ref = f"fastest hand-written DuckDB ({join['fastest_hand_written']})"
    time_ratio = api["seconds"] / fastest["seconds"]
    rss_ratio = api["peak_rss_mb"] / fastest["peak_rss_mb"]
    if not join["results_identical"]:
        label += " (RESULTS DIFFER)"
    notes = []
    if "quiet_ratio" in join:  # what the load leaves out: (CPU + idle thread s) / threads
        notes.append(
            f"on a quiet machine, estimated ((cpu + idle thread s) / threads): "
            f"{join['quiet_ratio']:.2f}x {join['quiet_hand_written']}"
        )
    ordered = join["runs"].get(join.get("in_order_reference", ""), {})
    if "seconds" in ordered:  # the reference with the API's row order: a figure, no verdict
        notes.append(
            f"{join['in_order_reference']} (order by spine_row: the API's output order) "
            f"{ordered['seconds']:.2f} s, ours {api['seconds'] / ordered['seconds']:.2f}x that"
        )
    anyhow = join["runs"].get("featurehouse_api_any_order", {})
    if "seconds" in anyhow:  # the API without the order (keep_order=False): a figure
        notes.append(
            f"the API with keep_order=False (rows in any order) {anyhow['seconds']:.2f} s, "
            f"{anyhow['peak_rss_mb']:,} MB: {anyhow['seconds'] / fastest['seconds']:.2f}x, "
            f"{anyhow['peak_rss_mb'] / fastest['peak_rss_mb']:.2f}x the reference"
        )
    note = _also(*notes)
    return [
        Row(label + ", s", ref, "s", api["seconds"], fastest["seconds"], time_ratio,
            "<= 1.0x", time_ratio <= 1.0 and join["results_identical"], note),
        Row("  same, peak RSS", "that query's peak RSS", "MB", api["peak_rss_mb"],
            fastest["peak_rss_mb"], rss_ratio, "<= 1.2x", rss_ratio <= 1.2),
    ]  # fmt: skip


def sync_rows(t: dict[str, Any]) -> list[Row]:
    floor, sync, n = t["floor"], t["sync"], t["entities"]
    warm, cold = sync["cached_s"], sync["cold_s"]
    throughput = floor["s"] / warm
    reference = "redis-cli --pipe of plain HSETs (floor)"
    if "cpu" in floor:
        reference += (
            f"; CPU s incl. Redis: floor {floor['cpu']:.2f}, ours "
            f"{sync['cached_cpu']:.2f} ({floor['cpu'] / sync['cached_cpu']:.2f}x)"
        )
    return [
        Row(f"sync {n:,} entities from {n * 10:,} rows, warm, s", reference, "s", warm,
            floor["s"], throughput, ">= 2x floor throughput", throughput >= 2.0),
        Row("first sync after `dbt build` (cold), s", "warm sync", "s", cold, warm,
            cold / warm, "<= 1.3x", cold / warm <= 1.3),
        *memory_rows(floor, sync, n),
    ]  # fmt: skip


def memory_rows(floor: dict[str, Any], sync: dict[str, Any], n: int) -> list[Row]:
    """used_memory at the embedded store's hash settings, and at the server's defaults when
    the benchmark measured them (they differ); the reference is loaded on the same server."""
    mb = 2**20
    at = [("", f"Redis used_memory for {n:,} entities", "the embedded store's settings",
           floor.get("settings", {}))]  # fmt: skip
    if "mem_defaults" in floor:
        at.append(("_defaults", "  same, server defaults", "defaults", floor["defaults"]))
    rows = []
    for suffix, what, label, settings in at:
        ours, ref = sync[f"ours_mem{suffix}"], floor[f"mem{suffix}"]
        value = settings.get("hash-max-listpack-value", "?")
        rows.append(
            Row(what, f"plain hash per entity, same server at {label} (hash-max-listpack-value "
                f"{value})", "MB", ours / mb, ref / mb, ours / ref, "<= 0.2x", ours / ref <= 0.2)
        )  # fmt: skip
    return rows


def online_rows(t: dict[str, Any]) -> list[Row]:
    one = t["ours1_p99_us"] / t["raw1_p99_us"]
    many = t["ours100_p99_us"] / t["raw100_p99_us"]

    def bare(n: str) -> str:
        if f"bare{n}_p99_us" not in t:
            return ""
        ref = t[f"bare{n}_p99_us"]
        note = (f"bare socket + hiredis (fastest raw client) {ref:,.0f} us, "
                f"ours {t[f'ours{n}_p99_us'] / ref:.2f}x that")  # fmt: skip
        if f"layout{n}_p99_us" in t:  # our read's commands on that socket, replies not decoded
            floor = t[f"layout{n}_p99_us"]
            note += (f"; our read's commands on it, not decoded, {floor:,.0f} us = "
                     f"{floor / t[f'raw{n}_p99_us']:.2f}x the reference")  # fmt: skip
        return note

    return [
        Row("online read, 1 entity, p99", "raw HMGET, same client (redis-py)", "us",
            t["ours1_p99_us"], t["raw1_p99_us"], one, "<= 1.1x", one <= 1.1, bare("1")),
        Row("online read, 100 entities, p99", "raw redis-py pipeline of 100 HMGETs", "us",
            t["ours100_p99_us"], t["raw100_p99_us"], many, "<= 0.4x", many <= 0.4, bare("100")),
    ]  # fmt: skip


def server_rows(t: dict[str, Any]) -> list[Row]:
    by = {(r["case"], r["connections"]): r for r in t["runs"]}
    noop1, noop64 = by[("noop", 1)], by[("noop", 64)]
    one, many, busy = by[("1 entity", 1)], by[("100 entities", 1)], by[("1 entity", 64)]
    r1 = one["p99_ms"] / noop1["p99_ms"]
    r100 = many["p99_ms"] / noop1["p99_ms"]
    rps = busy["rps"] / noop64["rps"]
    noop = "no-op endpoint, same server stack"
    trip1, trip64 = _beside(by, FLOOR, "round trip", 1), _beside(by, FLOOR, "round trip", 64)
    return [
        Row("HTTP /get-online-features, 1 entity, 1 conn, p99", noop, "ms", one["p99_ms"],
            noop1["p99_ms"], r1, "<= 1.3x", r1 <= 1.3,
            _also(trip1, _beside(by, NO_POLL, "1 entity no poll", 1))),
        Row("HTTP, 100 entities, 1 conn, p99", noop, "ms", many["p99_ms"], noop1["p99_ms"],
            r100, "<= 0.8 ms", many["p99_ms"] <= 0.8,
            _also(trip1, _beside(by, NO_POLL, "100 entities no poll", 1))),
        Row("HTTP, 1 entity, 64 conns, req/s", noop, "req/s", busy["rps"], noop64["rps"], rps,
            ">= 0.8x", rps >= 0.8, _also(trip64, _beside(by, NO_POLL, "1 entity no poll", 64))),
    ]  # fmt: skip


FLOOR = "the same stack with one Redis round trip and nothing else (GET /health, PING)"
NO_POLL = "not busy-polling (--redis-busy-poll-us 0)"  # the server of `server --no-poll`


def _beside(by: dict[tuple[str, int], dict[str, Any]], what: str, case: str, conns: int) -> str:
    """`case` against the no-op at `conns` connections, for an "also" line ("" when it was not
    measured): its p99 at one connection, its rate at more."""
    run, noop = by.get((case, conns)), by[("noop", conns)]
    if run is None:
        return ""
    if conns == 1:
        return (
            f"{what}: p99 {run['p99_ms']:.3f} ms, {run['p99_ms'] / noop['p99_ms']:.2f}x the no-op"
        )
    return f"{what}: {run['rps']:,.0f} req/s, {run['rps'] / noop['rps']:.2f}x the no-op"


def _also(*notes: str) -> str:
    return "\n    also: ".join(n for n in notes if n)


ROWS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "training": training_rows,
    "sync": sync_rows,
    "online": online_rows,
    "server": server_rows,
}


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"


def render(rows: list[Row | str]) -> str:
    head = f"{'what':<52}{'ours':>11}{'reference':>11}{'unit':>6}{'ratio':>8}  {'target':<24}"
    lines = [head + "result", "-" * (len(head) + 6)]
    for r in rows:
        if isinstance(r, str):
            lines.append(f"ERROR  {r}")
            continue
        verdict = "PASS" if r.passed else "FAIL"
        lines.append(
            f"{r.what:<52}{_num(r.ours):>11}{_num(r.ref):>11}{r.unit:>6}{r.ratio:>7.2f}x  "
            f"{r.target:<24}{verdict}"
        )
        lines.append(f"    reference: {r.reference}")
        if r.note:
            lines.append(f"    also: {r.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k entities, short runs")
    parser.add_argument(
        "--only", help=f"comma-separated benchmarks of {','.join(ROWS)} (default: all)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp") / f"fh_bench_{os.getuid()}")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    work = args.workdir / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    wanted = args.only.split(",") if args.only else list(ROWS)
    load_before = os.getloadavg()
    rows: list[Row | str] = []
    for name, argv_ in commands(sizes, work).items():
        if name not in wanted:
            continue
        figures = run(name, argv_, work)
        rows += [figures] if isinstance(figures, str) else ROWS[name](figures)
    load_after = os.getloadavg()
    print(
        f"\nissue 19 table ({'quick' if args.quick else 'full'} sizes; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after, 1/5/15 min now "
        f"{' '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} cores)\n"
    )
    print(render(rows))
    failed = [r for r in rows if isinstance(r, str) or not r.passed]
    print(f"\ntargets met: {len(rows) - len(failed)} of {len(rows)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
