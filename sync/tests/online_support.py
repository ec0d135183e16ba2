"""Shared helpers of the online store tests: real Redis servers, a private key prefix, data."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pytest
import redis
from featurehouse.online import FeatureSpec, OnlineStore, ViewSchema
from featurehouse.online.redis import RedisStore

# The suite's Redis: `make services` starts one on 6379; FEATUREHOUSE_REDIS_URL points elsewhere.
SHARED_URL = os.environ.get("FEATUREHOUSE_REDIS_URL", "redis://127.0.0.1:6379/0")
AS_OF = datetime(2026, 5, 1)
# One feature of every online type, named by its first letter.
ALL_TYPES = (
    ("f", "float64"),
    ("i", "int64"),
    ("s", "string"),
    ("b", "bool"),
    ("t", "timestamp"),
    ("l", "list<float64>"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A redis-server of the test's own, on a free loopback port, without persistence."""

    port: int
    args: tuple[str, ...]
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Server:
        cmd = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            *self.args,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return self
            time.sleep(0.05)
        self.stop(kill=True)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc = None


@contextlib.contextmanager
def own_server(*args: str) -> Iterator[Server]:
    server = Server(free_port(), args).start()
    try:
        yield server
    finally:
        server.stop(kill=True)


def shared_client() -> redis.Redis:
    client = redis.Redis.from_url(SHARED_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is not running at {SHARED_URL}; start it (see .ci/run)")
    return client


def prefixed_keys(client: redis.Redis, prefix: str) -> list[str]:
    """Every key of a test prefix (tests may SCAN; the library never does)."""
    return sorted(k.decode() for k in client.scan_iter(match=f"{prefix}:*", count=1000))


@contextlib.contextmanager
def test_store(client: redis.Redis) -> Iterator[OnlineStore]:
    prefix = f"fhtest:{uuid.uuid4().hex[:12]}"
    try:
        yield RedisStore(client, prefix)
    finally:
        keys = prefixed_keys(client, prefix)
        for i in range(0, len(keys), 500):
            client.unlink(*keys[i : i + 500])


def schema(
    view: str = "feat_customer__orders",
    version: int | None = 1,
    features: tuple[tuple[str, str], ...] = (("amount", "float64"), ("count", "int64")),
    ttl: int | None = None,
    keys: tuple[tuple[str, str], ...] = (("customer_id", "int64"),),
    entity: str = "customer",
    created: bool = False,
) -> ViewSchema:
    return ViewSchema(
        view=view,
        version=version,
        entity=entity,
        keys=tuple(k for k, _ in keys),
        key_types=tuple(t for _, t in keys),
        features=tuple(FeatureSpec(n, t) for n, t in features),
        ttl_seconds=ttl,
        description="test view",
        owner="tests",
        created=created,
    )


def batch(
    ids: list, events: list[datetime] | datetime, key: str = "customer_id", **features: pa.Array
) -> pa.RecordBatch:
    if isinstance(events, datetime):
        events = [events] * len(ids)
    cols = {key: pa.array(ids), "__event_at": pa.array(events, pa.timestamp("us"))}
    cols.update(features)
    return pa.record_batch(cols)


def simple_batch(n: int, tag: int, event: datetime = AS_OF - timedelta(hours=1)) -> pa.RecordBatch:
    """n customers 0..n-1 whose `count` is `tag` and `amount` is id + tag / 10."""
    return batch(
        list(range(n)),
        event,
        amount=pa.array([i + tag / 10 for i in range(n)], pa.float64()),
        count=pa.array([tag] * n, pa.int64()),
    )
