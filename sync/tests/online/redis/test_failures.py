"""Crashes and failures, each on a redis-server of the test's own: SIGKILLed publishers while a
reader process keeps reading (on the session's Redis Cluster too), Redis restarts and kills,
OOM, bad passwords, listpack settings.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import redis
from featurehouse.online import (
    NotPublishedError,
    OnlineStore,
    OnlineStoreError,
    ReadRequest,
    RedisUnavailable,
)
from featurehouse.online.redis import RedisStore, layout
from featurehouse.online.redis.cluster import open_client
from featurehouse.online.redis.connection import endpoint
from online_support import AS_OF, batch, own_server, prefixed_keys, schema, simple_batch

WORKER = str(Path(__file__).resolve().parents[2] / "online_worker.py")
ENTITIES = 20_000


def publish(store: OnlineStore, batches, **kw):
    kw = {
        "as_of": AS_OF,
        "clock": "as_of",
        "mode": "full",
        "watermark": AS_OF,
        "is_latest": True,
        **kw,
    }
    return store.publish(schema(), batches, **kw)


def worker(*args: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, WORKER, *map(str, args)], stdout=subprocess.PIPE, text=True
    )


def read_one(store: OnlineStore, customer_id: int = 7) -> tuple:
    [res] = store.read([ReadRequest(schema().view)], [{"customer_id": customer_id}])
    return res.values[0]


@contextlib.contextmanager
def engine(name: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, redis.Redis]]:
    """A redis-server of the test's own, or the session's 3-master cluster: URL and client."""
    if name == "cluster":
        url = request.getfixturevalue("redis_cluster").url
        yield url, open_client(endpoint(url))
        return
    with own_server() as server:
        yield server.url, redis.Redis(port=server.port)


@pytest.mark.slow
@pytest.mark.parametrize("engine_name", ["redis", "cluster"])
@pytest.mark.parametrize("kill_point", ["mid-stream", "after-commit"])
def test_sigkilled_publish_never_shows_a_mixed_state(
    kill_point: str, engine_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with engine(engine_name, request) as (url, client):
        prefix = f"fhtest:{uuid.uuid4().hex[:8]}"
        store = RedisStore(client, prefix)
        publish(store, [simple_batch(ENTITIES, tag=1)])
        stop = tmp_path / "stop"
        reader = worker("read", url, prefix, ENTITIES, stop)
        time.sleep(0.5)
        victim = worker("publish", url, prefix, ENTITIES, 2, kill_point)
        if kill_point == "mid-stream":
            for _ in range(5):
                assert victim.stdout.readline().startswith("sent")
            os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=60)
        assert victim.returncode == -signal.SIGKILL
        expected = 1 if kill_point == "mid-stream" else 2
        assert read_one(store) == (7 + expected / 10, expected)  # still serving one generation
        leftovers = client.hgetall(layout.syncing_key(prefix)) or client.hgetall(
            layout.retired_key(prefix)
        )
        [entry] = [json.loads(v) for v in leftovers.values()]
        dead_keys = layout.all_data_keys(entry["key_prefix"], "customer", entry["buckets"], 1024)
        assert client.exists(*dead_keys) > 0
        time.sleep(0.3)
        assert store.cleanup() == 1
        assert client.exists(*dead_keys) == 0
        assert store.cleanup() == 0
        publish(store, [simple_batch(ENTITIES, tag=3)])
        time.sleep(0.3)
        stop.touch()
        out, _ = reader.communicate(timeout=60)
        report = json.loads(out)
        assert report["errors"] == [] and report["mixed"] == 0 and report["reads"] > 10
        assert report["tags"] == sorted({1, expected, 3})
        live = {k for k in prefixed_keys(client, prefix) if ":d:" in k}
        assert live and all(f":g{store.describe(schema().view, 1).generation}:" in k for k in live)


@pytest.mark.slow
def test_the_next_publish_removes_a_dead_generation(tmp_path: Path) -> None:
    with own_server() as server:
        client = redis.Redis(port=server.port)
        prefix = f"fhtest:{uuid.uuid4().hex[:8]}"
        store = RedisStore(client, prefix)
        victim = worker("publish", server.url, prefix, ENTITIES, 2, "mid-stream")
        for _ in range(3):
            victim.stdout.readline()
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=60)
        assert client.hlen(layout.syncing_key(prefix)) == 1
        with pytest.raises(NotPublishedError):
            read_one(store)
        publish(store, [simple_batch(100, tag=5)])
        assert client.hlen(layout.syncing_key(prefix)) == 0
        assert (
            len(
                {
                    k.split(":g")[1].split(":")[0]
                    for k in prefixed_keys(client, prefix)
                    if ":d:" in k
                }
            )
            == 1
        )


@pytest.mark.slow
def test_redis_restart_and_redis_down() -> None:
    with own_server() as server:
        store = RedisStore.from_url(server.url, "fhtest")
        publish(store, [simple_batch(100, tag=1)])
        server.stop(kill=True)
        with pytest.raises(RedisUnavailable, match=r"Redis at redis://127.0.0.1:\d+/0 is unavail"):
            read_one(store)
        with pytest.raises(RedisUnavailable, match="is unavailable while publishing"):
            publish(store, [simple_batch(100, tag=2)])
        server.start()  # no persistence: data and functions are gone
        with pytest.raises(NotPublishedError, match="not published"):
            read_one(store)
        publish(store, [simple_batch(100, tag=3)])  # reloads the function library
        assert read_one(store) == (7.3, 3)


@pytest.mark.slow
def test_redis_killed_mid_write() -> None:
    with own_server() as server:
        store = RedisStore.from_url(server.url, "fhtest")

        def batches():
            yield simple_batch(1000, tag=1)
            server.stop(kill=True)
            yield simple_batch(1000, tag=1)

        with pytest.raises(RedisUnavailable, match="unavailable while publishing"):
            publish(store, batches(), chunk_rows=500, expected_rows=2000)


@pytest.mark.slow
def test_out_of_memory_keeps_the_previous_generation() -> None:
    with own_server("--maxmemory-policy", "noeviction") as server:
        client = redis.Redis(port=server.port)
        store = RedisStore(client, "fhtest")
        publish(store, [simple_batch(2000, tag=1)])
        used = client.info("memory")["used_memory"]
        client.config_set("maxmemory", used + 2_000_000)
        with pytest.raises(OnlineStoreError, match=r"out of memory \(maxmemory\) while publishing"):
            publish(store, [simple_batch(200_000, tag=2)], chunk_rows=20_000)
        assert read_one(store) == (7.1, 1)
        assert client.hlen(layout.syncing_key("fhtest")) == 0
        generation = store.describe(schema().view, 1).generation
        assert all(f":g{generation}:" in k for k in prefixed_keys(client, "fhtest") if ":d:" in k)
        client.config_set("maxmemory", 1)  # out of memory now: every write is refused
        with pytest.raises(redis.ResponseError, match="maxmemory"):
            client.set("fhtest:probe", "1")
        cold = RedisStore(redis.Redis(port=server.port), "fhtest")  # metadata read afresh too
        assert read_one(cold) == (7.1, 1) and read_one(store) == (7.1, 1)


@pytest.mark.slow
def test_wrong_password_is_one_line_without_the_password() -> None:
    with own_server("--requirepass", "s3cret") as server:
        store = RedisStore.from_url(f"redis://:wrong-pw@127.0.0.1:{server.port}/0", "fhtest")
        with pytest.raises(RedisUnavailable, match="refused the credentials") as info:
            publish(store, [simple_batch(10, tag=1)])
        assert "wrong-pw" not in str(info.value) and "\n" not in str(info.value)
        with pytest.raises(RedisUnavailable, match="refused the credentials"):
            store.views()
        good = RedisStore.from_url(f"redis://:s3cret@127.0.0.1:{server.port}/0", "fhtest")
        publish(good, [simple_batch(10, tag=1)])
        assert read_one(good) == (7.1, 1)


@pytest.mark.slow
@pytest.mark.parametrize(("value_limit", "encoding"), [(64, b"hashtable"), (256, b"listpack")])
def test_listpack_limit_is_checked(value_limit: int, encoding: bytes) -> None:
    with own_server("--hash-max-listpack-value", str(value_limit)) as server:
        client = redis.Redis(port=server.port)
        store = RedisStore(client, "fhtest")
        sch = schema(features=(("amount", "float64"), ("count", "int64"), ("label", "string")))
        b = batch(
            list(range(500)),
            AS_OF,
            amount=pa.array([1 / 3 + i for i in range(500)]),
            count=pa.array([2**62] * 500),
            label=pa.array(["a label longer than a msgpack record of 64 bytes"] * 500),
        )
        res = store.publish(sch, [b], as_of=AS_OF, clock="as_of", mode="full", watermark=None)
        assert res.max_record_bytes > 64
        assert bool(res.warnings) == (value_limit == 64)
        if res.warnings:
            assert "CONFIG SET hash-max-listpack-value 64" not in res.warnings[0]
        key = next(k for k in prefixed_keys(client, "fhtest") if ":d:" in k)
        assert client.object("encoding", key) == encoding


@pytest.mark.slow
def test_housekeeping_never_scans_the_keyspace() -> None:
    with own_server() as server:
        client = redis.Redis(port=server.port)
        store = RedisStore(client, "fhtest")
        publish(store, [simple_batch(500, tag=1)])
        publish(store, [simple_batch(500, tag=2)])
        store.views()
        store.cleanup()
        store.delete(schema().view, 1)
        stats = client.info("commandstats")
        assert not {"cmdstat_scan", "cmdstat_keys"} & set(stats)
        assert client.dbsize() == 1  # only the generation counter is left
