"""Subprocess roles of the crash tests: a slow publisher (to be SIGKILLed) and a reader.

python online_worker.py publish <url> <prefix> <entities> <tag> <kill_point>
python online_worker.py read <url> <prefix> <entities> <stop_file>
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from pathlib import Path

from featurehouse.online import ReadRequest
from featurehouse.online.redis import RedisStore
from featurehouse.online.redis.publish import Publisher
from online_support import AS_OF, schema, simple_batch


def publish(url: str, prefix: str, entities: int, tag: int, kill_point: str) -> None:
    store = RedisStore.from_url(url, prefix)
    if kill_point == "after-commit":  # die between the switch and deleting the old generation
        Publisher._drop_retired = lambda self, gen: os.kill(os.getpid(), signal.SIGKILL)
    data = simple_batch(entities, tag)

    def batches():
        for start in range(0, entities, 1000):
            yield data.slice(start, 1000)
            if kill_point == "mid-stream":
                time.sleep(0.05)

    def progress(rows: int) -> None:
        print(f"sent {rows}", flush=True)

    store.publish(
        schema(),
        batches(),
        as_of=AS_OF,
        clock="as_of",
        mode="full",
        watermark=AS_OF,
        expected_rows=entities,
        progress=progress,
        is_latest=True,
        chunk_rows=1000,
    )
    print("done", flush=True)


def read(url: str, prefix: str, entities: int, stop_file: str) -> None:
    store = RedisStore.from_url(url, prefix)
    reads, mixed, errors, tags = 0, 0, [], set()
    while not Path(stop_file).exists():
        rows = [{"customer_id": random.randrange(entities)} for _ in range(30)]
        try:
            [res] = store.read([ReadRequest(schema().view)], rows)
        except Exception as exc:  # reported to the test, which fails on any
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        reads += 1
        seen = {v[1] for v in res.values}
        present = {s[0] for s in res.statuses} == {"present"}
        pairs = zip(res.values, rows, strict=True)
        exact = all(v[0] == r["customer_id"] + v[1] / 10 for v, r in pairs)
        if len(seen) != 1 or not present or not exact:
            mixed += 1
        tags |= seen
    print(json.dumps({"reads": reads, "mixed": mixed, "errors": errors[:5], "tags": sorted(tags)}))


if __name__ == "__main__":
    role, url, prefix, entities, arg = sys.argv[1:6]
    if role == "publish":
        publish(url, prefix, int(entities), int(arg), sys.argv[6])
    else:
        read(url, prefix, int(entities), arg)
