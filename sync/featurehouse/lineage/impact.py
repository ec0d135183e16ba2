"""Lineage read backwards: what depends on a source, seed or model column.

`impact` walks from the columns named to every column computed from them, then reports the
features, view versions and training datasets (models under `models/datasets/`) reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from featurehouse.errors import LineageError
from featurehouse.lineage.records import ROLES, ColumnId, ProjectLineage, combine_role
from featurehouse.project.manifest import Manifest
from featurehouse.project.registry import FeatureView, Registry
from featurehouse.refs import is_view_ref, parse_view

DATASET_DIRS = ("models/datasets/",)


@dataclass(frozen=True)
class FeatureHit:
    view: FeatureView
    feature: str
    roles: tuple[str, ...]  # how the target reaches it: value, filter, join key, ...


@dataclass(frozen=True)
class Impact:
    """Everything computed from `columns`; `reached` maps each column to its roles."""

    target: str
    columns: tuple[ColumnId, ...]
    reached: Mapping[ColumnId, tuple[str, ...]]
    features: tuple[FeatureHit, ...]
    views: tuple[FeatureView, ...]
    datasets: Mapping[str, tuple[str, ...]]  # dataset label -> its columns reached
    models: Mapping[str, tuple[str, ...]]  # any other model label -> its columns reached
    view_columns: Mapping[str, tuple[str, ...]]  # view ref -> keys/timestamps reached


def resolve_target(lineage: ProjectLineage, text: str) -> tuple[list[str], str | None]:
    """`raw_orders`, `raw_orders.status`, `feat_x.v2.col`, `source.table.col` -> nodes, column.

    A versioned model named without its version means every version.
    """
    labels: dict[str, list[str]] = {}
    for uid, info in lineage.nodes.items():
        labels.setdefault(info.label, []).append(uid)
        labels.setdefault(uid, []).append(uid)
        if is_view_ref(info.label) and parse_view(info.label).version is not None:
            labels.setdefault(parse_view(info.label).name, []).append(uid)
    text = text.strip()
    if text in labels:
        return labels[text], None
    head, dot, column = text.rpartition(".")
    if dot and head in labels:
        return labels[head], column.lower()
    names = sorted({i.label for i in lineage.nodes.values() if i.resource_type != "relation"})
    near = [n for n in names if text.split(".")[0] in n][:5]
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    raise LineageError(f"no model, seed or source named {text!r}{hint}")


def target_columns(lineage: ProjectLineage, nodes: list[str], column: str | None) -> list[ColumnId]:
    """The columns of `nodes` (just `column` when given) that lineage knows of."""
    known = {c for c in lineage.columns if c.node in nodes}
    known |= {
        e.source for c in lineage.columns.values() for e in c.inputs if e.source.node in nodes
    }
    if column is None:
        return sorted(known)
    chosen = [c for c in known if c.column == column]
    if not chosen:
        have = ", ".join(sorted({c.column for c in known})) or "none known"
        label = lineage.nodes[nodes[0]].label
        raise LineageError(f"{label} has no column {column!r} that lineage knows (columns: {have})")
    return sorted(chosen)


def downstream(lineage: ProjectLineage, start: list[ColumnId]) -> dict[ColumnId, set[str]]:
    """Every column computed from `start`, with the roles the start columns play in it."""
    readers: dict[ColumnId, list[tuple[ColumnId, str]]] = {}
    for column in lineage.columns.values():
        for edge in column.inputs:
            readers.setdefault(edge.source, []).append((column.id, edge.role))
    reached: dict[ColumnId, set[str]] = {}
    todo = [(c, "value") for c in start]
    seen: set[tuple[ColumnId, str]] = set()
    while todo:
        column, role = todo.pop()
        for reader, edge_role in readers.get(column, ()):
            combined = combine_role(edge_role, role)
            if (reader, combined) in seen:
                continue
            seen.add((reader, combined))
            reached.setdefault(reader, set()).add(combined)
            todo.append((reader, combined))
    return reached


def impact(lineage: ProjectLineage, registry: Registry, manifest: Manifest, text: str) -> Impact:
    """What depends on `text` (a node or node.column): features, views, datasets, models."""
    nodes, column = resolve_target(lineage, text)
    start = target_columns(lineage, nodes, column)
    reached = {c: tuple(sorted(r, key=ROLES.index)) for c, r in downstream(lineage, start).items()}
    by_uid = {v.unique_id: v for v in registry.views}
    features: list[FeatureHit] = []
    views: dict[str, FeatureView] = {}
    view_columns: dict[str, list[str]] = {}
    datasets: dict[str, list[str]] = {}
    models: dict[str, list[str]] = {}
    for column_id, roles in sorted(reached.items()):
        view = by_uid.get(column_id.node)
        info = lineage.nodes.get(column_id.node)
        label = info.label if info else column_id.node
        if view is not None:
            views[view.ref] = view
            if column_id.column in {f.name.lower() for f in view.features}:
                features.append(FeatureHit(view, column_id.column, roles))
            else:
                view_columns.setdefault(view.ref, []).append(column_id.column)
        elif _is_dataset(manifest, column_id.node):
            datasets.setdefault(label, []).append(column_id.column)
        else:
            models.setdefault(label, []).append(column_id.column)
    return Impact(
        target=text,
        columns=tuple(start),
        reached=reached,
        features=tuple(features),
        views=tuple(views.values()),
        datasets={k: tuple(v) for k, v in datasets.items()},
        models={k: tuple(v) for k, v in models.items()},
        view_columns={k: tuple(v) for k, v in view_columns.items()},
    )


def _is_dataset(manifest: Manifest, unique_id: str) -> bool:
    node = manifest.nodes.get(unique_id)
    return node is not None and node.original_file_path.startswith(DATASET_DIRS)
