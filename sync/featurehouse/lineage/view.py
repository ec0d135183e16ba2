"""A feature view version's share of the lineage, and the tree of columns behind one feature.

`ViewLineage` is what `featurehouse sync` stores beside a view version's metadata in Redis, so
trees can be drawn without the dbt project; `tree` turns it into nested `TreeNode`s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from featurehouse.errors import LineageError
from featurehouse.lineage.records import (
    FORMAT_VERSION,
    LEAF_TYPES,
    ROLES,
    VALUE,
    ColumnId,
    ProjectLineage,
    Step,
)
from featurehouse.project.registry import FeatureView


@dataclass(frozen=True)
class TreeInput:
    """One upstream column of a tree node, with every role it plays and its value steps."""

    roles: tuple[str, ...]
    steps: tuple[Step, ...]
    node: TreeNode


@dataclass(frozen=True)
class TreeNode:
    column: ColumnId
    model: str  # the node's label: name, name.vN, source.table
    resource_type: str
    unresolved: str | None
    inputs: tuple[TreeInput, ...] = ()
    seen: bool = False  # expanded earlier in the same tree: its inputs are not repeated

    @property
    def name(self) -> str:
        return f"{self.model}.{self.column.column}"

    def walk(self) -> Iterable[TreeNode]:
        yield self
        for item in self.inputs:
            yield from item.node.walk()


@dataclass(frozen=True)
class ViewLineage:
    """The columns behind every feature of one view version (a closed subgraph)."""

    view: str  # name or name.vN
    unique_id: str
    features: Mapping[str, ColumnId]
    graph: ProjectLineage

    def feature_names(self) -> list[str]:
        return list(self.features)

    def tree(self, feature: str) -> TreeNode:
        if feature not in self.features:
            known = ", ".join(self.features) or "none"
            raise LineageError(f"{self.view} has no feature {feature!r} (features: {known})")
        return build_tree(self.graph, self.features[feature])

    def sources(self, feature: str) -> list[str]:
        """The seed, source and unknown-relation columns a feature is computed from."""
        tree = self.tree(feature)
        return sorted({n.name for n in tree.walk() if n.resource_type in LEAF_TYPES})

    def unresolved(self, feature: str) -> list[str]:
        return sorted(
            {f"{n.name}: {n.unresolved}" for n in self.tree(feature).walk() if n.unresolved}
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "view": self.view,
            "unique_id": self.unique_id,
            "features": {name: column.key for name, column in self.features.items()},
            "graph": self.graph.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ViewLineage:
        if data.get("format") != FORMAT_VERSION:
            raise LineageError(
                f"stored lineage has format {data.get('format')!r}, this Featurehouse reads "
                f"{FORMAT_VERSION}: run `featurehouse sync` again"
            )
        return cls(
            view=data["view"],
            unique_id=data["unique_id"],
            features={name: ColumnId.parse(key) for name, key in data["features"].items()},
            graph=ProjectLineage.from_dict(data["graph"]),
        )


def stored_lineage(view: str, extra: Mapping[str, Any]) -> ViewLineage:
    """The lineage `featurehouse sync` stored in a view version's metadata (`extra`)."""
    data = extra.get("lineage")
    if not data:
        raise LineageError(
            f"{view} was published without lineage: run `featurehouse sync --select {view}` "
            "with this Featurehouse, or run the command inside the dbt project"
        )
    if "error" in data:
        raise LineageError(f"{view}: lineage was not computed at sync time ({data['error']})")
    return ViewLineage.from_dict(data)


def view_lineage(project: ProjectLineage, view: FeatureView) -> ViewLineage:
    """The subgraph of `project` reachable from `view`'s features."""
    features = {f.name: ColumnId(view.unique_id, f.name.lower()) for f in view.features}
    columns = {}
    todo = list(features.values())
    while todo:
        current = todo.pop()
        if current in columns:
            continue
        lineage = project.column(current)
        columns[current] = lineage
        todo.extend(edge.source for edge in lineage.inputs)
    nodes = {c.node: project.nodes[c.node] for c in columns if c.node in project.nodes}
    graph = ProjectLineage(
        checksum=project.checksum,
        nodes=nodes,
        columns=columns,
        problems={u: p for u, p in project.problems.items() if u in nodes},
    )
    return ViewLineage(view.ref, view.unique_id, features, graph)


def build_tree(graph: ProjectLineage, root: ColumnId) -> TreeNode:
    """The tree of columns behind `root`; a column met again is shown, not expanded."""
    return _node(graph, root, set())


def _node(graph: ProjectLineage, column: ColumnId, expanded: set[ColumnId]) -> TreeNode:
    info = graph.nodes.get(column.node)
    model = info.label if info else column.node
    kind = info.resource_type if info else "relation"
    lineage = graph.column(column)
    if column in expanded:
        return TreeNode(column, model, kind, lineage.unresolved, seen=bool(lineage.inputs))
    expanded.add(column)
    grouped: dict[ColumnId, tuple[list[str], tuple[Step, ...]]] = {}
    for edge in lineage.inputs:
        roles, steps = grouped.get(edge.source, ([], ()))
        roles.append(edge.role)
        grouped[edge.source] = (roles, edge.steps if edge.role == VALUE else steps)
    order = sorted(
        grouped.items(),
        key=lambda kv: (min(ROLES.index(r) for r in kv[1][0]), _label(graph, kv[0]), kv[0]),
    )
    inputs = tuple(
        TreeInput(
            roles=tuple(sorted(set(roles), key=ROLES.index)),
            steps=steps,
            node=_node(graph, source, expanded),
        )
        for source, (roles, steps) in order
    )
    return TreeNode(column, model, kind, lineage.unresolved, inputs)


def _label(graph: ProjectLineage, column: ColumnId) -> str:
    info = graph.nodes.get(column.node)
    return info.label if info else column.node
