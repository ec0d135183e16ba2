"""The featurehouse dbt package this Python package carries, and the check that a dbt project
installed (and built its manifest with) the same version as the Python package reading it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from featurehouse import __version__
from featurehouse.errors import ConfigError
from featurehouse.project.manifest import PACKAGE_NAME, Manifest
from featurehouse.project.settings import Project

# packages.yml's `local:` entry reads the package's path on this machine from here.
PACKAGE_PATH_ENV = "FEATUREHOUSE_DBT_PACKAGE"


class DbtPackageError(ConfigError):
    """The project's featurehouse dbt package is missing or another version."""


@dataclass(frozen=True)
class InstalledPackage:
    """The featurehouse package a project's `dbt deps` installed."""

    path: Path
    version: str | None


def package_dir() -> Path:
    """The dbt package inside this Python package (site-packages, or the source tree)."""
    return Path(__file__).resolve().parents[1] / "dbt_package"


def package_version(root: Path) -> str | None:
    """`version:` of the dbt project at root, or None when there is none."""
    try:
        doc = yaml.safe_load((root / "dbt_project.yml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    version = doc.get("version") if isinstance(doc, dict) else None
    return None if version is None else str(version)


def installed_package(project: Project) -> InstalledPackage | None:
    """The featurehouse package under the project's packages-install-path, if any."""
    try:
        doc = yaml.safe_load((project.project_dir / "dbt_project.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        doc = {}
    install_path = Path(str(doc.get("packages-install-path") or "dbt_packages"))
    if not install_path.is_absolute():
        install_path = project.project_dir / install_path
    path = install_path / PACKAGE_NAME
    if not (path / "dbt_project.yml").exists():
        return None
    return InstalledPackage(path, package_version(path))


def check_package_version(project: Project, manifest: Manifest) -> None:
    """Raise DbtPackageError naming both versions and the fix when the project's installed
    featurehouse dbt package, or the one its manifest was built with, is not this version.
    A project without the package passes: commands that need its macros say so."""
    installed = installed_package(project)
    if installed is not None and installed.version != __version__:
        raise DbtPackageError(
            f"{installed.path} is the featurehouse dbt package {installed.version}, but the "
            f"featurehouse Python package is {__version__}: run `featurehouse deps` in "
            f"{project.project_dir} to install the matching dbt package (or install "
            f"featurehouse=={installed.version}), then `dbt build`"
        )
    built = manifest.package_version  # read with the manifest: not parsed a second time
    if built is not None and built != __version__:
        raise DbtPackageError(
            f"{manifest.path} was built with the featurehouse dbt package {built}, but the "
            f"featurehouse Python package is {__version__}: run `featurehouse deps`, then "
            "`dbt build`, so the warehouse and the manifest come from this version"
        )
