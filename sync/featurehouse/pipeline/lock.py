"""One `featurehouse run` at a time per project: an exclusive file lock in the target dir,
whose file says who holds it. The operating system releases it when the holder dies."""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from featurehouse.errors import FeaturehouseError

POLL_SECONDS = 0.5


class RunLocked(FeaturehouseError):
    """Another run of the same project holds the lock."""


def lock_path(target_dir: Path) -> Path:
    return target_dir / "featurehouse" / "run.lock"


def holder(path: Path) -> dict[str, Any]:
    """What the lock file says about its holder (empty if unreadable)."""
    try:
        found = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def describe(found: Mapping[str, Any]) -> str:
    if not found:
        return "an unknown process"
    return (
        f"pid {found.get('pid')} on {found.get('host')} (user {found.get('user')}), run "
        f"{found.get('run_id')} started {found.get('started_at')}: {found.get('command')}"
    )


@contextlib.contextmanager
def hold(target_dir: Path, run_id: str, command: str, wait: float = 0.0) -> Iterator[Path]:
    """Hold the project's run lock for the block; wait up to `wait` seconds for it, then
    raise RunLocked naming the holder."""
    path = lock_path(target_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        _acquire(handle, path, wait)
        me = {
            "pid": os.getpid(), "host": socket.gethostname(), "user": _user(),
            "run_id": run_id, "command": command,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }  # fmt: skip
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(me))
        handle.flush()
        try:
            yield path
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
    finally:
        handle.close()  # closing releases the lock


def _acquire(handle: Any, path: Path, wait: float) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait:g}s" if wait else ""
                raise RunLocked(
                    f"another featurehouse run of this project holds {path}{waited}: "
                    f"{describe(holder(path))}; wait for it to finish, or pass --wait SECONDS"
                ) from None
            time.sleep(POLL_SECONDS)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def held_by(target_dir: Path) -> dict[str, Any] | None:
    """The holder of the project's run lock, or None when no run holds it."""
    path = lock_path(target_dir)
    if not path.exists():
        return None
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return holder(path)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
