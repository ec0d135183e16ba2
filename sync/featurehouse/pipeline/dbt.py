"""dbt as a process for a run: `dbt build`, `dbt ls` (dry runs) and `dbt source freshness`,
with their log lines passed on as progress. Results are read from dbt's own artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featurehouse.errors import FeaturehouseError, ManifestError
from featurehouse.project.render import dbt_executable
from featurehouse.project.settings import Project, Target

Lines = Callable[[str], None]
TIMEOUT_SECONDS = 6 * 3600


class DbtError(FeaturehouseError):
    """dbt could not run at all (a parse or connection error): no results to gate on."""


@dataclass(frozen=True)
class DbtCall:
    """One finished dbt invocation."""

    command: tuple[str, ...]
    returncode: int  # 0 ok, 1 some node failed (results written), 2 dbt itself failed
    seconds: float
    output: tuple[str, ...]  # its last lines

    def error_line(self) -> str:
        """The line of dbt's output that says what went wrong."""
        lines = [line.strip() for line in self.output if line.strip()]
        for line in lines:
            if "Error" in line or "error" in line.split(":")[0]:
                return line
        return lines[-1] if lines else "no output"


def selectors(refs: Sequence[str]) -> list[str]:
    """`--select` values for dbt: each view (or `view.vN`), everything upstream (its inputs)
    and downstream (the training sets built on it)."""
    return [f"+{ref.strip()}+" for ref in refs]


def build(
    project: Project,
    target: Target,
    refs: Sequence[str],
    build_vars: Mapping[str, Any],
    lines: Lines | None = None,
) -> DbtCall:
    """`dbt build` of the selection (all of the project when `refs` is empty) into the
    project's target dir, where run_results.json then says what passed."""
    args = ["build", *select_args(refs), *vars_args(build_vars)]
    return run(project, target, args, lines)


def list_nodes(
    project: Project, target: Target, refs: Sequence[str], build_vars: Mapping[str, Any]
) -> list[str]:
    """What `dbt build` of the selection would run (`dbt ls`), as dbt names the nodes."""
    args = ["ls", "--quiet", "--output", "name", *select_args(refs), *vars_args(build_vars)]
    args += ["--resource-type", "model", "seed", "snapshot", "test", "unit_test"]
    call = run(project, target, args, None)
    if call.returncode != 0:
        raise DbtError(f"`dbt ls` failed: {call.error_line()}")
    return [line.strip() for line in call.output if line.strip()]


def freshness(
    project: Project,
    target: Target,
    sources: Sequence[str],
    build_vars: Mapping[str, Any],
    lines: Lines | None = None,
) -> dict[str, str]:
    """`dbt source freshness` of `sources` (unique ids) into Featurehouse's own target dir
    (the build's artifacts stay intact); unique id -> status (pass, warn, error, runtime
    error)."""
    out = project.cache_dir / "freshness"
    names = [f"source:{'.'.join(uid.split('.')[2:])}" for uid in sources]
    args = ["source", "freshness", "--select", *names, *vars_args(build_vars)]
    args += ["--target-path", str(out)]
    call = run(project, target, args, lines)
    path = out / "sources.json"
    if call.returncode == 2 or not path.exists():
        raise DbtError(f"`dbt source freshness` failed: {call.error_line()}")
    try:
        results = json.loads(path.read_text()).get("results", [])
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: cannot read dbt artifact ({exc})") from exc
    return {r["unique_id"]: str(r.get("status", "")) for r in results}


def run(project: Project, target: Target, args: Sequence[str], lines: Lines | None) -> DbtCall:
    """`dbt <args>` in the project against `target`; its output lines go to `lines`."""
    command = [
        dbt_executable(), *args, "--project-dir", str(project.project_dir),
        "--profiles-dir", str(project.profiles_dir), "--target", target.name,
    ]  # fmt: skip
    env = {**(project.env or os.environ), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    started = time.monotonic()
    kept: list[str] = []
    try:
        with subprocess.Popen(
            command, cwd=project.project_dir, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1,
        ) as process:  # fmt: skip
            assert process.stdout is not None
            for line in process.stdout:
                kept.append(line.rstrip("\n"))
                del kept[:-2000]
                if lines is not None:
                    lines(line.rstrip("\n"))
            returncode = process.wait(timeout=TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DbtError(f"cannot run `dbt {args[0]}` ({exc})") from exc
    return DbtCall(tuple(command), returncode, time.monotonic() - started, tuple(kept))


def select_args(refs: Sequence[str]) -> list[str]:
    return ["--select", *selectors(refs)] if refs else []


def vars_args(build_vars: Mapping[str, Any]) -> list[str]:
    return ["--vars", json.dumps(dict(build_vars), default=str)] if build_vars else []


def artifacts_written_after(path: Path, started: float) -> bool:
    """Whether dbt wrote `path` during this invocation (started: a time.time())."""
    return path.exists() and path.stat().st_mtime >= started - 1
