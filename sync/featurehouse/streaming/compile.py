"""The compiled models from a stream's source to each of its views, for any clock.

dbt compiles the chain (every model between the source and the view) with the var `as_of`
set to a sentinel, twice with two sentinels: the clock must only appear as that literal,
which the recompute binds to its own clock. The var `featurehouse_stream_compile` makes
`featurehouse.streamed()` read the source alone; `featurehouse_stream_at_clock` makes
rolling_window_agg render only each entity's row at the clock in the views that pass its rows
through (`lineage.at_clock`; the others are compiled in full). The latest rows are picked by
the sync's own rendering of `latest_feature_rows`. Cached per project code (`render`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from featurehouse.errors import StreamError
from featurehouse.lineage import at_clock
from featurehouse.lineage.chain import ChainModel, clock_bound, relation_key
from featurehouse.project import render
from featurehouse.project.manifest import Artifacts, Manifest, Node
from featurehouse.project.registry import FeatureView
from featurehouse.project.settings import Project, Target
from featurehouse.streaming.spec import StreamSource
from featurehouse.warehouse import adapter

log = logging.getLogger(__name__)
SENTINELS = ("1971-02-03 04:05:06.789012", "1982-03-04 05:06:07.890123")
CLOCK = SENTINELS[0]  # the literal the compiled SQL carries for the clock


@dataclass(frozen=True)
class CompiledChain:
    """What evaluating one view over the source needs, as dbt compiled it."""

    view: FeatureView
    models: tuple[ChainModel, ...]  # dependency order, the view last
    latest_sql: str  # latest_feature_rows of the view as the sync runs it (as-of: $as_of)
    source_relations: tuple[tuple[str, ...], ...]  # how compiled SQL names the source


def compile_chains(
    project: Project, target: Target, artifacts: Artifacts, source: StreamSource
) -> list[CompiledChain]:
    """Every view of the source, compiled (from the cache when the code did not change)."""
    manifest = artifacts.manifest
    directory = project.cache_dir / "sql" / render.render_key(project, manifest)
    directory = directory / f"{target.name}-stream-at-clock"
    nodes = {view.ref: _chain_nodes(manifest, source, view) for view in source.views}
    missing = [v for v in source.views if not (directory / f"{v.ref}.json").exists()]
    if missing:
        compiled = _compile_views(project, target, source, missing, nodes)
        latest = _latest(project, target, manifest, missing)
        directory.mkdir(parents=True, exist_ok=True)
        for view in missing:
            models = _models(compiled[view.ref], nodes[view.ref], target.type)
            _save(directory / f"{view.ref}.json", models, latest[view.ref])
    relation = _source_relations(manifest.nodes[source.unique_id])
    return [_load(directory / f"{v.ref}.json", v, relation) for v in source.views]


def _chain_nodes(manifest: Manifest, source: StreamSource, view: FeatureView) -> list[Node]:
    """Models on a path from the source to the view (with a relation), in dependency order."""
    below: dict[str, bool] = {}

    def reads_source(unique_id: str) -> bool:
        if unique_id not in below:
            below[unique_id] = False
            node = manifest.nodes.get(unique_id)
            deps = node.depends_on if node is not None else ()
            below[unique_id] = source.unique_id in deps or any(reads_source(d) for d in deps)
        return below[unique_id]

    order: list[Node] = []

    def visit(unique_id: str) -> None:
        node = manifest.nodes[unique_id]
        if node in order or not reads_source(unique_id):
            return
        for dep in node.depends_on:
            if dep in manifest.nodes and manifest.nodes[dep].resource_type == "model":
                visit(dep)
        if node.resource_type != "model" or node.language != "sql":
            raise StreamError(f"{node.label} reads {source.name}: only SQL models can stream")
        if node.relation_name:  # ephemeral models are inlined into their readers already
            order.append(node)

    visit(view.unique_id)
    return order


def _selector(node: Node) -> str:
    return node.name if node.version is None else f"{node.name}.v{node.version}"


def _compile_views(
    project: Project,
    target: Target,
    source: StreamSource,
    views: list[FeatureView],
    nodes: dict[str, list[Node]],
) -> dict[str, tuple[Manifest, Manifest]]:
    """Each view's chain compiled twice; in the at-clock rendering where that is exact (a
    view that another view reads is never rendered so)."""
    inner = {n.name for chain in nodes.values() for n in chain[:-1]}  # the var names models
    candidates = [v for v in views if v.name not in inner]
    selection = sorted({_selector(n) for v in views for n in nodes[v.ref]})
    at_clock = sorted({v.name for v in candidates})
    compiled = _compile_twice(project, target, selection, source, at_clock)
    found = {v.ref: compiled for v in views}
    redo = [v for v in candidates if not _exact(compiled[0], v, target.type)]
    if redo:
        log.info("%s: compiled in full (rolling_window_agg's rows at the clock alone are not "
                 "provably the view's)", ", ".join(v.ref for v in redo))  # fmt: skip
        again = sorted({_selector(n) for v in redo for n in nodes[v.ref]})
        compiled = _compile_twice(project, target, again, source, [])
        found |= {v.ref: compiled for v in redo}
    return found


def _exact(compiled: Manifest, view: FeatureView, dialect: str) -> bool:
    """Whether the view's at-clock SQL (if rendered so) passes the macro's rows through."""
    sql = str(compiled.nodes[view.unique_id].compiled_code or "")
    if at_clock.MARKER not in sql:
        return True  # no rolling_window_agg in it: compiled as in a build
    kept = [k.name for k in view.keys] + [view.event_timestamp]
    return at_clock.passes_through(sql, kept, dialect, view.ref)


def _compile_twice(
    project: Project, target: Target, selection: list[str], source: StreamSource,
    at_clock_views: list[str],
) -> tuple[Manifest, Manifest]:  # fmt: skip
    """Compile with each sentinel, one after the other (dbt locks a DuckDB file)."""
    what = f"the models streaming from {source.name}"
    variables = {
        "featurehouse_stream_compile": True,
        "featurehouse_stream_at_clock": at_clock_views,
    }
    first, second = (
        render.compile_models(
            project,
            target,
            selection,
            {"as_of": sentinel, **variables},
            project.cache_dir / f"dbt-stream-{i}",
            what,
        )
        for i, sentinel in enumerate(SENTINELS)
    )
    return first, second


def _models(
    compiled: tuple[Manifest, Manifest], nodes: list[Node], dialect: str
) -> list[ChainModel]:
    models = []
    for node in nodes:
        sqls = [m.nodes[node.unique_id].compiled_code for m in compiled]
        if not all(sqls):
            raise StreamError(f"dbt compiled no SQL for {node.label}")
        bound = [
            clock_bound(str(sql), sentinel, dialect, node.label)
            for sql, sentinel in zip(sqls, SENTINELS, strict=True)
        ]
        if bound[0] != bound[1]:
            raise StreamError(
                f"{node.label}: its SQL uses var('as_of') beyond a plain literal (e.g. date "
                "arithmetic in Jinja), so the stream cannot evaluate it at its own clock; "
                "compute from the literal in SQL instead"
            )
        models.append(
            ChainModel(
                name=node.label,
                alias=node.alias or node.name,
                relations=(relation_key(node.database, node.schema, node.alias or node.name),),
                sql=str(sqls[0]),
            )
        )
    return models


def _latest(
    project: Project, target: Target, manifest: Manifest, views: list[FeatureView]
) -> dict[str, str]:
    """latest_feature_rows for each view, exactly as the sync renders it (and cached by it),
    its as-of the bind parameter `as_of`."""
    placeholder = adapter(target).param("as_of")
    return render.latest_rows_sql(project, target, manifest, views, placeholder)


def _source_relations(node: Node) -> tuple[tuple[str, ...], ...]:
    return (relation_key(node.database, node.schema, node.alias or node.name),)


def _save(path: Path, models: list[ChainModel], latest: str) -> None:
    doc = {
        "models": [
            {"name": m.name, "alias": m.alias, "relations": m.relations, "sql": m.sql}
            for m in models
        ],
        "latest": latest,
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(doc))
    temporary.replace(path)


def _load(
    path: Path, view: FeatureView, source_relations: tuple[tuple[str, ...], ...]
) -> CompiledChain:
    doc = json.loads(path.read_text())
    models = tuple(
        ChainModel(m["name"], m["alias"], tuple(tuple(r) for r in m["relations"]), m["sql"])
        for m in doc["models"]
    )
    return CompiledChain(view, models, doc["latest"], source_relations)
