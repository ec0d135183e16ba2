"""`featurehouse dataset` through CliRunner (JSON summary, text, progress, errors) and once as a
real subprocess; the file it writes equals FeatureStore.get_historical_features."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from cli_process import run_featurehouse
from click.testing import CliRunner, Result
from featurehouse.api import FeatureStore
from featurehouse.cli import cli
from sync_fixtures import REPO_ROOT

# The request shapes test_training renders (SMALL; KNOWN with --as-known-at): cached once.
FEATURES = (
    "feat_customer__orders.v1:count_orders_7d,feat_customer__orders.v1:sum_order_amount_30d,"
    "feat_customer__orders:count_orders_7d"
)
KNOWN = "feat_customer__orders.v1:count_orders_7d,feat_customer__orders:count_orders_7d"


def spine_file(tmp_path: Path) -> Path:
    path = tmp_path / "spine.parquet"
    customers = [1151, 1151, 4, 10**12, None, 4]
    at = [dt.datetime(2026, 4, day, 12) for day in (1, 20, 20, 20, 20, 30)]
    pq.write_table(pa.table({"customer_id": customers, "spine_at": at}), path)
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["dataset", *args], catch_exceptions=False)


def test_dataset_json_and_file(fh_env: dict[str, str], tmp_path: Path) -> None:
    spine, out = spine_file(tmp_path), tmp_path / "train.parquet"
    result = run("--spine", str(spine), "--features", FEATURES, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows"] == 6 and summary["out"] == str(out)
    assert set(summary["match_rate"]) == {"feat_customer__orders.v1", "feat_customer__orders"}
    table = pq.read_table(out)
    for view, rate in summary["match_rate"].items():
        column = view.replace(".", "__") + "__effective_at"
        assert rate == round((6 - table.column(column).null_count) / 6, 6)
        assert 0 < rate < 1
    assert summary["seconds"] > 0 and summary["columns"] == table.column_names
    expected = FeatureStore(project_dir=REPO_ROOT).get_historical_features(
        spine, FEATURES.split(",")
    )
    assert table.equals(expected)
    assert b"featurehouse" in table.schema.metadata
    assert not list(tmp_path.glob(".*.tmp"))
    anyhow = tmp_path / "any.parquet"
    result = run("--spine", str(spine), "-f", FEATURES, "-o", str(anyhow), "--any-order", "-q")
    assert result.exit_code == 0, result.output
    got = pq.read_table(anyhow)
    assert got.schema.equals(table.schema, check_metadata=True)
    keys = [(c, "ascending") for c in table.column_names]
    assert got.sort_by(keys).equals(table.sort_by(keys))


def test_dataset_text_progress_and_errors(fh_env: dict[str, str], tmp_path: Path) -> None:
    spine, out = spine_file(tmp_path), tmp_path / "train.parquet"
    result = run("--spine", str(spine), "-f", FEATURES, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 6 rows" in result.stdout and "feat_customer__orders.v1" in result.stdout
    assert "joining 6 spine rows" in result.stderr and "training set" in result.stderr
    bad = run("--spine", str(spine), "-f", "feat_customer__orders:nope", "-o", str(out), "-q")
    assert bad.exit_code == 1 and bad.stdout == ""
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "no feature 'nope'" in lines[0], bad.stderr
    missing = run("--spine", str(tmp_path / "none.parquet"), "-f", FEATURES, "-o", str(out))
    assert missing.exit_code == 2  # click: the file does not exist


def test_dataset_real_process(fh_env: dict[str, str], tmp_path: Path) -> None:
    spine, out = spine_file(tmp_path), tmp_path / "train.parquet"
    args = ["dataset", "--spine", str(spine), "--features", KNOWN, "--out", str(out)]
    done = run_featurehouse(
        *args, "--as-known-at", "--json", env=fh_env, cwd=REPO_ROOT, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == 6
    metadata = json.loads(pq.read_schema(out).metadata[b"featurehouse"])
    assert metadata["as_known_at"] is True
