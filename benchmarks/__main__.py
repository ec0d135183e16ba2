"""`python -m benchmarks`: every benchmark with its defaults, or
`python -m benchmarks online|server [args]`: one benchmark with its arguments."""

import sys

from benchmarks import bench_online, bench_server

BENCHMARKS = {"online": bench_online.main, "server": bench_server.main}

if __name__ == "__main__":
    if len(sys.argv) > 1:
        if sys.argv[1] not in BENCHMARKS:
            sys.exit(f"usage: python -m benchmarks [{'|'.join(BENCHMARKS)} [args]]")
        sys.exit(BENCHMARKS[sys.argv[1]](sys.argv[2:]))
    bench_online.main([])
    sys.exit(bench_server.main([]))
