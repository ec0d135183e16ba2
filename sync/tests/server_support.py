"""Helpers of the feature server tests: a real `featurehouse serve` process on a free port,
and small views published with OnlineStore.publish under a test prefix of their own.
"""

from __future__ import annotations

import contextlib
import math
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest
from cli_process import start_featurehouse
from featurehouse.online import OnlineStore, ViewSchema
from online_support import AS_OF, SHARED_URL, free_port, schema

START_SECONDS = 60

ORDERS_V1 = schema(
    "feat_customer__orders",
    1,
    (
        ("count_orders_7d", "int64"),
        ("sum_amount_7d", "float64"),
        ("last_ordered_at", "timestamp"),
        ("is_repeat_buyer", "bool"),
    ),
    ttl=86_400,
)
ORDERS_V2 = schema(
    "feat_customer__orders",
    2,
    (
        ("count_orders_7d", "int64"),
        ("avg_amount_7d", "float64"),
        ("country_code", "string"),
        ("embedding", "list<float64>"),
    ),
    ttl=86_400,
)
POPULARITY = schema(
    "feat_product__popularity",
    None,
    (("views_7d", "int64"), ("score", "float64")),
    keys=(("product_id", "string"),),
    entity="product",
)
COUNTRY = schema(
    "feat_customer_country__orders",
    1,
    (("count_orders_30d", "int64"),),
    keys=(("customer_id", "int64"), ("country_code", "string")),
    entity="customer_country",
)
HOUR = timedelta(hours=1)
LAST_ORDER = datetime(2026, 4, 29, 13, 45, 30, 250000)

# customers 1, 2 and 4 are fresh, 3 is older than the TTL (expired), 5 and up are absent
_EVENTS = [AS_OF - HOUR, AS_OF - 2 * HOUR, AS_OF - 30 * HOUR, AS_OF - HOUR]


def _orders_v1() -> pa.RecordBatch:
    return pa.record_batch(
        {
            "customer_id": pa.array([1, 2, 3, 4], pa.int64()),
            "__event_at": pa.array(_EVENTS, pa.timestamp("us")),
            "count_orders_7d": pa.array([3, None, 1, 0], pa.int64()),
            "sum_amount_7d": pa.array([129.5, None, 10.0, math.inf]),
            "last_ordered_at": pa.array([LAST_ORDER, None, LAST_ORDER, None], pa.timestamp("us")),
            "is_repeat_buyer": pa.array([True, None, False, False]),
        }
    )


def _orders_v2() -> pa.RecordBatch:
    return pa.record_batch(
        {
            "customer_id": pa.array([1, 2, 3, 4], pa.int64()),
            "__event_at": pa.array(_EVENTS, pa.timestamp("us")),
            "count_orders_7d": pa.array([3, 0, 1, 0], pa.int64()),
            "avg_amount_7d": pa.array([43.166666666666664, None, 10.0, math.nan]),
            "country_code": pa.array(["DE", "FR", None, 'quote " ✓']),
            "embedding": pa.array(
                [[0.25, -1.5], [], None, [math.nan, -math.inf]], pa.list_(pa.float64())
            ),
        }
    )


def _popularity() -> pa.RecordBatch:
    return pa.record_batch(
        {
            "product_id": pa.array(["p1", "p2", "42"]),
            "__event_at": pa.array([AS_OF - HOUR] * 3, pa.timestamp("us")),
            "views_7d": pa.array([120, 7, 1], pa.int64()),
            "score": pa.array([0.9, 0.1, 0.5]),
        }
    )


def _country() -> pa.RecordBatch:
    return pa.record_batch(
        {
            "customer_id": pa.array([1, 1], pa.int64()),
            "country_code": pa.array(["DE", "FR"]),
            "__event_at": pa.array([AS_OF - HOUR] * 2, pa.timestamp("us")),
            "count_orders_30d": pa.array([5, 1], pa.int64()),
        }
    )


def publish(store: OnlineStore, sch: ViewSchema, batch: pa.RecordBatch, latest: bool) -> None:
    store.publish(
        sch,
        [batch],
        as_of=AS_OF,
        clock="as_of",
        mode="full",
        watermark=AS_OF,
        is_latest=latest,
    )


def publish_all(store: OnlineStore) -> None:
    """orders v1 and v2 (latest), product popularity (unversioned), a composite-key view."""
    publish(store, ORDERS_V1, _orders_v1(), latest=False)
    publish(store, ORDERS_V2, _orders_v2(), latest=True)
    publish(store, POPULARITY, _popularity(), latest=True)
    publish(store, COUNTRY, _country(), latest=True)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without Featurehouse or dbt settings (the server needs no project)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEATUREHOUSE_", "DBT_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


@dataclass
class ServerProcess:
    """A running `featurehouse serve` and an HTTP client to it."""

    url: str
    proc: subprocess.Popen
    log: Path
    client: httpx.Client

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return (
            self.client.post(path, json=body, **kw)
            if body is not None
            else (self.client.post(path, **kw))
        )

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)


@contextlib.contextmanager
def serve(
    redis_url: str,
    prefix: str,
    workdir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    port: int | None = None,
    https_ca: Path | None = None,
) -> Iterator[ServerProcess]:
    """`featurehouse serve` in a directory without a dbt project, until the block ends;
    `https_ca`: it serves HTTPS (--tls-* in `args`), the client trusts this CA."""
    port = port or free_port()
    log = workdir / f"serve-{port}.log"
    args = ("serve", "--port", str(port), "--redis-url", redis_url, "--redis-prefix", prefix, *args)
    with open(log, "wb") as out:
        proc = start_featurehouse(
            *args, cwd=workdir, env=env or clean_env(), stdout=out, stderr=subprocess.STDOUT
        )
    url = f"{'https' if https_ca else 'http'}://127.0.0.1:{port}"
    verify = ssl.create_default_context(cafile=str(https_ca)) if https_ca else True
    client = httpx.Client(base_url=url, timeout=30, verify=verify)
    server = ServerProcess(url, proc, log, client)
    try:
        _wait_started(server)
        yield server
    finally:
        client.close()
        stop(proc)


def _wait_started(server: ServerProcess) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"featurehouse serve exited {server.proc.returncode}:\n{server.output()}")
        with contextlib.suppress(httpx.TransportError):
            if server.get("/openapi.json").status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"featurehouse serve did not answer in {START_SECONDS}s:\n{server.output()}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus text exposition (None when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        sample, _, rest = head.partition("{")
        if sample != name:
            continue
        if all(part in rest for part in want.split(",")) if want else not rest:
            return float(value)
    return None


# --- fixtures shared by the server test modules (imported there by name) ---

LIMITS = ("--max-entities", "50", "--max-features", "20", "--max-body-bytes", "20000")


@pytest.fixture(scope="session")
def served_store() -> Iterator[OnlineStore]:
    """The test views under a prefix of their own on the shared Redis (removed after)."""
    from online_support import shared_client, test_store

    with test_store(shared_client()) as store:
        publish_all(store)
        yield store


@pytest.fixture(scope="session")
def server(
    served_store: OnlineStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One `featurehouse serve` (small limits, no API keys) over `served_store`."""
    workdir = tmp_path_factory.mktemp("serve")
    with serve(SHARED_URL, served_store.prefix, workdir, *LIMITS) as process:
        yield process
