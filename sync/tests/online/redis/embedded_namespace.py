"""Run by test_embedded_demo inside `unshare --mount --net` (a machine with no Redis): hides
every redis-server/valkey-server on PATH, brings up `lo` (nothing listens on 6379), then runs
the demo's steps with no Redis URL and SIGKILLs the embedded server between two `get`s.
Prints what it saw as one JSON object; the test asserts on it.

    unshare --mount --net python embedded_namespace.py PROJECT_DIR VIEW KEY...
    unshare --mount python embedded_namespace.py --disk-full FOLDER
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SERVERS = ("redis-server", "valkey-server")
# The suite's shared helpers (online_support) live at the top of the test tree.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def hide_servers() -> list[str]:
    """Bind /dev/null (not executable) over every server binary on PATH, in this namespace."""
    hidden = []
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        for name in SERVERS:
            path = Path(folder) / name
            if path.exists() and str(path) not in hidden:
                subprocess.run(["mount", "--bind", "/dev/null", str(path)], check=True)
                hidden.append(str(path))
    return hidden


def loopback_up() -> None:
    """`ip link set lo up` without iproute2: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = fcntl.ioctl(sock, 0x8913, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack("16sH22x", ifreq)[1]
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH22x", b"lo", flags | 0x1))


def default_port() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return f"error: {exc}"


def featurehouse(project: str, *args: str) -> dict[str, Any]:
    binary = Path(sys.executable).with_name("featurehouse")
    done = subprocess.run(
        [str(binary), *args, "--project-dir", project],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return {"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def wait_dead(pid: int) -> None:
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + 10
    while stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
        if time.monotonic() > deadline:
            raise SystemExit(f"embedded server {pid} survived SIGKILL")
        time.sleep(0.02)


def disk_full(folder: Path) -> dict[str, Any]:
    """The embedded store on a 1 MiB tmpfs: a publish too big for it, then a start on it full."""
    from featurehouse.online import OnlineStore
    from featurehouse.online.redis import embedded
    from online_support import AS_OF, schema, simple_batch

    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], check=True)
    seen: dict[str, Any] = {}
    running = embedded.ensure_running(folder / "online")
    store = OnlineStore.from_url(running.files.url, "fhtest")
    try:
        store.publish(
            schema(), [simple_batch(50_000, tag=1)], as_of=AS_OF, clock="as_of", mode="full",
            watermark=AS_OF, is_latest=True,
        )  # fmt: skip
    except Exception as exc:  # the test asserts on its type and text
        seen["publish_error"] = [type(exc).__name__, str(exc)]
    seen["views_after"] = [state.schema.view for state in store.views()]
    embedded.stop(folder / "online")
    with contextlib.suppress(OSError), (folder / "filler").open("wb") as filler:
        while True:
            filler.write(b"x" * 4096)
            filler.flush()
    try:
        embedded.ensure_running(folder / "full", timeout=5)
        embedded.stop(folder / "full")
    except Exception as exc:
        seen["start_error"] = [type(exc).__name__, str(exc)]
    return seen


def main() -> None:
    if sys.argv[1] == "--disk-full":
        print(json.dumps(disk_full(Path(sys.argv[2]))))
        return
    project, view, *keys = sys.argv[1:]
    loopback_up()
    seen: dict[str, Any] = {"hidden": hide_servers()}
    seen["on_path"] = {name: shutil.which(name) for name in SERVERS}
    seen["port_6379"] = default_port()
    seen["url_env"] = os.environ.get("FEATUREHOUSE_REDIS_URL")
    get = ("get", view, *keys, "--json")
    try:
        seen["sync"] = featurehouse(project, "sync", "--as-of", "2026-05-01", "--no-history")
        seen["get_before"] = featurehouse(project, *get)
        status = featurehouse(project, "online", "status", "--json")
        seen["status"] = json.loads(status["stdout"])
        pid = seen["status"]["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_dead(pid)
        seen["get_after"] = featurehouse(project, *get)
        seen["status_after"] = json.loads(
            featurehouse(project, "online", "status", "--json")["stdout"]
        )
    finally:
        seen["stop"] = featurehouse(project, "online", "stop", "--json")
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
