"""Lineage as text trees, JSON-able dicts, Mermaid flowcharts and Graphviz DOT."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from featurehouse.lineage.records import LEAF_TYPES, ROLES, VALUE, ColumnId, Step
from featurehouse.lineage.view import TreeNode, ViewLineage

STEP_SEPARATOR = ", "


@dataclass(frozen=True)
class GraphEdge:
    """One edge of a drawn lineage graph: `target` is computed from `source`."""

    source: ColumnId
    target: ColumnId
    roles: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def is_value(self) -> bool:
        return VALUE in self.roles


def describe_roles(roles: Sequence[str], steps: Sequence[Step]) -> str:
    """`value: cast bigint, window sum; filter` (value and its steps first, then the roles)."""
    parts = []
    for role in roles:
        if role == VALUE:
            parts.append(f"value: {STEP_SEPARATOR.join(map(str, steps))}" if steps else "value")
        else:
            parts.append(role)
    return "; ".join(parts)


def tree_text(tree: TreeNode, title: str) -> str:
    """The tree, one column a line, each with how it feeds the line above it."""
    lines = [title + _note(tree)]
    _lines(tree, "", lines)
    return "\n".join(lines)


def _lines(node: TreeNode, indent: str, out: list[str]) -> None:
    for i, item in enumerate(node.inputs):
        last = i == len(node.inputs) - 1
        child = item.node
        out.append(
            f"{indent}{'└── ' if last else '├── '}{child.name}  "
            f"[{describe_roles(item.roles, item.steps)}]{_note(child)}"
        )
        if not child.seen:
            _lines(child, indent + ("    " if last else "│   "), out)


def _note(node: TreeNode) -> str:
    if node.seen:
        return "  (see above)"
    if node.unresolved:
        return f"  UNRESOLVED: {node.unresolved}"
    if node.resource_type in LEAF_TYPES:
        return (
            f"  ({'unknown relation' if node.resource_type == 'relation' else node.resource_type})"
        )
    if node.inputs and not any(VALUE in item.roles for item in node.inputs):
        return "  (no value input: counts rows or is a constant)"
    return ""


def tree_dict(node: TreeNode) -> dict[str, Any]:
    out: dict[str, Any] = {
        "column": node.name,
        "model": node.model,
        "unique_id": node.column.node,
        "name": node.column.column,
        "resource_type": node.resource_type,
    }
    if node.unresolved:
        out["unresolved"] = node.unresolved
    if node.seen:
        out["seen"] = True
    else:
        out["inputs"] = [
            {
                "roles": list(item.roles),
                "steps": [str(s) for s in item.steps],
                **tree_dict(item.node),
            }
            for item in node.inputs
        ]
    return out


def lineage_dict(lineage: ViewLineage, features: Sequence[str]) -> dict[str, Any]:
    return {
        "view": lineage.view,
        "unique_id": lineage.unique_id,
        "features": [
            {
                "feature": name,
                "sources": lineage.sources(name),
                "tree": tree_dict(lineage.tree(name)),
            }
            for name in features
        ],
    }


def lineage_text(lineage: ViewLineage, features: Sequence[str]) -> str:
    return "\n\n".join(tree_text(lineage.tree(name), f"{lineage.view}:{name}") for name in features)


def graph_edges(lineage: ViewLineage, features: Iterable[str]) -> list[GraphEdge]:
    """Every edge behind `features`, one per (source, target) with all its roles."""
    edges: dict[tuple[ColumnId, ColumnId], GraphEdge] = {}
    todo = [lineage.features[name] for name in features]
    seen: set[ColumnId] = set()
    while todo:
        target = todo.pop()
        if target in seen:
            continue
        seen.add(target)
        for edge in lineage.graph.column(target).inputs:
            key = (edge.source, target)
            old = edges.get(key)
            roles = {edge.role, *(old.roles if old else ())}
            steps = edge.steps if edge.role == VALUE else (old.steps if old else ())
            edges[key] = GraphEdge(
                edge.source, target, tuple(sorted(roles, key=ROLES.index)), steps
            )
            todo.append(edge.source)
    return sorted(edges.values(), key=lambda e: (e.target, e.source))


def _columns(lineage: ViewLineage, features: Sequence[str]) -> dict[str, list[ColumnId]]:
    """Columns drawn, grouped by node label (roots first)."""
    columns = {lineage.features[name] for name in features}
    for edge in graph_edges(lineage, features):
        columns |= {edge.source, edge.target}
    grouped: dict[str, list[ColumnId]] = {}
    for column in sorted(columns):
        grouped.setdefault(_label(lineage, column), []).append(column)
    return grouped


def _label(lineage: ViewLineage, column: ColumnId) -> str:
    info = lineage.graph.nodes.get(column.node)
    return info.label if info else column.node


def mermaid(lineage: ViewLineage, features: Sequence[str]) -> str:
    """A Mermaid flowchart: one subgraph per model, solid value edges, dotted other roles."""
    ids: dict[ColumnId, str] = {}
    lines = ["flowchart LR"]
    for g, (label, columns) in enumerate(_columns(lineage, features).items()):
        lines.append(f'    subgraph m{g}["{_mermaid_text(label)}"]')
        for column in columns:
            ids[column] = f"c{len(ids)}"
            lines.append(f'        {ids[column]}["{_mermaid_text(column.column)}"]')
        lines.append("    end")
    for edge in graph_edges(lineage, features):
        arrow = "-->" if edge.is_value else "-.->"
        text = _mermaid_text(describe_roles(edge.roles, edge.steps))
        lines.append(f'    {ids[edge.source]} {arrow}|"{text}"| {ids[edge.target]}')
    return "\n".join(lines)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;")


def dot(lineage: ViewLineage, features: Sequence[str]) -> str:
    """Graphviz DOT: one cluster per model, solid value edges, dashed other roles."""
    ids: dict[ColumnId, str] = {}
    lines = [
        "digraph lineage {",
        "    rankdir=LR;",
        '    node [shape=box, fontname="Helvetica", fontsize=10];',
        '    edge [fontname="Helvetica", fontsize=8];',
    ]
    for g, (label, columns) in enumerate(_columns(lineage, features).items()):
        lines.append(f"    subgraph cluster_{g} {{")
        lines.append(f"        label={json.dumps(label)};")
        for column in columns:
            ids[column] = f"c{len(ids)}"
            lines.append(f"        {ids[column]} [label={json.dumps(column.column)}];")
        lines.append("    }")
    for edge in graph_edges(lineage, features):
        style = "solid" if edge.is_value else "dashed"
        text = json.dumps(describe_roles(edge.roles, edge.steps), ensure_ascii=False)
        lines.append(f"    {ids[edge.source]} -> {ids[edge.target]} [label={text}, style={style}];")
    lines.append("}")
    return "\n".join(lines)
