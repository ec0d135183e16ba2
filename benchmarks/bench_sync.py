"""End-to-end sync benchmark: `featurehouse sync` from DuckDB against a plain Redis load.

    python -m benchmarks.bench_sync --entities 1000000 --rows-per-entity 10

Generates a throwaway dbt project under --workdir (default /tmp/benchsync): a DuckDB file
with an `entities x rows-per-entity` source table (8 features: 4 float, 3 int, 1 string) and
one online, contract-enforced, versioned feature view `feat_bench__big_v1` selecting from it.
`dbt build` runs once (not timed), and the featurehouse package is byte-compiled once (not
timed: an installed package ships its .pyc files; PYTHONDONTWRITEBYTECODE would otherwise make
every sync compile its modules again). On a redis-server of its own (free loopback port,
--save "", no AOF, the embedded store's hash settings, embedded_files.SERVER_SETTINGS; flushed
between phases) it measures:
- the floor: `redis-cli --pipe` loading pre-built plain 8-field HSETs of the same latest rows
  (readable field names, decimal string values) and its used_memory delta;
- `featurehouse sync --force --json --quiet` as a subprocess, latest-row selection included:
  cold (the first sync after `dbt build`, no rendered-SQL cache: it reads the SQL the
  build's on-run-end hook rendered, else runs `dbt compile`), then after another `dbt
  build` of the same code (a new manifest, as a scheduled pipeline makes; the rendered SQL is
  reused), wall time, the peak RSS of its process tree (os.wait4 in a small launcher, not
  here: see _LAUNCHER) and the used_memory delta of our layout; the floor, the cached and
  the cold sync run --repeat times, interleaved, and their medians are compared;
- the used_memory of both layouts again at the server's default hash settings (Redis 7.0:
  hash-max-listpack-value 64), one load of each, when those differ from the embedded store's;
- with --flat-rows-per-entity N (default 1; 0 skips it), the same sync on an
  `entities x N` source, so peak RSS can be compared at two source row counts;
- with --large-entities N (e.g. 10000000), one sync of `N x rows-per-entity` rows (built once,
  kept with --keep-build: 100M rows take ~10 minutes to build) on the same server, printed
  beside the main size and the floor: wall time, entities/s, peak RSS, used_memory delta.

    python -m benchmarks.bench_sync --workdir /tmp/fhbench_10m --keep-build \\
        --flat-rows-per-entity 0 --large-entities 10000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import featurehouse
import pyarrow as pa
import redis
from featurehouse.online.redis.embedded_files import SERVER_SETTINGS

from benchmarks.bench_online import (
    FEATURES,
    Server,
    flush,
    load_plain,
    plain_hset_file,
    server_cpu,
    used_memory,
)

T = TypeVar("T")
AS_OF = datetime(2026, 5, 1)
# The figures before the sync read in bounded groups (issue #17): 1M entities from 10M rows,
# after a rebuild, on the idle 2-core dev machine; and the target at any size.
REFERENCE = {"entities": 1_000_000, "rss_mb": 1146.0, "cached_s": 3.5}
TARGET_RSS_MB = 1536.0
MODEL = "feat_bench__big"
DUCK_TYPES = {"float64": "double", "int64": "bigint", "string": "varchar"}

DBT_PROJECT = """\
name: featurehouse_bench
version: "0.1.0"
config-version: 2
profile: featurehouse_bench
model-paths: ["models"]
target-path: target
models:
  featurehouse_bench:
    +materialized: table
    +contract:
      enforced: true
"""

PROFILES = """\
featurehouse_bench:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{path}"
      schema: main
      threads: 1
