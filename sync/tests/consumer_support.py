"""Fixtures of the consumer-project tests: the featurehouse wheel built from this checkout, and
fresh virtual environments with it installed (not editable), one per dbt-core version.

A venv reuses the already-installed pinned dependencies of the development venv through a .pth
line (so nothing is downloaded for them); featurehouse itself is a real `pip install` of the
wheel into the new venv, and so is dbt-core (its `dbt` script lands in the venv's bin/). The
dbt-core 1.12.0 venv installs 1.12.0 and what it needs beyond 1.11 (an alpha parser, metricflow,
an older sqlparse) from PyPI into itself, shadowing the development venv's copies.
Loaded by conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PINS = {
    # The default install (constraints.txt).
    "1.11": ["dbt-core==1.11.16"],
    # 1.12.1 and later download a parser binary while building, which fails offline.
    "1.12": ["dbt-core==1.12.0", "dbt-core-experimental-parser==2.0.0a4"],
}
PIP_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class ConsumerVenv:
    """A virtual environment with the featurehouse wheel installed."""

    root: Path
    dbt_version: str

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def executable(self, name: str) -> str:
        return str(self.bin / name)


def _run(command: list[str], what: str) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({' '.join(command)}):\n{done.stdout[-3000:]}{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def featurehouse_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel` of a copy of this checkout (the source tree stays untouched)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    # the C extension built in place by `pip install -e` stays out: the wheel compiles its own
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.so")
    package = Path("sync", "featurehouse")
    shutil.copytree(REPO_ROOT / package, source / package, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    started = time.monotonic()
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(work / "dist"), str(source)],
        "building the featurehouse wheel",
    )  # fmt: skip
    [wheel] = (work / "dist").glob("featurehouse-*.whl")
    print(f"consumer: wheel built in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return wheel


def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def make_venv(root: Path, wheel: Path, dbt_version: str) -> ConsumerVenv:
    """A venv at root: the development venv's packages by .pth, then dbt-core `dbt_version`
    and the featurehouse wheel pip-installed into it."""
    started = time.monotonic()
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], "creating a venv")
    python = root / "bin" / "python"
    purelib = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
             "asking the venv for its site-packages").strip()
    )  # fmt: skip
    (purelib / "_featurehouse_test_reuse.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    dbt = DBT_PINS[dbt_version]
    if dbt_version == "1.11":  # already there by .pth: (re)install only dbt-core, for bin/dbt
        _run([*pip, "--no-deps", "--ignore-installed", *dbt], f"installing {dbt}")
    else:  # 1.12.0 and what it needs beyond the development venv's packages
        _run([*pip, *dbt], f"installing {dbt}")
    _run([*pip, "--no-deps", "--ignore-installed", str(wheel)], "installing the wheel")
    print(
        f"consumer: dbt {dbt_version} venv in {time.monotonic() - started:.1f} s", file=sys.stderr
    )
    return ConsumerVenv(root, dbt_version)


@pytest.fixture(scope="session")
def consumer_venv(
    tmp_path_factory: pytest.TempPathFactory, featurehouse_wheel: Path
) -> Callable[[str], ConsumerVenv]:
    """consumer_venv(dbt version): a venv with the wheel, built on first use per session."""
    built: dict[str, ConsumerVenv] = {}

    def get(version: str) -> ConsumerVenv:
        if version not in built:
            root = tmp_path_factory.mktemp(f"venv-{version}")
            built[version] = make_venv(root, featurehouse_wheel, version)
        return built[version]

    return get
