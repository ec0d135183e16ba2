"""`featurehouse init` and `featurehouse deps`: add the featurehouse dbt package to a project's
packages.yml (idempotently, as text, so other entries and comments stay) and install it.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from featurehouse import __version__
from featurehouse.errors import ConfigError
from featurehouse.project.package import (
    PACKAGE_NAME,
    PACKAGE_PATH_ENV,
    DbtPackageError,
    installed_package,
    package_dir,
)
from featurehouse.project.settings import Project

# dbt renders env_var() in packages.yml. Only `dbt deps` reads the path, so the default is a
# path that cannot exist and says what to do: dbt then reports
# "No dbt_project.yml found at expected path <project>/set FEATUREHOUSE_DBT_PACKAGE or run ...".
UNSET = f"set {PACKAGE_PATH_ENV} or run featurehouse deps"
ENTRY = f"- local: \"{{{{ env_var('{PACKAGE_PATH_ENV}', '{UNSET}') }}}}\""
_COMMENT = (
    "# Featurehouse's dbt package ships inside the featurehouse Python package; `featurehouse\n"
    f"# deps` runs `dbt deps` with {PACKAGE_PATH_ENV} set to its path on this machine."
)
_TOP_KEY = re.compile(r"^[^\s#-][^:]*:")


@dataclass(frozen=True)
class InitResult:
    """What `featurehouse init` did to the project's packages file."""

    path: Path
    changed: bool
    entry: str


def packages_file(project_dir: Path) -> Path:
    """packages.yml, or dependencies.yml when the project keeps its packages there."""
    packages = project_dir / "packages.yml"
    dependencies = project_dir / "dependencies.yml"
    if not packages.exists() and dependencies.exists():
        return dependencies
    return packages


def add_package(project_dir: Path) -> InitResult:
    """Add the featurehouse entry to the packages file unless one is there already."""
    path = packages_file(project_dir)
    text = path.read_text() if path.exists() else ""
    entries = _entries(path, text)
    if any(_is_featurehouse(entry) for entry in entries):
        return InitResult(path, False, ENTRY)
    new_text = _with_entry(path, text)
    if _entries(path, new_text) != [*entries, yaml.safe_load(ENTRY)[0]]:
        raise ConfigError(
            f"{path}: cannot add featurehouse safely to its `packages:` list; add this entry "
            f"yourself: {ENTRY}"
        )
    temporary = path.with_name(f".{path.name}.featurehouse.tmp")
    temporary.write_text(new_text)
    temporary.replace(path)
    return InitResult(path, True, ENTRY)


def has_package(project_dir: Path) -> bool:
    """True when the packages file lists a featurehouse package."""
    path = packages_file(project_dir)
    text = path.read_text() if path.exists() else ""
    return any(_is_featurehouse(entry) for entry in _entries(path, text))


def _entries(path: Path, text: str) -> list[Any]:
    try:
        doc = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}); fix it, then run init again") from exc
    if doc is None:
        doc = {}
    if not isinstance(doc, dict) or not isinstance(doc.get("packages") or [], list):
        raise ConfigError(f"{path}: expected `packages:` to be a list; fix it, then run init")
    return list(doc.get("packages") or [])


def _is_featurehouse(entry: Any) -> bool:
    """A local, git or hub entry that names the featurehouse package."""
    if not isinstance(entry, dict):
        return False
    where = " ".join(str(entry.get(k, "")) for k in ("local", "git", "package", "tarball"))
    return PACKAGE_NAME in where.lower() or PACKAGE_PATH_ENV in where


def _with_entry(path: Path, text: str) -> str:
    """text with the entry appended to its `packages:` block (created when missing)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^packages\s*:", line)), None)
    if start is None:
        block = ["packages:", *_indented("  ")]
        return "\n".join([*lines, *([""] if lines and lines[-1].strip() else []), *block]) + "\n"
    head = lines[start].split("#", 1)[0]
    if head.split(":", 1)[1].strip() not in ("", "[]"):
        raise ConfigError(
            f"{path}: `packages:` is written on one line; rewrite it as a block list or add "
            f"this entry yourself: {ENTRY}"
        )
    end = start + 1
    while end < len(lines) and not _TOP_KEY.match(lines[end]):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    block = lines[start + 1 : end]
    items = [line for line in block if line.lstrip().startswith("- ")]
    indent = items[0][: len(items[0]) - len(items[0].lstrip())] if items else "  "
    head_line = "packages:" if head.strip().endswith("[]") else lines[start]
    return "\n".join([*lines[:start], head_line, *block, *_indented(indent), *lines[end:]]) + "\n"


def _indented(indent: str) -> list[str]:
    return [f"{indent}{line}" for line in [*_COMMENT.splitlines(), ENTRY]]


def next_steps() -> list[str]:
    """The commands that come after `featurehouse init`, for people."""
    return [
        "featurehouse deps              # dbt deps, with the package's path on this machine",
        "featurehouse init --view MODEL # scaffold a feature view from one of your models",
        "dbt build                      # builds your models and the feature view",
        "featurehouse sync              # publishes the latest feature values to Redis",
        "featurehouse get VIEW KEY      # reads them back",
    ]


def run_deps(project: Project, dbt_args: list[str], dbt: str) -> Path:
    """`dbt deps` in the project with FEATUREHOUSE_DBT_PACKAGE set to the package this
    featurehouse carries; returns the installed package's path after checking its version."""
    if not has_package(project.project_dir):
        raise ConfigError(
            f"{packages_file(project.project_dir)} does not list the featurehouse dbt package: "
            "run `featurehouse init` first"
        )
    env = {**project.env, PACKAGE_PATH_ENV: str(package_dir())}
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    command = [dbt, "deps", "--project-dir", str(project.project_dir), *dbt_args]
    done = subprocess.run(command, cwd=project.project_dir, env=env, check=False)
    if done.returncode != 0:
        raise ConfigError(f"`dbt deps` failed in {project.project_dir} (exit {done.returncode})")
    installed = installed_package(project)
    if installed is None or installed.version != __version__:
        found = "nothing" if installed is None else f"version {installed.version}"
        raise DbtPackageError(
            f"`dbt deps` installed {found} as featurehouse under {project.project_dir}, not "
            f"the featurehouse dbt package {__version__}: check the featurehouse entry of "
            f"{packages_file(project.project_dir).name}"
        )
    return installed.path
