"""`featurehouse lineage` and `impact` through CliRunner and a real process; lineage stored in
Redis by `featurehouse sync` and returned by `describe` and the Python API without a project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_process import run_featurehouse
from click.testing import CliRunner, Result
from featurehouse.api import FeatureStore
from featurehouse.api.context import Context
from featurehouse.cli import cli
from lineage_support import GOLDEN
from sync_fixtures import REPO_ROOT

V2 = "feat_customer__orders.v2"
GOLDEN_30D = GOLDEN / "demo" / V2 / "count_orders_30d.txt"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_lineage_text_is_the_golden_tree(fh_env: dict[str, str]) -> None:
    result = run("lineage", f"{V2}:count_orders_30d")
    assert result.exit_code == 0, result.output
    assert result.stdout == GOLDEN_30D.read_text()
    whole = run("lineage", "feat_customer__orders")  # latest version, every feature
    assert whole.stdout.count(f"{V2}:") == 10


def test_lineage_json_mermaid_dot_and_bad_usage(fh_env: dict[str, str]) -> None:
    data = json.loads(run("lineage", f"{V2}:sum_order_amount_30d", "--json").stdout)
    [feature] = data["features"]
    assert "raw_order_items.unit_price" in feature["sources"]
    top = {i["column"]: i for i in feature["tree"]["inputs"]}
    assert top["int_orders_totaled.order_amount"]["roles"] == ["value"]
    assert "partition by" in top["int_orders_totaled.customer_id"]["roles"]
    mermaid = run("lineage", f"{V2}:sum_order_amount_30d", "--mermaid").stdout
    assert mermaid.startswith("flowchart LR") and "-.->|" in mermaid and "-->|" in mermaid
    dot = run("lineage", f"{V2}:sum_order_amount_30d", "--dot").stdout
    assert dot.startswith("digraph lineage {") and "style=dashed" in dot
    both = CliRunner().invoke(cli, ["lineage", V2, "--json", "--dot"])
    assert both.exit_code == 2
    bad = CliRunner().invoke(cli, ["lineage", f"{V2}:nope"])
    assert bad.exit_code == 1 and "has no feature 'nope'" in bad.stderr


def test_impact_text_and_json(fh_env: dict[str, str], synced: Any) -> None:
    text = run("impact", "raw_orders.status").stdout
    assert f"{V2}:count_orders_30d" in text and "filter" in text
    assert "metadata" in text and "published: generation" in text
    data = json.loads(run("impact", "raw_order_items.unit_price", "--json").stdout)
    features = {(f["view"], f["feature"]) for f in data["features"]}
    assert (V2, "sum_order_amount_30d") in features
    assert (V2, "count_orders_30d") not in features  # a count never reads the price
    online = {o["view"]: o for o in data["online"]}
    assert online[V2]["published"] and online[V2]["meta_key"].endswith(
        "view:feat_customer__orders:v2"
    )
    unknown = CliRunner().invoke(cli, ["impact", "raw_nothing.x"])
    assert unknown.exit_code == 1 and "no model, seed or source named" in unknown.stderr
    no_column = CliRunner().invoke(cli, ["impact", "raw_orders.nope"])
    assert no_column.exit_code == 1 and "has no column 'nope'" in no_column.stderr


def test_sync_stores_lineage_that_describe_and_api_return_without_project(
    fh_env: dict[str, str], synced: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = next(
        s
        for s in Context(env=fh_env, project_dir=REPO_ROOT).store.views()
        if (s.schema.view, s.schema.version) == ("feat_customer__orders", 2)
    )
    stored = state.schema.extra["lineage"]
    assert stored["view"] == V2 and "count_orders_30d" in stored["features"]
    monkeypatch.chdir(tmp_path)  # no dbt project from here on
    described = json.loads(run("describe", V2, "--json").stdout)
    assert described["lineage"]["from"] == "redis"
    item = described["lineage"]["features"]["count_orders_30d"]
    assert "raw_orders.status" in item["sources"] and not item["unresolved"]
    text = run("describe", V2).stdout
    assert "count_orders_30d <- raw_order_items.order_id" in text
    tree = run("lineage", f"{V2}:count_orders_30d")
    assert tree.stdout == GOLDEN_30D.read_text()  # the same tree, from Redis alone
    api = FeatureStore()
    assert api.describe(V2)["lineage"]["features"]["count_orders_30d"]["sources"]
    assert api.lineage(f"{V2}:count_orders_30d")["features"][0]["tree"]["column"] == (
        f"{V2}.count_orders_30d"
    )


def test_real_subprocess_lineage_json(fh_env: dict[str, str]) -> None:
    ref = "feat_product__popularity:conversion_rate_7d"
    done = run_featurehouse("lineage", ref, "--json", env=fh_env)
    assert done.returncode == 0, done.stderr
    sources = json.loads(done.stdout)["features"][0]["sources"]
    assert "raw_order_items.quantity" in sources and "raw_page_views.event_type" in sources
