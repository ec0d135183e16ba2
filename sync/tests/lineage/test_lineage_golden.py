"""Column lineage of the demo build against hand-reviewed golden trees (sync/tests/golden/demo).

Every feature of every demo feature view version, the point-in-time macro's output models (the
demo's training set and the integration tests' fixtures), and `impact` of every seed column
agreeing with the golden trees.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from featurehouse.lineage import build_lineage, compute_lineage, impact, view_lineage
from featurehouse.lineage.render import tree_text
from featurehouse.project.manifest import load_artifacts
from featurehouse.project.registry import build_registry
from lineage_support import GOLDEN, check_golden, leaves_in, model_trees

if TYPE_CHECKING:
    from conftest import DbtRun

DEMO = GOLDEN / "demo"
INTEGRATION = GOLDEN / "integration_tests"
PIT_OUTPUTS = {
    DEMO: ("ds_customer_will_order_7d",),
    INTEGRATION: ("pit_fixture__training_set", "pit_fixture__training_set_portable"),
}


@pytest.fixture(scope="module")
def demo(demo_build: DbtRun):
    artifacts = load_artifacts(demo_build.target_dir)
    return artifacts, build_registry(artifacts.manifest), compute_lineage(artifacts.manifest)


def demo_views(registry):
    return [v for v in registry.views if v.unique_id.split(".")[2].startswith("feat_")]


def test_every_demo_feature_matches_its_golden_tree(demo) -> None:
    _, registry, lineage = demo
    views = demo_views(registry)
    assert {v.ref for v in views} >= {"feat_customer__orders.v1", "feat_customer__orders.v2"}
    expected_files = set()
    for view in views:
        found = view_lineage(lineage, view)
        for feature in view.features:
            path = DEMO / view.ref / f"{feature.name}.txt"
            expected_files.add(path)
            check_golden(path, tree_text(found.tree(feature.name), f"{view.ref}:{feature.name}"))
            assert not found.unresolved(feature.name), f"{view.ref}:{feature.name}"
    stale = {p for p in DEMO.glob("feat_*/*.txt")} - expected_files
    assert not stale, f"golden files of features that no longer exist: {sorted(stale)}"


def test_rolling_window_macro_resolves_to_seed_columns(demo) -> None:
    """Through the recursive tick CTE and the union-all delta rows, down to raw_orders."""
    _, registry, lineage = demo
    found = view_lineage(lineage, registry.resolve("feat_customer__orders.v2"))
    tree = found.tree("sum_order_amount_30d")
    (amount,) = [i for i in tree.inputs if i.node.column.column == "order_amount"]
    assert amount.roles == ("value",)
    assert [str(s) for s in amount.steps][:4] == [
        "cast double",
        "window sum",
        "aggregate sum",
        "union",
    ]
    roles = {i.node.column.column: i.roles for i in tree.inputs}
    assert "partition by" in roles["customer_id"] and "value" not in roles["customer_id"]
    assert "order by" in roles["ordered_at"] and "value" not in roles["ordered_at"]
    assert set(found.sources("count_orders_30d")) >= {
        "raw_orders.ordered_at",
        "raw_orders.customer_id",
        "raw_orders.status",
        "raw_orders.id",
    }


def test_point_in_time_outputs_match_golden(demo, fixtures_build: DbtRun) -> None:
    _, _, lineage = demo
    fixtures = compute_lineage(load_artifacts(fixtures_build.target_dir).manifest)
    for folder, found in ((DEMO, lineage), (INTEGRATION, fixtures)):
        for label in PIT_OUTPUTS[folder]:
            check_golden(folder / "models" / f"{label}.txt", model_trees(found, label))


def test_impact_of_each_seed_column_is_what_the_golden_trees_say(demo) -> None:
    artifacts, registry, lineage = demo
    views = demo_views(registry)
    by_leaf: dict[str, set[str]] = {}
    for view in views:
        for feature in view.features:
            text = (DEMO / view.ref / f"{feature.name}.txt").read_text()
            for leaf in leaves_in(text):
                by_leaf.setdefault(leaf, set()).add(f"{view.ref}:{feature.name}")
    seeds = [n for n in artifacts.manifest.nodes.values() if n.resource_type == "seed"]
    checked = 0
    demo_refs = {v.ref for v in views}
    for seed in seeds:
        if not seed.original_file_path.startswith("seeds/shop/"):
            continue
        header = Path(seed.file_path).read_text().splitlines()[0].split(",")
        for name in header:
            found = impact(lineage, registry, artifacts.manifest, f"{seed.name}.{name}")
            features = {f"{h.view.ref}:{h.feature}" for h in found.features}
            features = {f for f in features if f.split(":")[0] in demo_refs}
            assert features == by_leaf.get(f"{seed.name}.{name}", set()), f"{seed.name}.{name}"
            checked += 1
    assert checked >= 25


def test_cache_round_trip(demo, demo_build: DbtRun, tmp_path: Path) -> None:
    """Computed once per build, then read back from <target>/featurehouse/lineage/."""
    _, _, lineage = demo
    target = tmp_path / "target"
    shutil.copytree(demo_build.target_dir, target, ignore=shutil.ignore_patterns("run", "compiled"))
    cache = target / "featurehouse" / "lineage"
    shutil.rmtree(cache, ignore_errors=True)
    copied = load_artifacts(target)
    first = build_lineage(copied, cache)
    assert first.columns == lineage.columns
    [path] = cache.glob("*.json")
    stored = json.loads(path.read_text())
    stored["checksum"] = "read-from-cache"
    path.write_text(json.dumps(stored))
    second = build_lineage(copied, cache)
    assert second.checksum == "read-from-cache" and second.columns == first.columns


def test_postgres_build_has_the_same_sources(demo, dbt_build_postgres: DbtRun) -> None:
    """The default__ macro variants and Postgres types: every feature reads the same seeds."""
    _, registry, lineage = demo
    pg = load_artifacts(dbt_build_postgres.target_dir)
    pg_lineage = compute_lineage(pg.manifest)
    pg_registry = build_registry(pg.manifest)
    for view in demo_views(registry):
        ours, theirs = (
            view_lineage(lineage, view),
            view_lineage(pg_lineage, pg_registry.resolve(view.ref)),
        )
        for feature in ours.feature_names():
            assert theirs.sources(feature) == ours.sources(feature), f"{view.ref}:{feature}"
            assert not theirs.unresolved(feature), f"{view.ref}:{feature}"


def test_catalog_json_gives_the_same_lineage(demo, docs_target: Path) -> None:
    """Schemas from catalog.json (after `dbt docs generate`) change nothing."""
    _, _, lineage = demo
    with_catalog = load_artifacts(docs_target)
    assert with_catalog.catalog is not None
    again = compute_lineage(with_catalog.manifest, with_catalog.catalog)
    assert again.columns == lineage.columns
