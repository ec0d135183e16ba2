"""Feast's own SDK reads through `featurehouse serve` unchanged: Feast's FeatureStore with its
remote online store pointed at our server, for string references, `fv@vN:feature` pins and a
feature service, answers what our Python API answers. Feast 0.67 pins redis<8 (ours is 8), so
it lives in a venv of its own under .cache/, made once from feast_requirements.txt (exact pins,
no resolver, only the client side) and reused while that file is unchanged."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from featurehouse.api import FeatureStore
from server_support import ServerProcess, serve
from sync_fixtures import REPO_ROOT

FEAST_VERSION = "0.67.0"
REQUIREMENTS = Path(__file__).with_name("feast_requirements.txt")
_PINS = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:8]
VENV = REPO_ROOT / ".cache" / f"feast-{FEAST_VERSION}-{_PINS}"
PROBE = Path(__file__).with_name("feast_probe.py")
ROWS = [{"customer_id": 1151}, {"customer_id": 987654}]
STATUS = {"present": 1, "not_found": 3, "expired": 4}  # Feast's FieldStatus numbers
REQUESTS: dict[str, dict[str, Any]] = {
    "refs": {
        "features": [
            "feat_customer__orders:count_orders_7d",
            "feat_customer__activity:count_sessions_7d",
        ],
        "full": False,
    },
    "pinned": {
        "features": [
            "feat_customer__orders@v1:days_since_last_order",
            "feat_customer__orders:count_orders_1d",
        ],
        "full": True,
    },
    "service": {"features": "churn_model", "full": False},
}


@pytest.fixture(scope="session")
def feast_python() -> Path:
    """The Feast SDK's Python: a venv under .cache/, made once (README, Tests: how long)."""
    python = VENV / "bin" / "python"
    check = [str(python), "-c", f"import feast; assert feast.__version__ == '{FEAST_VERSION}'"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    install = ["install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    done = subprocess.run(
        [str(python), "-m", "pip", *install, "-r", str(REQUIREMENTS)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0 or subprocess.run(check, capture_output=True).returncode != 0:
        pytest.fail(f"the Feast venv from {REQUIREMENTS.name} failed:\n{done.stdout}{done.stderr}")
    return python


@pytest.fixture(scope="module")
def feast_server(
    synced: Any, base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("serve_feast")
    url, prefix = base_env["FEATUREHOUSE_REDIS_URL"], base_env["FEATUREHOUSE_REDIS_PREFIX"]
    with serve(url, prefix, workdir, "--no-usage") as server:
        yield server


def _feast_answers(python: Path, server: ServerProcess, repo: Path) -> dict[str, Any]:
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(
        "project: featurehouse_compat\nregistry: registry.db\nprovider: local\n"
        f"online_store:\n  type: remote\n  path: {server.url}\n"
        "entity_key_serialization_version: 3\n"
    )
    done = subprocess.run(
        [str(python), str(PROBE), str(repo), json.dumps(REQUESTS)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ours(name: str) -> tuple[dict[str, list[Any]], dict[str, list[int]]]:
    """Our API's answer to the same request, in Feast's names (keys, then features)."""
    store = FeatureStore(project_dir=REPO_ROOT)
    request = REQUESTS[name]
    if isinstance(request["features"], str):
        record = store.feature_service(request["features"])
        refs, names = record.refs.refs, record.refs.columns()
    else:
        refs = [r.replace("@v", ".v") for r in request["features"]]
        names = [
            r.replace(":", "__") if request["full"] else r.split(":")[1]
            for r in request["features"]
        ]
    answer = store.get_online_features(refs, ROWS, full_feature_names=request["full"]).to_dict()
    plain = store.get_online_features(refs, ROWS, full_feature_names=True).to_dict()
    full = [r.replace("@v", ".v").replace(".v", "__v").replace(":", "__") for r in refs]
    columns = {"customer_id": answer["customer_id"]}
    statuses = {"customer_id": [1, 1]}
    for name, column in zip(names, full, strict=True):
        columns[name] = plain[column]
        statuses[name] = [STATUS[s] for s in plain[f"{column}__status"]]
    return columns, statuses


def test_feast_sdk_reads_through_our_server(
    feast_python: Path, feast_server: ServerProcess, fh_env: dict[str, str], tmp_path: Path
) -> None:
    answers = _feast_answers(feast_python, feast_server, tmp_path / "feast_repo")
    for name in REQUESTS:
        columns, statuses = _ours(name)
        assert answers[name]["columns"] == columns, name
        assert answers[name]["statuses"] == statuses, name
    assert list(answers["pinned"]["columns"]) == [
        "customer_id",
        "feat_customer__orders@v1__days_since_last_order",
        "feat_customer__orders__count_orders_1d",
    ]
    assert len(answers["service"]["columns"]) == 13
