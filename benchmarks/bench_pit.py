"""Benchmark point-in-time join formulations on DuckDB, including the macro's rendered SQL.

Generates a spine (entity_id, spine_at, ~1% duplicate rows) and a feature table (entity_id,
effective_at, loaded_at, 8 double features, some event-time ties), runs every formulation in a
fresh subprocess (so peak RSS is per formulation) and checks they all return the same rows.

    python benchmarks/bench_pit.py                      # 100k x 1M, then 1M x 10M
    python benchmarks/bench_pit.py --sizes 100000:1000000 --threads 2 --repeat 2
    python benchmarks/bench_pit.py --no-macro           # hand-written queries only (no dbt)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

# The fixture views live in the integration-test project (run `make deps` first).
PROJECT_DIR = Path(__file__).resolve().parent.parent / "integration_tests"
FEATURES = [f"f{i}" for i in range(1, 9)]
# Matches the fixture feature view the macro is rendered against
# (integration_tests/models/point_in_time).
MACRO_VIEW = "fix_pit__bench"
MACRO_VARIANTS = {
    "macro_point_in_time_join": "point_in_time_join",
    "macro_default__point_in_time_join": "default__point_in_time_join",
}
TTL_SECONDS = 30 * 86400
DAYS = 90


def generate(path: Path, n_spine: int, n_features: int, n_entities: int) -> None:
    """Write bench_spine and bench_features into a DuckDB file (skipped if already there)."""
    if path.exists():
        return
    feature_cols = ",\n".join(
        f"        hash(i * {k + 17}) % 100000 / 100.0 as {f}" for k, f in enumerate(FEATURES)
    )
    with duckdb.connect(str(path)) as con:
        # Minute-granular event times so some (entity, effective_at) pairs tie; loaded_at is
        # up to 2 days later so the tie-break and the as-known-at filter both matter.
        con.execute(f"""
            create table bench_features as
            select
                (hash(i) % {n_entities})::bigint as entity_id,
                timestamp '2026-01-01'
                    + to_seconds((hash(i * 7) % ({DAYS} * 1440)) * 60) as effective_at,
                effective_at + to_seconds(hash(i * 13) % 172800) as loaded_at,
{feature_cols}
            from range({n_features}) as t(i)
        """)
        distinct_points = max(1, n_spine * 99 // 100)
        con.execute(f"""
            create table bench_spine as
            select
                (hash(j + 1000000007) % {n_entities})::bigint as entity_id,
                timestamp '2026-01-01'
                    + to_seconds(hash(j * 31 + 5) % ({DAYS} * 86400)) as spine_at,
                i as spine_row
            from (select i, i % {distinct_points} as j from range({n_spine}) as t(i))
        """)


def hand_written() -> dict[str, str]:
    """The candidate formulations, all returning spine.* + f1..f8 + effective_at."""
    fcols = ", ".join(f"f.{f}" for f in FEATURES)
    mcols = ", ".join(f"m.{f}" for f in FEATURES)
    window = f"p.spine_at - to_seconds({TTL_SECONDS})"
    points = "points as (select distinct entity_id, spine_at from bench_spine)"
    join_back = f"""
        select s.*, {mcols}, m.effective_at
        from bench_spine as s
        left join matched as m
            on s.entity_id = m.entity_id and s.spine_at = m.spine_at"""
    range_join = f"""
        from points as p
        inner join bench_features as f
            on f.entity_id = p.entity_id
            and f.effective_at <= p.spine_at
            and f.effective_at >= {window}"""
    ttl_null = " , ".join(
        f"case when f.effective_at >= s.spine_at - to_seconds({TTL_SECONDS}) then f.{c} end as {c}"
        for c in [*FEATURES, "effective_at"]
    )
    return {
        "range_row_number": f"""
            with {points},
            ranked as (
                select p.entity_id, p.spine_at, {fcols}, f.effective_at,
                    row_number() over (partition by p.entity_id, p.spine_at
                        order by f.effective_at desc, f.loaded_at desc) as rn
                {range_join}
            ),
            matched as (select * from ranked where rn = 1)
            {join_back}""",
        "range_qualify": f"""
            with {points},
            matched as (
                select p.entity_id, p.spine_at, {fcols}, f.effective_at
                {range_join}
                qualify row_number() over (partition by p.entity_id, p.spine_at
                    order by f.effective_at desc, f.loaded_at desc) = 1
            )
            {join_back}""",
        "range_arg_max_struct": f"""
            with {points},
            best as (
                select p.entity_id, p.spine_at,
                    arg_max(f, (f.effective_at, f.loaded_at)) as f
                {range_join}
                group by p.entity_id, p.spine_at
            ),
            matched as (
                select entity_id, spine_at, {", ".join(f"f.{c} as {c}" for c in FEATURES)},
                    f.effective_at as effective_at
                from best
            )
            {join_back}""",
        "range_arg_max_rowid": f"""
            with {points},
            best as (
                select p.entity_id, p.spine_at,
                    arg_max(f.rowid, epoch_us(f.effective_at)::hugeint * 18446744073709551616
                        + coalesce(epoch_us(f.loaded_at)::hugeint + 9223372036854775808, 0))
                        as picked
                {range_join}
                group by p.entity_id, p.spine_at
            ),
            matched as (
                select b.entity_id, b.spine_at, {fcols}, f.effective_at
                from best as b
                inner join bench_features as f on f.rowid = b.picked
            )
            {join_back}""",
        "range_max_packed_join_back": f"""
            with {points},
            numbered as (select row_number() over () as rid, * from bench_features),
            best as (
                select p.entity_id, p.spine_at,
                    max((f.effective_at, f.loaded_at, f.rid)) as packed
                from points as p
                inner join numbered as f
                    on f.entity_id = p.entity_id
                    and f.effective_at <= p.spine_at
                    and f.effective_at >= {window}
                group by p.entity_id, p.spine_at
            ),
            matched as (
                select b.entity_id, b.spine_at, {fcols}, f.effective_at
                from best as b
                inner join numbered as f on f.rid = struct_extract(b.packed, 3)
            )
            {join_back}""",
        "asof_tie_prepass": f"""
            with {points},
            deduped as (
                select * from bench_features
                qualify row_number() over (partition by entity_id, effective_at
                    order by loaded_at desc) = 1
            ),
            matched as (
                select p.entity_id, p.spine_at, {ttl_null.replace("s.spine_at", "p.spine_at")}
                from points as p
                asof inner join deduped as f
                    on p.entity_id = f.entity_id and p.spine_at >= f.effective_at
            )
            {join_back}""",
        "asof_struct_key": f"""
            with {points},
            matched as (
                select p.entity_id, p.spine_at, {fcols}, f.effective_at
                from points as p
                asof inner join bench_features as f
                    on p.entity_id = f.entity_id
                    and {{'t': p.spine_at, 'c': timestamp 'infinity'}}
                        >= {{'t': f.effective_at, 'c': coalesce(f.loaded_at, '-infinity')}}
                where f.effective_at >= {window}
            )
            {join_back}""",
        "asof_arg_max_prepass": f"""
            with {points},
            deduped as (
                select entity_id, effective_at,
                    arg_max(f, f.loaded_at) as f
                from bench_features as f
                group by entity_id, effective_at
            ),
            matched as (
                select p.entity_id, p.spine_at,
                    {
            ", ".join(
                f"case when d.effective_at >= p.spine_at - to_seconds({TTL_SECONDS})"
                f" then d.f.{c} end as {c}"
                for c in [*FEATURES, "effective_at"]
            )
        }
                from points as p
                asof inner join deduped as d
                    on p.entity_id = d.entity_id and p.spine_at >= d.effective_at
            )
            {join_back}""",
        "sort_and_fill": f"""
            with {points},
            numbered as (
                select row_number() over (order by entity_id, effective_at, loaded_at) as rid, *
                from bench_features
            ),
            unioned as (
                select entity_id, effective_at as ts, 0 as is_point, rid from numbered
                union all
                select entity_id, spine_at as ts, 1 as is_point, null as rid from points
            ),
            filled as (
                select entity_id, ts as spine_at, is_point,
                    max(rid) over (partition by entity_id order by ts, is_point, rid
                        rows unbounded preceding) as rid
                from unioned
            ),
            matched as (
                select p.entity_id, p.spine_at,
                    {
            ", ".join(
                f"case when f.effective_at >= p.spine_at - to_seconds({TTL_SECONDS})"
                f" then f.{c} end as {c}"
                for c in [*FEATURES, "effective_at"]
            )
        }
                from filled as p
                inner join numbered as f on f.rid = p.rid
                where p.is_point = 1
            )
            {join_back}""",
    }


def render_macro() -> dict[str, str]:
    """The macro's SQL through dbt over the bench relation names: dispatched and default__."""
    marker = "-- @@bench "
    inline = "\n".join(
        f"{marker}{name}\n{{{{ featurehouse.{macro}('bench_spine', 'spine_at', "
        f"[{{'model': '{MACRO_VIEW}'}}]) }}}}"
        for name, macro in MACRO_VARIANTS.items()
    )
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    env.setdefault("DBT_PROFILES_DIR", str(PROJECT_DIR))
    dbt = Path(sys.executable).with_name("dbt")
    out = subprocess.run(
        [str(dbt), "compile", "--quiet", "--inline", inline],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"dbt compile failed:\n{out.stdout}\n{out.stderr}")
    pieces = re.split(rf"^{re.escape(marker)}(\w+)$", out.stdout, flags=re.MULTILINE)[1:]
    # The fixture view's relation (any database/schema quoting) -> the bench table.
    relation = rf'(?:"?\w+"?\.)*"?{MACRO_VIEW}_v1"?'
    return {
        name: re.sub(relation, "bench_features", sql.strip())
        for name, sql in zip(pieces[::2], pieces[1::2], strict=True)
    }


