"""The server in bad weather, on a redis-server of the test's own: Redis restarting, down at
start, hung; and several worker processes sharing the port and the metrics.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from featurehouse.online.redis import RedisStore
from online_support import Server, free_port, own_server, prefixed_keys
from server_support import ServerProcess, metric, publish_all, serve

BODY = {"features": ["feat_customer__orders:count_orders_7d"], "entities": {"customer_id": [1, 2]}}
PREFIX = "fhserve"


def persistent(workdir: Path, port: int | None = None) -> Server:
    """A redis-server that saves to workdir on shutdown and loads it on start."""
    return Server(port or free_port(), ("--dir", str(workdir), "--save", "3600 1"))


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Server]:
    server = persistent(tmp_path).start()
    try:
        yield server
    finally:
        server.stop(kill=True)


def wait_for(server: ServerProcess, status: int, path: str = "/get-online-features") -> float:
    """Seconds until `path` answers `status` (fails after 20 s)."""
    started = time.monotonic()
    while time.monotonic() - started < 20:
        response = server.post(path, BODY) if path != "/health" else server.get(path)
        if response.status_code == status:
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"{path} never answered {status}; last: {response.status_code} {response.text}")


@pytest.mark.parametrize("busy_poll", ["200", "0"])
def test_redis_restart_gives_503_then_recovers(
    own_redis: Server, tmp_path: Path, busy_poll: str
) -> None:
    """The same with round trips busy-polled (the default) and not (--redis-busy-poll-us 0)."""
    publish_all(RedisStore(redis.Redis.from_url(own_redis.url), PREFIX))
    poll = ("--redis-busy-poll-us", busy_poll)
    with serve(own_redis.url, PREFIX, tmp_path, "--redis-timeout", "0.5", *poll) as server:
        before = server.post("/get-online-features", BODY).json()
        own_redis.stop()  # SIGTERM: saves the dump, like a restart for maintenance
        started = time.monotonic()
        response = server.post("/get-online-features", BODY)
        assert time.monotonic() - started < 3
        assert response.status_code == 503
        assert response.json()["error"] == "redis_unavailable"
        assert f"127.0.0.1:{own_redis.port}" in response.json()["detail"]
        assert response.headers["retry-after"] == "1"
        health = server.get("/health")
        assert health.status_code == 503 and health.json()["redis"]["ok"] is False
        text = server.get("/metrics").text
        assert metric(text, "featurehouse_redis_up") == 0
        errors = metric(text, "featurehouse_redis_errors_total", kind="unavailable")
        assert errors is not None and errors >= 2
        own_redis.start()
        wait_for(server, 200)
        assert server.post("/get-online-features", BODY).json() == before
        assert server.get("/health").status_code == 200
        assert metric(server.get("/metrics").text, "featurehouse_redis_up") == 1


def test_started_while_redis_is_down(tmp_path: Path) -> None:
    later = persistent(tmp_path)
    with serve(later.url, PREFIX, tmp_path, "--redis-timeout", "0.5") as server:
        health = server.get("/health")
        assert health.status_code == 503
        assert health.json()["registry"] == {"loaded": False}
        response = server.post("/get-online-features", BODY)
        assert response.status_code == 503 and response.json()["error"] == "redis_unavailable"
        assert server.get("/v1/views").status_code == 503
        later.start()
        try:
            publish_all(RedisStore(redis.Redis.from_url(later.url), PREFIX))
            wait_for(server, 200)
            assert server.post("/get-online-features", BODY).json()["results"][1]["values"] == [
                3,
                0,
            ]
            assert server.get("/health").json()["registry"]["views"] == 4
        finally:
            later.stop(kill=True)


def test_hung_redis_times_out_with_503(own_redis: Server, tmp_path: Path) -> None:
    publish_all(RedisStore(redis.Redis.from_url(own_redis.url), PREFIX))
    with serve(own_redis.url, PREFIX, tmp_path, "--redis-timeout", "0.3") as server:
        assert server.post("/get-online-features", BODY).status_code == 200
        assert own_redis.proc is not None
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            response = server.post("/get-online-features", BODY)
            took = time.monotonic() - started
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        assert response.status_code == 503, response.text
        assert "Timeout" in response.json()["detail"] or "timed out" in response.json()["detail"]
        assert took < 2.5
        wait_for(server, 200)


def test_workers_share_the_port_and_the_metrics(own_redis: Server, tmp_path: Path) -> None:
    publish_all(RedisStore(redis.Redis.from_url(own_redis.url), PREFIX))
    with serve(own_redis.url, PREFIX, tmp_path, "--workers", "2") as server:
        wait_for(server, 200, "/health")
        pid = server.proc.pid
        workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert len(workers) >= 2
        for _ in range(40):  # a new connection each: the kernel spreads them over the workers
            response = httpx.post(f"{server.url}/get-online-features", json=BODY)
            assert response.status_code == 200
        text = httpx.get(f"{server.url}/metrics").text
        total = metric(
            text, "featurehouse_http_requests_total", endpoint="get-online-features", status="200"
        )
        assert total == 40  # summed over the workers (PROMETHEUS_MULTIPROC_DIR)
        assert (
            metric(text, "featurehouse_view_entities", view="feat_customer__orders", version="2")
            == 4
        )
    assert prefixed_keys(redis.Redis.from_url(own_redis.url), PREFIX)  # data untouched


def test_redis_by_unix_socket(tmp_path: Path) -> None:
    sock = tmp_path / "redis.sock"
    with own_server("--unixsocket", str(sock)) as own:
        publish_all(RedisStore(redis.Redis.from_url(own.url), PREFIX))
        with serve(f"unix://{sock}", PREFIX, tmp_path) as server:
            assert server.post("/get-online-features", BODY).json()["results"][1]["values"] == [
                3,
                0,
            ]
            assert server.get("/health").status_code == 200
