"""The `featurehouse` command as a real process (the console script beside this Python)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

FEATUREHOUSE = str(Path(sys.executable).with_name("featurehouse"))


def run_featurehouse(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `featurehouse <args>` to completion; its output as text (never raises on exit code)."""
    return subprocess.run(
        [FEATUREHOUSE, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_featurehouse(
    *args: str, env: Mapping[str, str], cwd: Path | None = None, **popen: object
) -> subprocess.Popen[str]:
    """Start `featurehouse <args>` (a server); stdout and stderr piped unless given."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(  # type: ignore[call-overload]
        [FEATUREHOUSE, *args], cwd=cwd, env=dict(env), text=True, **popen
    )
