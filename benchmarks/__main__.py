"""`python -m benchmarks`: run every benchmark (arguments go to bench_online; bench_drift
runs with its defaults, 10M rows)."""

from benchmarks import bench_drift, bench_online

if __name__ == "__main__":
    bench_online.main()
    bench_drift.main([])
