"""Benchmark `featurehouse drift` on a 10M-row feature view in DuckDB.

Builds the empty fixture view fix_monitoring__bench with dbt into a temporary DuckDB file,
fills it with N rows spread over the 35 days before as_of (2 doubles, a count, a string, a
boolean; the current week shifted a little), then runs `featurehouse drift` twice: cold (dbt
renders the drift macros) and warm (the rendered SQL is cached per manifest). Run once:

    python -m benchmarks.bench_drift              # 10M rows
    python -m benchmarks.bench_drift --rows 1000000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

# The fixture views live in the integration-test project (run `make deps` first).
PROJECT_DIR = Path(__file__).resolve().parent.parent / "integration_tests"
VIEW = "fix_monitoring__bench"
SPREAD_SECONDS = 35 * 86_400  # rows from 2026-03-27 to 2026-05-01
CURRENT_START = "2026-04-24"


def environment(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "FEATUREHOUSE_"))}
    env.update(
        {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_PROFILES_DIR": str(PROJECT_DIR),
            "DBT_TARGET_PATH": str(work / "target"),
            "DBT_LOG_PATH": str(work / "logs"),
            "FEATUREHOUSE_DUCKDB_PATH": str(work / "featurehouse.duckdb"),
        }
    )
    return env


def build_view(env: dict[str, str]) -> None:
    dbt = Path(sys.executable).with_name("dbt")
    done = subprocess.run(
        [str(dbt), "build", "--select", VIEW, "--target", "dev"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"dbt build failed:\n{done.stdout[-3000:]}{done.stderr}")


def fill(path: Path, rows: int, threads: int) -> float:
    """Insert `rows` generated rows into the view's table; returns the seconds it took."""
    started = time.perf_counter()
    current = f"timestamp '2026-03-27' + to_seconds(i * {SPREAD_SECONDS} // {rows})"
    with duckdb.connect(str(path)) as connection:
        connection.execute(f"set threads = {threads}")
        connection.execute(
            f"""
            insert into main.{VIEW}
            select
                i % 200000 as entity_id,
                {current} as effective_at,
                (hash(i) % 10000) / 100.0 * (1 + (hash(i * 7) % 100) / 100.0)
                    * case when {current} >= timestamp '{CURRENT_START}' then 1.05 else 1 end
                    as amount,
                hash(i * 3) % 10 as quantity,
                case when hash(i * 5) % 20 = 0 then null else (hash(i * 5) % 1000) / 1000.0 end
                    as rate,
                case
                    when {current} >= timestamp '{CURRENT_START}' and hash(i * 11) % 50 = 0
                        then 'new_category'
                    else 'category_' || (hash(i * 11) % 8)
                end as category,
                hash(i * 13) % 10 < 3 as is_member
            from range({rows}) as r(i)
            """
        )
    return time.perf_counter() - started


def drift(env: dict[str, str]) -> tuple[float, dict]:
    command = [str(Path(sys.executable).with_name("featurehouse")), "drift", VIEW, "--json"]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--no-history"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"featurehouse drift failed:\n{done.stderr}")
    return seconds, json.loads(done.stdout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads for the fill")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fh-bench-drift-") as tmp:
        work = Path(tmp)
        env = environment(work)
        build_view(env)
        fill_seconds = fill(work / "featurehouse.duckdb", args.rows, args.threads)
        cold, _ = drift(env)
        warm, report = drift(env)
        size = (work / "featurehouse.duckdb").stat().st_size
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    features = report["features"]
    summary = {
        "rows": args.rows,
        "window_rows": {
            "reference": features[0]["n_reference"],
            "current": features[0]["n_current"],
        },
        "features": len(features),
        "fill_seconds": round(fill_seconds, 1),
        "duckdb_file_mb": round(size / 2**20),
        "drift_cold_seconds": round(cold, 1),
        "drift_warm_seconds": round(warm, 1),
        "drift_sql_seconds": report["seconds"],
        "peak_child_rss_mb": round(rss),
        "psi": {f["feature"]: f"{f['psi']:.4f} {f['verdict']}" for f in features},
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
