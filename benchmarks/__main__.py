"""`python -m benchmarks`: run every benchmark (arguments go to each)."""

from benchmarks import bench_drift, bench_lineage, bench_online, bench_training

if __name__ == "__main__":
    bench_online.main()
    bench_training.main()
    bench_lineage.main()
    bench_drift.main()
