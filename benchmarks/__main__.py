"""`python -m benchmarks`: run every benchmark (arguments go to each)."""

import sys

from benchmarks import bench_server

if __name__ == "__main__":
    sys.exit(bench_server.main())
