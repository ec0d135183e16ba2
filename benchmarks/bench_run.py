"""What `featurehouse run` costs over the two commands it replaces: `dbt build` then
`featurehouse sync`, of the same selection of the demo, into a fresh DuckDB file and a private
Redis prefix. A full build, then one warm-up of each (dbt's partial parse, the rendered SQL
cache), then alternating rounds; prints each timing and the overhead (median run - median
bare).

    python -m benchmarks run [--select VIEW ...] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks run")
    parser.add_argument("--select", action="append", default=[], metavar="VIEW")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    select = args.select or ["feat_product__popularity"]
    work = Path(tempfile.mkdtemp(prefix="fh-bench-run-"))
    env = {
        **os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_TARGET_PATH": str(work / "target"), "DBT_LOG_PATH": str(work / "logs"),
        "FEATUREHOUSE_DUCKDB_PATH": str(work / "bench.duckdb"),
        "FEATUREHOUSE_REDIS_PREFIX": f"fhbench:{uuid.uuid4().hex[:8]}",
    }  # fmt: skip
    env.setdefault("FEATUREHOUSE_REDIS_URL", "redis://127.0.0.1:6379/0")
    selection = [arg for view in select for arg in ("--select", view)]
    dbt_select = ["--select", *(f"+{view}+" for view in select)]
    bare = [[str(BIN / "dbt"), "build", "--quiet", *dbt_select],
            [str(BIN / "featurehouse"), "sync", "--quiet", *selection]]  # fmt: skip
    run = [str(BIN / "featurehouse"), "run", "--quiet", *selection]
    print(f"warm-up in {work} (a full dbt build first) ...", flush=True)
    _timed([str(BIN / "dbt"), "build", "--quiet"], env)
    _timed(bare[0], env), _timed(bare[1], env), _timed(run, env)
    bare_times, run_times = [], []
    for i in range(args.rounds):
        bare_times.append(sum(_timed(command, env) for command in bare))
        run_times.append(_timed(run, env))
        print(f"round {i + 1}: dbt build + featurehouse sync {bare_times[-1]:.1f} s, "
              f"featurehouse run {run_times[-1]:.1f} s", flush=True)  # fmt: skip
    overhead = statistics.median(run_times) - statistics.median(bare_times)
    print(f"featurehouse run overhead: {overhead:+.1f} s "
          f"({overhead / statistics.median(bare_times):+.0%}) over {args.rounds} round(s), "
          f"selection {' '.join(select)}")  # fmt: skip


if __name__ == "__main__":
    main()
