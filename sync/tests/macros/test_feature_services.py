"""Feature services are checked before `dbt build` runs a node (the package's on-run-start
hook): each wrong declaration fails the run naming its exposure; a right one passes and
Python reads it from the manifest. Cases on a copy of the mini fixture project."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from featurehouse.errors import RegistryError
from featurehouse.project import render
from featurehouse.project.manifest import load_manifest
from featurehouse.project.package import package_dir
from featurehouse.project.registry import build_registry
from featurehouse.project.services import load_services
from sync_fixtures import MINI_DIR, fh_environment

GOOD = """
  - name: fine_model
    type: ml
    owner: {name: Risk}
    depends_on:
      - ref('feat_customer__orders', v=1)
      - ref('feat_country__orders')
    config:
      meta:
        feature_service:
          features: [feat_customer__orders.v1:count_orders_lifetime, feat_country__orders:*]
          logging: {sample_rate: 0.5}
"""

# exposure name -> (its depends_on, its features, another key, what the error must say)
CASES = {
    "missing_view": (
        ["ref('feat_country__orders')"],
        "[feat_nope:count]",
        "",
        "feat_nope:count: no feature view named 'feat_nope' (feature views: "
        "feat_country__orders, feat_customer__orders)",
    ),
    "missing_version": (
        ["ref('feat_customer__orders', v=1)"],
        "[feat_customer__orders.v3:count_orders_lifetime]",
        "",
        "feat_customer__orders has no version 3 (versions: v1, v2)",
    ),
    "missing_feature": (
        ["ref('feat_customer__orders', v=1)"],
        "[feat_customer__orders@v1:last_order_status]",
        "",
        "feat_customer__orders.v1 has no feature 'last_order_status' (features: "
        "count_orders_lifetime)",
    ),
    "duplicate_name": (
        ["ref('feat_customer__orders', v=1)", "ref('feat_customer__orders', v=2)"],
        "[feat_customer__orders.v1:count_orders_lifetime, feat_customer__orders:*]",
        "",
        "feat_customer__orders:count_orders_lifetime and "
        "feat_customer__orders.v1:count_orders_lifetime both give the column "
        "'count_orders_lifetime'",
    ),
    "missing_dependency": (
        ["ref('feat_country__orders')"],
        "[feat_customer__orders.v2:count_orders_lifetime]",
        "",
        "feat_customer__orders.v2 is not in depends_on: add ref('feat_customer__orders', v=2)",
    ),
    "not_ml": (
        ["ref('feat_country__orders')"],
        "[feat_country__orders:*]",
        "",
        "is of type 'dashboard': a feature service is an exposure of `type: ml`",
    ),
    "bad_sample_rate": (
        ["ref('feat_country__orders')"],
        "[feat_country__orders:*]",
        "logging: {sample_rate: 2}",
        "meta.feature_service.logging.sample_rate must be a number in (0, 1]",
    ),
}


def _exposure(name: str, depends_on: list[str], features: str, extra: str) -> str:
    kind = "dashboard" if name == "not_ml" else "ml"
    listed = "".join(f"\n      - {ref}" for ref in depends_on)
    return f"""
  - name: {name}
    type: {kind}
    owner: {{name: Risk}}
    depends_on:{listed}
    config: {{meta: {{feature_service: {{features: {features}, {extra or "x: 1"}}}}}}}
"""


def _project(tmp_path: Path, exposures: str) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "mini"
    shutil.copytree(MINI_DIR, root, ignore=shutil.ignore_patterns("dbt_packages", "target"))
    shutil.copytree(package_dir(), root / "dbt_packages" / "featurehouse")
    (root / "models" / "features" / "_services.yml").write_text("exposures:" + exposures)
    env = fh_environment(tmp_path / "target", tmp_path / "mini.duckdb", "unused", root)
    return root, env


def _dbt(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [render.dbt_executable(), *args], cwd=root, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip


def test_each_wrong_service_fails_the_build_naming_its_exposure(tmp_path: Path) -> None:
    exposures = GOOD + "".join(_exposure(n, *case[:3]) for n, case in CASES.items())
    root, env = _project(tmp_path, exposures)
    done = _dbt(root, env, "build", "--select", "feat_country__orders")
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode != 0, output[-2000:]
    assert f"featurehouse: {len(CASES)} feature service problems" in output
    path = "models/features/_services.yml"
    for name, (*_, expected) in CASES.items():
        assert f"exposure {name} ({path}): " in output, name
        assert expected in output, (name, output[-3000:])
    assert "fine_model" not in output
    assert "OK created" not in output  # no node ran

    # Python reads the manifest dbt wrote while parsing; a wrong service fails naming it.
    manifest = load_manifest(tmp_path / "target" / "manifest.json")
    registry = build_registry(manifest)
    with pytest.raises(
        RegistryError, match=r"feature service missing_feature \(models/.*has no feature"
    ):
        load_services(manifest, registry)


def test_a_right_service_passes_and_python_reads_it(tmp_path: Path) -> None:
    root, env = _project(tmp_path, GOOD)
    done = _dbt(root, env, "build")
    assert done.returncode == 0, done.stdout[-3000:]
    manifest = load_manifest(tmp_path / "target" / "manifest.json")
    [service] = load_services(manifest, build_registry(manifest))
    assert service.name == "fine_model"
    assert service.refs.refs == [
        "feat_customer__orders.v1:count_orders_lifetime",
        "feat_country__orders:last_order_amount",
    ]
    assert [v.ref for v in service.views] == [
        "feat_customer__orders.v1",
        "feat_country__orders.v1",
    ]
    assert service.refs.columns() == ["count_orders_lifetime", "last_order_amount"]
    assert service.sample_rate == 0.5 and service.owner == "Risk"


def test_two_services_of_one_name_fail_dbt_itself(tmp_path: Path) -> None:
    root, env = _project(tmp_path, GOOD)
    (root / "models" / "other.yml").write_text("exposures:" + GOOD)
    done = _dbt(root, env, "parse")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "exposure.featurehouse_mini.fine_model" in output
    assert "models/other.yml" in output
