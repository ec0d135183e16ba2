"""Benchmark column lineage: the demo project after manifest load, and 200 generated views.

The demo needs a built target dir (compiled SQL in manifest.json): `--target-dir`, else
$DBT_TARGET_PATH, else ./target; without one it runs `dbt build` into a temp dir first.
The generated project repeats the demo's compiled SQL (staging, intermediate and the
rolling-window feature view) under new names: N/10 seeds, N/10 staging and intermediate
models, N feature views.

    python benchmarks/bench_lineage.py
    python benchmarks/bench_lineage.py --views 200 --repeat 3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from featurehouse.lineage import compute_lineage, view_lineage
from featurehouse.project.manifest import Manifest, Node, load_artifacts
from featurehouse.project.registry import build_registry

PROJECT_DIR = Path(__file__).resolve().parent.parent

TEMPLATES = ("stg_shop__orders", "int_orders_totaled", "feat_customer__orders.v2")


def _target_dir(given: str | None) -> Path:
    for candidate in (given, os.environ.get("DBT_TARGET_PATH"), str(PROJECT_DIR / "target")):
        if candidate and (Path(candidate) / "manifest.json").exists():
            manifest = (Path(candidate) / "manifest.json").read_text()
            if '"compiled_code"' in manifest:
                return Path(candidate)
    workdir = Path(tempfile.mkdtemp(prefix="bench_lineage_"))
    print(f"no built target dir found: running `dbt build` into {workdir}", flush=True)
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(workdir / "target"),
        "DBT_LOG_PATH": str(workdir / "logs"),
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "FEATUREHOUSE_DUCKDB_PATH": str(workdir / "bench.duckdb"),
    }
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run([str(dbt), "build", "-q"], cwd=PROJECT_DIR, env=env, check=True)
    return workdir / "target"


@dataclasses.dataclass(frozen=True)
class Timing:
    """Median wall and CPU seconds (CPU is what a busy shared machine cannot inflate)."""

    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall:.3f}s wall / {self.cpu:.3f}s CPU"


def _timed(repeat: int, func) -> tuple[Timing, object]:
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        result = func()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return Timing(statistics.median(walls), statistics.median(cpus)), result


def bench_demo(target: Path, repeat: int) -> None:
    load, artifacts = _timed(repeat, lambda: load_artifacts(target))
    manifest = artifacts.manifest
    registry = build_registry(manifest)
    cold, lineage = _timed(repeat, lambda: compute_lineage(manifest, artifacts.catalog))
    views, _ = _timed(repeat, lambda: [view_lineage(lineage, v) for v in registry.views])
    models = sum(1 for n in manifest.nodes.values() if n.resource_type == "model")
    print(
        f"demo: {models} models, {len(lineage.columns)} columns, {len(registry.views)} views; "
        f"manifest load {load}; lineage {cold}; all view subgraphs {views} "
        f"(target < 1 s for lineage after manifest load; load average {os.getloadavg()[0]:.1f})"
    )


def generated_manifest(template: Manifest, views: int) -> Manifest:
    """`views` feature views over views/10 copies of the demo's orders pipeline."""
    by_label = {n.label: n for n in template.nodes.values()}
    stg, inter, feat = (by_label[label] for label in TEMPLATES)
    seed = by_label["raw_orders"]
    items = by_label["stg_shop__order_items"]
    nodes: dict[str, Node] = {
        items.unique_id: items,
        by_label["raw_order_items"].unique_id: by_label["raw_order_items"],
    }
    groups = max(1, views // 10)
    for g in range(groups):
        names = {n: f"{n}_{g}" for n in ("raw_orders", "stg_shop__orders", "int_orders_totaled")}
        seed_g = _renamed(seed, names)
        stg_g = _renamed(stg, names, depends=(seed_g.unique_id,))
        int_g = _renamed(inter, names, depends=(stg_g.unique_id, items.unique_id))
        nodes.update({n.unique_id: n for n in (seed_g, stg_g, int_g)})
        for i in range(g, views, groups):
            view = _renamed(
                feat,
                {**names, "feat_customer__orders": f"feat_customer__orders_{i}"},
                depends=(int_g.unique_id,),
            )
            nodes[view.unique_id] = view
    return dataclasses.replace(template, nodes=nodes, checksum=f"generated-{views}")


def _renamed(node: Node, names: dict[str, str], depends: tuple[str, ...] = ()) -> Node:
    def swap(text: str | None) -> str | None:
        if text is None:
            return None
        for old, new in sorted(names.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(f'"{old}"', f'"{new}"').replace(f"{old}_v", f"{new}_v")
        return text

    name = names.get(node.name, node.name)
    return dataclasses.replace(
        node,
        unique_id=node.unique_id.replace(node.name, name),
        name=name,
        alias=swap(f'"{node.alias}"').strip('"') if node.alias else None,
        relation_name=swap(node.relation_name),
        compiled_code=swap(node.compiled_code),
        depends_on=depends or node.depends_on,
        file_path=None,
    )


def bench_generated(target: Path, views: int, repeat: int) -> None:
    template = load_artifacts(target).manifest
    manifest = generated_manifest(template, views)
    registry = build_registry(manifest)
    assert len(registry.views) == views, len(registry.views)
    cold, lineage = _timed(repeat, lambda: compute_lineage(manifest))
    unresolved = sum(1 for c in lineage.columns.values() if c.unresolved)
    subgraphs, _ = _timed(repeat, lambda: [view_lineage(lineage, v) for v in registry.views])
    models = sum(1 for n in manifest.nodes.values() if n.resource_type == "model")
    print(
        f"generated: {views} feature views, {models} models, {len(lineage.columns)} columns "
        f"({unresolved} unresolved); lineage {cold} ({cold.cpu / models * 1000:.0f} ms CPU a "
        f"model); all view subgraphs {subgraphs}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir")
    parser.add_argument("--views", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args, _ = parser.parse_known_args(argv)  # `python -m benchmarks` passes every option
    target = _target_dir(args.target_dir)
    bench_demo(target, args.repeat)
    bench_generated(target, args.views, max(1, args.repeat // 2))


if __name__ == "__main__":
    main()