def run_one(db: str, sql: str, threads: int, repeat: int) -> dict:
    """Child process: time `create temp table` of the query; report rows, checksum, peak RSS."""
    con = duckdb.connect(db, read_only=True)
    con.execute(f"set threads = {threads}")
    times = []
    for _ in range(repeat):
        con.execute("drop table if exists out")
        start = time.perf_counter()
        con.execute(f"create temp table out as {sql}")
        times.append(time.perf_counter() - start)
    rows, checksum = con.execute("select count(*), sum(hash(out)::hugeint) from out").fetchone()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": min(times),
        "rows": rows,
        "checksum": str(checksum),
        "peak_rss_mb": round(peak_kb / 1024),
    }


def run_child(db: Path, sql: str, threads: int, repeat: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(sql)
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(db), f.name, str(threads), str(repeat)],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout)


def bench_size(n_spine: int, n_features: int, args: argparse.Namespace, macro_sql: dict):
    n_entities = max(1, n_features // args.rows_per_entity)
    db = Path(args.data_dir) / f"pit_{n_spine}_{n_features}_{n_entities}.duckdb"
    generate(db, n_spine, n_features, n_entities)
    queries = hand_written()
    if args.only:
        queries = {k: v for k, v in queries.items() if k in args.only.split(",")}
    queries.update(macro_sql)
    print(
        f"\n## spine {n_spine:,} x features {n_features:,} ({n_entities:,} entities, "
        f"threads={args.threads}, best of {args.repeat} interleaved rounds)"
    )
    # Rounds interleave the formulations so that load from other processes on a shared
    # machine hits them alike; each keeps its best time and its largest peak RSS.
    results: dict[str, dict] = {}
    for _ in range(args.repeat):
        for name, sql in queries.items():
            run = run_child(db, sql, args.threads, 1)
            best = results.get(name)
            if best is None or "error" in run or "error" in best:
                results[name] = run
            else:
                results[name] = dict(
                    run if run["seconds"] < best["seconds"] else best,
                    peak_rss_mb=max(run["peak_rss_mb"], best["peak_rss_mb"]),
                )
    ok = {k: r for k, r in results.items() if "error" not in r}
    hand = {k: r for k, r in ok.items() if k not in MACRO_VARIANTS}
    fastest = min(hand, key=lambda k: hand[k]["seconds"]) if hand else None
    expected = {(r["rows"], r["checksum"]) for r in ok.values()}
    for name, r in results.items():
        if "error" in r:
            print(f"{name:28} ERROR {r['error']}")
            continue
        print(f"{name:28} {r['seconds']:7.2f} s  peak {r['peak_rss_mb']:6} MB  rows {r['rows']:,}")
    for name in MACRO_VARIANTS:
        if fastest and name in ok:
            ratio = ok[name]["seconds"] / hand[fastest]["seconds"]
            print(f"{name} / fastest hand-written ({fastest}): {ratio:.2f}x")
    print("results identical" if len(expected) == 1 else f"RESULTS DIFFER: {results}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        db, sql_path, threads, repeat = sys.argv[2:6]
        print(json.dumps(run_one(db, Path(sql_path).read_text(), int(threads), int(repeat))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="100000:1000000,1000000:10000000",
        help="comma-separated spine:features row counts",
    )
    parser.add_argument("--rows-per-entity", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds")
    parser.add_argument("--only", help="comma-separated hand-written formulations to run")
    parser.add_argument("--data-dir", default=os.environ.get("BENCH_DATA_DIR", "/tmp/bench_pit"))
    parser.add_argument("--no-macro", action="store_true", help="skip rendering through dbt")
    args = parser.parse_args()
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)
    macro_sql = {} if args.no_macro else render_macro()
    for size in args.sizes.split(","):
        n_spine, n_features = (int(x) for x in size.split(":"))
        bench_size(n_spine, n_features, args, macro_sql)


if __name__ == "__main__":
    main()