"""


def models_yml() -> str:
    columns = [("entity_id", "bigint"), ("event_at", "timestamp"), ("loaded_at", "timestamp")]
    columns += [(name, DUCK_TYPES[kind]) for name, kind in FEATURES]
    lines = [
        "version: 2",
        "sources:",
        "  - name: bench_raw",
        "    schema: raw",
        "    tables: [{name: events}]",
        "models:",
        f"  - name: {MODEL}",
        "    latest_version: 1",
        "    config:",
        "      meta:",
        "        feature_store:",
        "          entity: bench",
        "          keys: [entity_id]",
        "          event_timestamp: event_at",
        "          created_timestamp: loaded_at",
        "          ttl: 30d",
        "          online: true",
        "    columns:",
    ]
    lines += [f"      - {{name: {name}, data_type: {kind}}}" for name, kind in columns]
    lines += ["    versions:", "      - v: 1", ""]
    return "\n".join(lines)


def source_sql(entities: int, per_entity: int) -> str:
    """Rows r = 0..per_entity-1 of each entity, one hour apart; the latest is r = per_entity-1.

    Every event is within 30 days of AS_OF, so the TTL keeps one row per entity."""
    return f"""
        select setseed(0.42);
        create schema if not exists raw;
        create or replace table raw.events as
        select
            i // {per_entity} as entity_id,
            timestamp '{AS_OF:%Y-%m-%d %H:%M:%S}'
                - to_hours({per_entity} - i % {per_entity})
                - to_seconds((i // {per_entity}) % 3600) as event_at,
            event_at + interval 5 minute as loaded_at,
            round(random() * 2000, 2) as sum_amount_30d,
            random() * 200 as avg_amount_30d,
            random() as share_cancelled_90d,
            round(random() * 5000, 2) as max_amount_lifetime,
            cast(floor(random() * 20) as bigint) as count_orders_30d,
            cast(floor(random() * 500) as bigint) as count_orders_lifetime,
            cast(floor(random() * 365) as bigint) as days_since_last_order,
            ['US','DE','FR','GB','NL','JP','BR','IN','CA','ES'][
                1 + cast(floor(random() * 10) as int)] as country_code
        from range({entities * per_entity}) t(i);
    """


def make_project(root: Path) -> None:
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(DBT_PROJECT)
    (root / "profiles.yml").write_text(PROFILES.format(path=root / "bench.duckdb"))
    (root / "models" / "_features.yml").write_text(models_yml())
    (root / "models" / f"{MODEL}_v1.sql").write_text(
        "select * from {{ source('bench_raw', 'events') }}\n"
    )
    package = Path(__file__).resolve().parents[1] / "sync" / "featurehouse" / "dbt_package"
    (root / "packages.yml").write_text(f"packages:\n  - local: {package}\n")


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "FEATUREHOUSE_"))}
    env.update(
        {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_PROFILES_DIR": str(root),
            "DBT_TARGET_PATH": str(root / "target"),
            "DBT_LOG_PATH": str(root / "logs"),
        }
    )
    return env


def fh_executable(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def build(root: Path, entities: int, per_entity: int, *, keep: bool = False) -> float:
    """Fill raw.events, install the featurehouse dbt package (`dbt deps`) and `dbt build`
    the view; seconds of the build (not part of any ratio). `keep`: reuse a finished build
    of the same size in `root` (0 s)."""
    marker = root / "built.json"
    size = json.dumps([entities, per_entity])
    if keep and marker.exists() and marker.read_text() == size:
        dbt(root, "deps")  # the package of this checkout (the kept build may link another's)
        # ... and a manifest of its code: the kept one is the old code's, and the sync would
        # reuse the SQL that code rendered (cached per manifest code)
        dbt(root, "parse")
        return 0.0
    marker.unlink(missing_ok=True)
    seconds = _build(root, entities, per_entity)
    marker.write_text(size)
    return seconds


def _build(root: Path, entities: int, per_entity: int) -> float:
    with duckdb.connect(str(root / "bench.duckdb")) as con:
        con.execute(source_sql(entities, per_entity))
    dbt(root, "deps")
    return dbt(root, "build")


def dbt(root: Path, command: str) -> float:
    t = time.perf_counter()
    done = subprocess.run(
        [fh_executable("dbt"), command, "--project-dir", str(root)],
        cwd=root,
        env=environment(root),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"dbt {command} failed:\n{done.stdout[-3000:]}{done.stderr}")
    return time.perf_counter() - t


def rendered_files(root: Path) -> dict[str, float]:
    """The rendered-SQL cache: file -> mtime (unchanged = the sync rendered nothing)."""
    cache = root / "target" / "featurehouse" / "sql"
    return {str(p): p.stat().st_mtime for p in cache.rglob("*.sql")}


def latest_rows(root: Path) -> pa.Table:
    """The rows the sync publishes (r = per_entity-1 of each entity), for the floor file."""
    with duckdb.connect(str(root / "bench.duckdb"), read_only=True) as con:
        table = con.sql(
            f"select * from main.{MODEL}_v1 qualify row_number() over "
            "(partition by entity_id order by event_at desc, loaded_at desc) = 1"
        ).to_arrow_table()
    return table.rename_columns(
        ["customer_id" if c == "entity_id" else c for c in table.schema.names]
    )


def compile_package() -> None:
    """Byte-compile featurehouse once, as an installed wheel is (not timed)."""
    package = Path(featurehouse.__file__).parent
    cmd = [sys.executable, "-m", "compileall", "-q", str(package)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def hash_settings(client: redis.Redis) -> dict[str, str]:
    """The server's hash encoding settings that decide listpack vs hashtable."""
    return {k: str(client.config_get(k)[k]) for k in SERVER_SETTINGS}


def memory_at(
    client: redis.Redis, settings: dict[str, str], root: Path, port: int, plain: Path
) -> dict[str, float]:
    """used_memory of the plain load and of a sync on a flushed server with `settings`."""
    for k, v in settings.items():
        client.config_set(k, v)
    base = flush(client)
    load_plain(port, plain)
    figures = {"plain": float(used_memory(client) - base)}
    base = flush(client)
    run_sync(root, port, cold=False)
    figures["ours"] = float(used_memory(client) - base)
    flush(client)
    return figures


# Starts a command and writes its tree's peak RSS (KB, wait4's ru_maxrss) to argv[1]. The
# sync is started by this small process, not by the benchmark: a child that subprocess starts
# (vfork, then exec) keeps its parent's high-water mark as its own ru_maxrss, so wait4 here
# would report the benchmark's peak (its floor file's rows, ~500 MB at 1M) when larger.
_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_sync(root: Path, port: int, *, cold: bool) -> dict[str, float]:
    """One `featurehouse sync` subprocess: wall seconds, peak RSS (MB) of its tree, entities."""
    if cold:
        shutil.rmtree(root / "target" / "featurehouse", ignore_errors=True)
    cmd = [
        fh_executable("featurehouse"),
        "sync",
        "--project-dir",
        str(root),
        "--target",
        "dev",
        "--redis-url",
        f"redis://127.0.0.1:{port}/0",
        "--as-of",
        AS_OF.isoformat(sep=" "),
        "--force",
        "--json",
        "--quiet",
    ]
    out, peak = root / "sync.json", root / "sync.maxrss"
    t = time.perf_counter()
    with out.open("w") as stdout:
        launched = [sys.executable, "-c", _LAUNCHER, str(peak), *cmd]
        code = subprocess.run(launched, cwd=root, env=environment(root), stdout=stdout).returncode
    seconds = time.perf_counter() - t
    if code != 0:
        raise RuntimeError(f"featurehouse sync exited {code}: {out.read_text()[-2000:]}")
    rss_mb = int(peak.read_text()) / 1024
    return {"s": seconds, "rss": rss_mb, "entities": entity_count(out)}


def entity_count(path: Path) -> float:
    """Entities written, from the sync's JSON."""
    for view in json.loads(path.read_text())["views"]:
        return float(view["entities_written"])
    return float("nan")


def variant(
    root: Path, entities: int, per_entity: int, port: int, client: redis.Redis, keep: bool
) -> dict:
    """Build one source size, sync it cold and cached on a flushed server."""
    make_project(root)
    figures: dict[str, float] = {"build_s": build(root, entities, per_entity, keep=keep)}
    base = flush(client)
    cold = run_sync(root, port, cold=True)
    figures["ours_mem"] = used_memory(client) - base
    flush(client)
    figures["rebuild_s"] = dbt(root, "build")  # a new manifest of the same code, as a scheduler's
    before = rendered_files(root)
    cached = run_sync(root, port, cold=False)
    figures["cache_reused"] = float(bool(before) and rendered_files(root) == before)
    figures.update({f"cold_{k}": v for k, v in cold.items()})
    figures.update({f"cached_{k}": v for k, v in cached.items()})
    return figures


def large_variant(args: argparse.Namespace, port: int, client: redis.Redis) -> dict:
    """One sync at --large-entities, its SQL as the build rendered it (else `dbt compile`)."""
    root = args.workdir / f"e{args.large_entities}x{args.rows_per_entity}"
    make_project(root)
    figures: dict[str, float] = {
        "build_s": build(root, args.large_entities, args.rows_per_entity, keep=args.keep_build)
    }
    base = flush(client)
    figures.update(run_sync(root, port, cold=False))
    figures["mem"] = used_memory(client) - base
    figures["load"] = os.getloadavg()[0]
    flush(client)
    return figures


def report_large(args: argparse.Namespace, floor: dict, main_run: dict, large: dict) -> None:
    """The large sync beside the main size's (after a rebuild) and the floor's rate."""
    n, big, mb = args.entities, args.large_entities, 2**20
    main_rate, big_rate = n / main_run["cached_s"], big / large["s"]
    print(
        f"\nlarge: {big:,} entities from {big * args.rows_per_entity:,} rows, one sync "
        f"(load average {large['load']:.1f} at its end)"
    )
    print(f"{'':<34}{'wall s':>10}{'entities/s':>14}{'peak RSS MB':>14}{'redis MB':>12}")
    rows = [
        (f"sync at {big:,}", large["s"], big_rate, large["rss"], large["mem"] / mb),
        (f"sync at {n:,}", main_run["cached_s"], main_rate, main_run["cached_rss"],
         main_run["ours_mem"] / mb),
        (f"floor at {n:,} (redis-cli --pipe)", floor["s"], n / floor["s"], float("nan"),
         floor["mem"] / mb),
    ]  # fmt: skip
    for label, s, rate, rss, mem in rows:
        print(f"{label:<34}{s:>10.1f}{rate:>14,.0f}{rss:>14,.0f}{mem:>12,.0f}")
    met = "met" if large["rss"] <= TARGET_RSS_MB else "NOT met"
    print(
        f"per entity: {big_rate / main_rate:.2f}x the {n:,} sync's rate, "
        f"{big_rate / (n / floor['s']):.2f}x the floor's; "
        f"peak RSS <= {TARGET_RSS_MB:,.0f} MB: {met}"
    )


def report(args: argparse.Namespace, floor: dict, main_run: dict, flat: dict | None) -> None:
    n = args.entities

    def line(metric: str, value: str, ratio: str = "") -> None:
        print(f"{metric:<74}{value:>16}{ratio:>10}")

    rows = n * args.rows_per_entity
    print(
        f"\nsync benchmark: {n:,} entities x 8 features (4 float, 3 int, 1 string) "
        f"from {rows:,} DuckDB rows; redis {floor['redis_version']} with the embedded "
        f"store's hash settings ({settings_text(floor['settings'])}) unless said; load "
        f"average {floor['load']:.1f} on {os.cpu_count()} cores\n"
    )
    line("metric", "value", "vs floor")
    runs = " ".join(f"{x:.2f}" for x in floor["runs"])
    line(f"floor: redis-cli --pipe of plain HSETs, s (median of {runs})", f"{floor['s']:.2f}")
    line("floor entities/s", f"{n / floor['s']:,.0f}", "1.00x")
    labels = (("cold (first after dbt build)", "cold"), ("after a rebuild (cached SQL)", "cached"))
    for label, key in labels:
        s = main_run[f"{key}_s"]
        label += f" (median of {' '.join(f'{x:.2f}' for x in main_run[f'{key}_runs'])})"
        line(f"sync {label}, s", f"{s:.2f}")
        line(f"sync {label}, entities/s", f"{n / s:,.0f}", f"{floor['s'] / s:.2f}x")
    line(
        "CPU s (client + Redis server): floor / sync after a rebuild (medians)",
        f"{floor['cpu']:.2f} / {main_run['cached_cpu']:.2f}",
        f"{floor['cpu'] / main_run['cached_cpu']:.2f}x",
    )
    line("sync entities written (from --json)", f"{main_run['cold_entities']:,.0f}")
    reused = "yes" if main_run["cache_reused"] else "NO (rendered again)"
    line("rendered SQL reused after `dbt build` of the same code", reused)
    line(
        f"peak RSS MB of the sync, {rows:,} source rows (cold/cached)",
        f"{main_run['cold_rss']:.0f} / {main_run['cached_rss']:.0f}",
    )
    if flat is not None:
        flat_rows = n * args.flat_rows_per_entity
        line(
            f"peak RSS MB of the sync, {flat_rows:,} source rows (cold/cached)",
            f"{flat['cold_rss']:.0f} / {flat['cached_rss']:.0f}",
            f"{main_run['cached_rss'] / flat['cached_rss']:.2f}x",
        )
        line(
            f"  sync cached at {flat_rows:,} rows, s (entities/s)",
            f"{flat['cached_s']:.2f} ({n / flat['cached_s']:,.0f})",
        )
    memory_lines(line, floor, main_run)
    line("dbt build (not timed in any ratio), s", f"{main_run['build_s']:.1f}")
    reference(n, main_run)


def settings_text(settings: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items())


def memory_lines(line: Callable[..., None], floor: dict, main_run: dict) -> None:
    """used_memory of both layouts at the embedded store's settings, and at the defaults."""
    mb = 2**20
    at = [("embedded store's settings", "", "")]
    if "mem_defaults" in floor:
        at.append(
            (f"server defaults: {settings_text(floor['defaults'])}", "_defaults", "_defaults")
        )
    for label, plain_key, ours_key in at:
        plain, ours = floor[f"mem{plain_key}"], main_run[f"ours_mem{ours_key}"]
        line(f"used_memory delta MB, {label}:", "")
        line("  plain HSETs (a hash per entity)", f"{plain / mb:.1f}")
        line("  featurehouse layout", f"{ours / mb:.1f}", f"{ours / plain:.2f}x")


def reference(n: int, main_run: dict) -> None:
    """Our peak RSS and throughput beside issue #17's reference and its target."""
    rate = REFERENCE["entities"] / REFERENCE["cached_s"]
    ours = n / main_run["cached_s"]
    met = "met" if main_run["cached_rss"] <= TARGET_RSS_MB else "NOT met"
    print(
        f"\nreference (before bounded memory, {REFERENCE['entities']:,} entities, idle "
        f"machine): peak RSS {REFERENCE['rss_mb']:,.0f} MB, sync after a rebuild "
        f"{REFERENCE['cached_s']} s ({rate:,.0f} entities/s)"
    )
    print(
        f"ours at {n:,} entities: peak RSS {main_run['cached_rss']:,.0f} MB "
        f"(target <= {TARGET_RSS_MB:,.0f}: {met}), "
        f"{ours:,.0f} entities/s ({ours / rate:.2f}x the reference's; compare on an idle "
        "machine, the floor ratio above holds under load)"
    )


def with_cpu(client: redis.Redis, run: Callable[[], T]) -> tuple[T, float]:
    """`run()`'s result and the CPU seconds it cost: its child processes' (the sync, or
    redis-cli) plus the Redis server's (INFO cpu). CPU seconds are what a busy machine
    disturbs least: wall time there also counts waiting for a core."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = server_cpu(client)
    result = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = after.ru_utime - children.ru_utime + after.ru_stime - children.ru_stime
    return result, own + server_cpu(client) - server


def interleaved(
    repeat: int, root: Path, port: int, client: redis.Redis, plain: Path, main_run: dict
) -> dict:
    """The floor loads and the cached and cold syncs, interleaved so that a slow spell hits
    both sides; their medians go into `main_run`, the floor's figures are returned."""
    floors, syncs, colds = [], [main_run["cached_s"]], [main_run["cold_s"]]
    floor_cpu, sync_cpu = [], []
    for i in range(repeat):
        base = flush(client)
        seconds, cpu = with_cpu(client, lambda: load_plain(port, plain))
        floors.append(seconds)
        floor_cpu.append(cpu)
        mem = used_memory(client) - base
        if i + 1 < repeat:
            flush(client)
            figures, cpu = with_cpu(client, lambda: run_sync(root, port, cold=False))
            syncs.append(figures["s"])
            sync_cpu.append(cpu)
            flush(client)  # cold again: no SQL cache, the last `dbt build`'s artifacts
            colds.append(run_sync(root, port, cold=True)["s"])
    floor = {"s": statistics.median(floors), "mem": mem, "runs": floors}
    floor["cpu"] = statistics.median(floor_cpu)
    main_run["cached_cpu"] = statistics.median(sync_cpu) if sync_cpu else float("nan")
    floor["redis_version"] = client.info("server")["redis_version"]
    floor["load"] = os.getloadavg()[0]
    main_run["cached_s"] = statistics.median(syncs)
    main_run["cached_runs"] = syncs
    main_run["cold_s"] = statistics.median(colds)
    main_run["cold_runs"] = colds
    return floor


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--rows-per-entity", type=int, default=10)
    parser.add_argument(
        "--flat-rows-per-entity",
        type=int,
        default=1,
        help="second source size for the peak-RSS flatness check (0: skip)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="floor loads and cached syncs, interleaved; medians are compared (default 3)",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/benchsync"))
    parser.add_argument(
        "--keep-build",
        action="store_true",
        help="reuse the source and dbt build of an earlier run of the same size in --workdir",
    )
    parser.add_argument(
        "--large-entities",
        type=int,
        default=0,
        help="also one sync at this many entities, beside the main size and the floor (0: skip)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    args.workdir.mkdir(parents=True, exist_ok=True)
    main_root = args.workdir / f"e{args.entities}x{args.rows_per_entity}"
    compile_package()
    server = Server.start(None)
    try:
        client = redis.Redis(port=server.port)
        defaults = hash_settings(client)
        for k, v in SERVER_SETTINGS.items():
            client.config_set(k, v)
        main_run = variant(
            main_root, args.entities, args.rows_per_entity, server.port, client, args.keep_build
        )
        plain = args.workdir / "plain.resp"
        plain_hset_file(latest_rows(main_root), plain)
        floor = interleaved(args.repeat, main_root, server.port, client, plain, main_run)
        floor["settings"], floor["defaults"] = hash_settings(client), defaults
        if defaults != floor["settings"]:
            at_defaults = memory_at(client, defaults, main_root, server.port, plain)
            floor["mem_defaults"], main_run["ours_mem_defaults"] = at_defaults.values()
            for k, v in SERVER_SETTINGS.items():
                client.config_set(k, v)
        plain.unlink()
        large = large_variant(args, server.port, client) if args.large_entities else None
        flat = None
        if args.flat_rows_per_entity:
            flat_root = args.workdir / f"e{args.entities}x{args.flat_rows_per_entity}"
            flat = variant(
                flat_root,
                args.entities,
                args.flat_rows_per_entity,
                server.port,
                client,
                args.keep_build,
            )
    finally:
        server.stop()
    report(args, floor, main_run, flat)
    if large is not None:
        report_large(args, floor, main_run, large)
    if args.json:
        figures = {"floor": floor, "sync": main_run, "flat": flat, "entities": args.entities}
        figures["large"] = large
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
