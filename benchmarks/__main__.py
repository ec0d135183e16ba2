"""`python -m benchmarks`: run every benchmark (arguments go to each)."""

from benchmarks import bench_online

if __name__ == "__main__":
    bench_online.main()
