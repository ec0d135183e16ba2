"""The Airflow and Dagster examples' virtual environments, under .cache/orchestrators/<name>:
never in the core install. Each installs its pinned list (dev/orchestrators/<name>.txt) with
--no-deps (no resolution), wheels only and without compiling bytecode; the Dagster one reuses
the development venv (dbt, featurehouse's dependencies) through a .pth line. A venv is rebuilt
when its list changes. `python dev/orchestrator_venvs.py [airflow|dagster]` builds them ahead of
`make test`, which builds them on first use otherwise; both print how long the install took.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "dev" / "orchestrators"
VENVS = ROOT / ".cache" / "orchestrators"
REUSES_DEV_VENV = {"airflow": False, "dagster": True}
TIMEOUT_SECONDS = 1800


def venv(name: str) -> Path:
    """The venv of `name` (airflow, dagster), built if missing or out of date."""
    root = VENVS / name
    pins = PINS / f"{name}.txt"
    reuse = sysconfig.get_path("purelib") if REUSES_DEV_VENV[name] else ""
    wanted = hashlib.sha256(pins.read_bytes() + sys.version.encode() + reuse.encode()).hexdigest()
    stamp = root / ".installed"
    VENVS.mkdir(parents=True, exist_ok=True)
    with (VENVS / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted:
            return root
        started = time.monotonic()
        shutil.rmtree(root, ignore_errors=True)
        _run([sys.executable, "-m", "venv", "--without-pip", str(root)])
        python = root / "bin" / "python"
        if reuse:
            purelib = _run(
                [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
            )
            (Path(purelib.strip()) / "_featurehouse_dev_venv.pth").write_text(reuse + "\n")
        _run(
            [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
             "--disable-pip-version-check", "--no-deps", "--no-compile", "--only-binary=:all:",
             "-r", str(pins)]
        )  # fmt: skip
        stamp.write_text(wanted)
        seconds = time.monotonic() - started
        print(f"orchestrators: {name} venv installed in {seconds:.1f} s", file=sys.stderr)
        return root


def _run(command: list[str]) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:6])} ... failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


if __name__ == "__main__":
    for chosen in sys.argv[1:] or list(REUSES_DEV_VENV):
        print(venv(chosen))
