"""The run's validation gate, per feature view: dbt's own results of the build (the view, its
upstream models and every test on them, the drift and anomaly tests included) and the
freshness of the sources upstream that declare it. Nothing here re-runs or re-judges a test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from featurehouse.project.manifest import Artifacts, Manifest
from featurehouse.project.registry import FeatureView
from featurehouse.sync.materialize import gate_problems

_TEST_PASSED = ("pass", "warn")
_TEST_FAILED = ("fail", "error", "runtime error")
_STALE = ("error", "runtime error")


@dataclass(frozen=True)
class Verdict:
    """Whether one view version may be published, and why not."""

    view: FeatureView
    build_status: str  # the model's status in run_results.json, or "not run"
    tests_passed: int  # tests of the view and its upstream models (warn counts as passed)
    tests_failed: int
    problems: tuple[str, ...]  # failed or skipped nodes and tests, stale sources

    @property
    def passed(self) -> bool:
        return not self.problems


def freshness_sources(views: Sequence[FeatureView], manifest: Manifest) -> list[str]:
    """Unique ids of the sources upstream of `views` that declare a freshness rule."""
    found: set[str] = set()
    for view in views:
        for unique_id in manifest.upstream(view.unique_id):
            for parent in manifest.nodes[unique_id].depends_on:
                node = manifest.nodes.get(parent)
                if node is not None and node.resource_type == "source" and node.freshness:
                    found.add(parent)
    return sorted(found)


def judge(
    views: Sequence[FeatureView], artifacts: Artifacts, freshness: Mapping[str, str]
) -> list[Verdict]:
    """One verdict per view: dbt's results (`materialize.gate_problems`, the rule the sync
    applies) and the freshness status of its upstream sources."""
    manifest = artifacts.manifest
    results = artifacts.run_results.results if artifacts.run_results else {}
    verdicts = []
    for view in views:
        upstream = manifest.upstream(view.unique_id)
        statuses = [
            results[t.unique_id].status
            for t in manifest.tests_of(upstream)
            if t.unique_id in results
        ]
        stale = [
            f"source {manifest.nodes[uid].label} is stale (freshness {freshness[uid]})"
            for uid in freshness_sources([view], manifest)
            if freshness.get(uid) in _STALE
        ]
        build = results.get(view.unique_id)
        verdicts.append(
            Verdict(
                view=view,
                build_status=build.status if build else "not run",
                tests_passed=sum(s in _TEST_PASSED for s in statuses),
                tests_failed=sum(s in _TEST_FAILED for s in statuses),
                problems=(*gate_problems(view, artifacts), *stale),
            )
        )
    return verdicts


def failed_nodes(artifacts: Artifacts, views: Sequence[FeatureView] | None = None) -> list[str]:
    """Every node of the build that failed or errored (dbt's labels), views or not; with
    `views`, only the nodes upstream or downstream of them and their tests."""
    if artifacts.run_results is None:
        return []
    nodes = artifacts.manifest.nodes
    scope = None if views is None else _related(artifacts.manifest, views)
    return [
        f"{nodes[uid].label if uid in nodes else uid} ({result.status})"
        for uid, result in sorted(artifacts.run_results.results.items())
        if result.status in _TEST_FAILED and (scope is None or uid in scope)
    ]


def _related(manifest: Manifest, views: Sequence[FeatureView]) -> set[str]:
    """The views' upstream nodes with their tests, and everything downstream of the views."""
    upstream = set().union(*(manifest.upstream(v.unique_id) for v in views))
    related = upstream | {t.unique_id for t in manifest.tests_of(upstream)}
    children: dict[str, list[str]] = {}
    for node in manifest.nodes.values():
        for parent in node.depends_on:
            children.setdefault(parent, []).append(node.unique_id)
    todo = [v.unique_id for v in views]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in related:
                related.add(child)
                todo.append(child)
    return related
