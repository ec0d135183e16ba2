"""`python -m benchmarks`: issue 19's table of targets (bench_table; `table --quick` for a
short run), `python -m benchmarks all`: every benchmark with its defaults, or
`python -m benchmarks NAME [args]`: one benchmark with its arguments (NAME below)."""

import sys

from benchmarks import (
    bench_drift,
    bench_engines,
    bench_layout_memory,
    bench_lineage,
    bench_online,
    bench_pit,
    bench_quickstart,
    bench_run,
    bench_server,
    bench_stream,
    bench_sync,
    bench_table,
    bench_training,
    bench_usage,
)


def _no_args(main):
    def run(argv: list[str]) -> None:
        sys.argv = [sys.argv[0], *argv]
        main()

    return run


BENCHMARKS = {
    "table": bench_table.main,
    "online": bench_online.main,
    "server": bench_server.main,
    "sync": bench_sync.main,
    "training": _no_args(bench_training.main),
    "pit": _no_args(bench_pit.main),
    "lineage": bench_lineage.main,
    "drift": bench_drift.main,
    "usage": bench_usage.main,
    "stream": bench_stream.main,
    # Not in the default run: it measures options (record encodings, bucket sizes), not ours.
    "layout-memory": bench_layout_memory.main,
    # Not in the default run: it starts a local cluster and a Valkey beside a Redis.
    "engines": bench_engines.main,
    # Not in the default run: dbt builds of the demo, several minutes.
    "run": bench_run.main,
    # Not in the default run: it clones the repo and installs it twice.
    "quickstart": bench_quickstart.main,
}


def every() -> None:
    for name in ("online", "server", "training", "lineage", "drift", "stream"):
        print(f"\n=== {name} ===", flush=True)
        BENCHMARKS[name]([])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "all":
        sys.exit(every())
    if len(sys.argv) > 1:
        if sys.argv[1] not in BENCHMARKS:
            sys.exit(f"usage: python -m benchmarks [all|{'|'.join(BENCHMARKS)} [args]]")
        sys.exit(BENCHMARKS[sys.argv[1]](sys.argv[2:]))
    sys.exit(bench_table.main([]))
