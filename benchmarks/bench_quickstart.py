"""`python -m benchmarks quickstart`: the time from a fresh clone to a served value (`make
setup`, `make demo`, one `featurehouse get`), with no Redis URL (the demo's sync starts the
embedded online store) and with a Redis already running (FEATUREHOUSE_REDIS_URL); then the
cost of the embedded start: `featurehouse get` with the server stopped against running.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GET = ("get", "feat_customer__orders", "1151", "--features", "count_orders_30d")


def timed(cmd: list[str], cwd: Path, env: Mapping[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=dict(env), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{done.stdout[-2000:]}{done.stderr}")
    return time.perf_counter() - started


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEATUREHOUSE_", "DBT_"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if "/.venv/" not in p
    )
    return {**env, **extra}


def from_clone(root: Path, name: str, env: Mapping[str, str]) -> dict[str, float]:
    """Seconds per step from `git clone` to the first served value."""
    clone = root / name
    branch = subprocess.run(
        ["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    steps = {"clone": timed(["git", "clone", "-q", "-b", branch, str(REPO), str(clone)], root, env)}
    steps["make setup"] = timed(["make", "setup"], clone, env)
    steps["make demo"] = timed(["make", "demo"], clone, env)
    steps["featurehouse get"] = timed([str(clone / ".venv/bin/featurehouse"), *GET], clone, env)
    steps["total"] = sum(steps.values())
    return steps


def cold_and_warm(clone: Path, env: Mapping[str, str], runs: int) -> tuple[float, float]:
    """Median seconds of `featurehouse get` with the embedded server stopped, and running."""
    binary = str(clone / ".venv/bin/featurehouse")
    cold, warm = [], []
    for _ in range(runs):
        timed([binary, "online", "stop"], clone, env)
        cold.append(timed([binary, *GET], clone, env))
        warm.append(timed([binary, *GET], clone, env))
    timed([binary, "online", "stop"], clone, env)
    return statistics.median(cold), statistics.median(warm)


def own_redis(root: Path) -> tuple[str, int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    subprocess.run(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "yes", "--dir", str(root),
         "--pidfile", str(root / "redis.pid")],
        check=True,
    )  # fmt: skip
    time.sleep(0.5)
    return f"redis://127.0.0.1:{port}/0", int((root / "redis.pid").read_text())


def show(label: str, steps: Mapping[str, float]) -> None:
    print(f"{label}:")
    for step, seconds in steps.items():
        print(f"  {step:<18} {seconds:7.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks quickstart", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="cold/warm get pairs (median)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fh-quickstart-") as tmp:
        root = Path(tmp)
        embedded = from_clone(root, "embedded", clean_env())
        show(
            "fresh clone -> served value, no Redis URL (embedded store started by the sync)",
            embedded,
        )
        cold, warm = cold_and_warm(root / "embedded", clean_env(), args.runs)
        url, pid = own_redis(root)
        try:
            redis_run = from_clone(root, "redis", clean_env(FEATUREHOUSE_REDIS_URL=url))
        finally:
            os.kill(pid, 15)
        show(f"fresh clone -> served value, Redis already running ({url})", redis_run)
        print(f"featurehouse get, median of {args.runs}: embedded server stopped (the get starts "
              f"it) {cold:.2f} s, already running {warm:.2f} s")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
