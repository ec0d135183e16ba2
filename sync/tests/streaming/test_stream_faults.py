"""Faults: SIGKILL of the consumer at any point, Redis going away and coming back, poison
events already covered in test_stream_redis. After each, the offline log holds every event
exactly once and Redis serves what a dbt build of it says (the in-order run's build)."""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from featurehouse.streaming import runner
from stream_support import (
    Streamed,
    StreamRun,
    landed_ids,
    parity_of,
    spawn,
    wait_until,
    with_prefix,
)

pytestmark = pytest.mark.slow
KILLS = 4


def _wait_for_files(run: StreamRun, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(list(run.landing.rglob("*.parquet"))) >= count:
            return
        if process.poll() is not None:
            pytest.fail(f"the consumer exited: {(run.root / 'consumer.log').read_text()[-2000:]}")
        time.sleep(0.05)
    pytest.fail(
        f"no {count} landed files in 120 s: {(run.root / 'consumer.log').read_text()[-2000:]}"
    )


def test_sigkill_anywhere_then_restart_equals_a_run_never_killed(
    streamed_build: Streamed, stream_run: StreamRun
) -> None:
    stream_run.sync()
    expected = sorted(stream_run.project.streamed_rows["id"].to_pylist())
    stream_run.produce(stream_run.project.streamed_rows)
    chance = random.Random(11)
    files = 0
    for _ in range(KILLS):
        process = spawn(stream_run, "--as-of", "2026-05-01", "--max-batch", "120", "-q")
        files += chance.randint(1, 4)
        _wait_for_files(stream_run, files, process)
        time.sleep(chance.random() * 0.3)  # somewhere inside a batch
        process.send_signal(signal.SIGKILL)
        process.wait()
    done = spawn(stream_run, "--as-of", "2026-05-01", "--once", "--idle", "2", "-q")
    assert done.wait(timeout=300) == 0, (stream_run.root / "consumer.log").read_text()[-2000:]
    assert landed_ids(stream_run) == expected  # every event once: none lost, none twice
    result = parity_of(stream_run.context(with_prefix(streamed_build.rebuilt, stream_run.prefix)))
    assert result.ok, result


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, callable]]:
    """A redis-server of this test's own (append-only file), and a way to restart it."""
    executable = shutil.which("redis-server")
    if executable is None:
        pytest.fail("redis-server is not installed: run `make services`")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tmp_path / "redis"
    data.mkdir()
    command = [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
               "--appendonly", "yes", "--appendfsync", "always", "--save", ""]  # fmt: skip
    state: dict[str, subprocess.Popen[bytes]] = {}

    def start() -> None:
        state["process"] = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail("the test's redis-server did not start")

    def stop() -> None:
        state["process"].send_signal(signal.SIGTERM)
        state["process"].wait(timeout=20)

    start()
    yield f"redis://127.0.0.1:{port}/0", lambda: (stop(), time.sleep(3), start())
    stop()


def test_redis_down_and_back_loses_and_repeats_nothing(
    streamed_build: Streamed, stream_run: StreamRun, own_redis: tuple[str, callable]
) -> None:
    url, restart = own_redis
    stream_run.env["FEATUREHOUSE_REDIS_URL"] = url
    stream_run.sync()
    rows = stream_run.project.streamed_rows
    stream_run.produce(rows)
    consumer = stream_run.consumer(max_batch=100)
    stop = threading.Event()
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            runner.run([consumer], stream_run.context().artifacts, stop, once=False, idle=0)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    wait_until(lambda: consumer.metrics.events > 500, "the consumer to start")
    restart()  # Redis goes away mid-stream for 3 s and comes back with its data
    wait_until(lambda: consumer.metrics.events >= rows.num_rows, "the stream to drain", 180)
    time.sleep(1)
    stop.set()
    thread.join(30)
    assert not errors, errors
    assert consumer.metrics.last_error  # it noticed, logged and retried
    assert landed_ids(stream_run) == sorted(rows["id"].to_pylist())
    env = {**with_prefix(streamed_build.rebuilt, stream_run.prefix), "FEATUREHOUSE_REDIS_URL": url}
    result = parity_of(stream_run.context(env))
    assert result.ok, result
