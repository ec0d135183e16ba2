"""The lineage graph as inline SVG: one box per model, one row per column, left to right.

Models are laid out in layers by their distance from the feature (sources left, the feature
right); within a layer, boxes follow the rows they feed, which keeps crossings down. Every
element carries data attributes the catalog's small script uses to highlight a column's
upstream on click; without the script the SVG still reads (edge tooltips are <title>s).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from featurehouse.lineage.records import LEAF_TYPES, ColumnId
from featurehouse.lineage.render import GraphEdge, describe_roles, graph_edges
from featurehouse.lineage.view import ViewLineage

BOX_WIDTH = 230
LAYER_GAP = 140
HEADER = 26
ROW = 20
BOX_GAP = 22
MARGIN = 16


@dataclass(frozen=True)
class _Box:
    node: str
    label: str
    kind: str
    columns: tuple[ColumnId, ...]
    x: float
    y: float

    @property
    def height(self) -> float:
        return HEADER + ROW * len(self.columns) + 6

    def row_y(self, column: ColumnId) -> float:
        return self.y + HEADER + ROW * self.columns.index(column) + ROW / 2


def lineage_svg(
    lineage: ViewLineage,
    features: Sequence[str],
    href: Callable[[str], str | None] = lambda _: None,
) -> str:
    """An <svg> of the columns behind `features`; `href(unique_id)` links a model's title."""
    edges = graph_edges(lineage, features)
    roots = [lineage.features[name] for name in features]
    boxes = _layout(lineage, roots, edges)
    rows = {c: box for box in boxes for c in box.columns}
    width = max((b.x + BOX_WIDTH for b in boxes), default=0) + MARGIN
    height = max((b.y + b.height for b in boxes), default=0) + MARGIN
    parts = [
        f'<svg class="lineage" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'preserveAspectRatio="xMinYMin meet" '
        f'role="img" aria-label="lineage of {escape(", ".join(features))}">'
    ]
    parts.extend(_edge(edge, rows) for edge in edges)
    parts.extend(_box(box, set(roots), href) for box in boxes)
    parts.append("</svg>")
    return "\n".join(parts)


def _layout(lineage: ViewLineage, roots: list[ColumnId], edges: list[GraphEdge]) -> list[_Box]:
    columns: dict[str, set[ColumnId]] = {}
    for column in [*roots, *(e.source for e in edges), *(e.target for e in edges)]:
        columns.setdefault(column.node, set()).add(column)
    depth = {node: 0 for node in columns}
    for _ in range(len(columns)):  # longest distance from the feature's model
        changed = False
        for edge in edges:
            wanted = depth[edge.target.node] + 1
            if edge.source.node != edge.target.node and depth[edge.source.node] < wanted:
                depth[edge.source.node], changed = wanted, True
        if not changed:
            break
    deepest = max(depth.values(), default=0)
    feeds: dict[ColumnId, list[ColumnId]] = {}
    for edge in edges:
        feeds.setdefault(edge.source, []).append(edge.target)
    placed: dict[ColumnId, float] = {}
    boxes: list[_Box] = []
    for level in range(deepest + 1):
        nodes = [n for n in columns if depth[n] == level]
        nodes.sort(key=lambda n: (_mean(placed, feeds, columns[n]), _label(lineage, n)))
        y = MARGIN
        for node in nodes:
            ordered = sorted(columns[node], key=lambda c: (_rank(placed, feeds, c), c.column))
            box = _Box(
                node=node,
                label=_label(lineage, node),
                kind=_kind(lineage, node),
                columns=tuple(ordered),
                x=MARGIN + (deepest - level) * (BOX_WIDTH + LAYER_GAP),
                y=y,
            )
            boxes.append(box)
            placed.update({c: box.row_y(c) for c in box.columns})
            y += box.height + BOX_GAP
    return boxes


def _rank(placed: dict[ColumnId, float], feeds: dict[ColumnId, list[ColumnId]], column) -> float:
    ys = [placed[t] for t in feeds.get(column, ()) if t in placed]
    return sum(ys) / len(ys) if ys else 0.0


def _mean(placed, feeds, columns: set[ColumnId]) -> float:
    ranks = [_rank(placed, feeds, c) for c in columns]
    return sum(ranks) / len(ranks) if ranks else 0.0


def _label(lineage: ViewLineage, node: str) -> str:
    info = lineage.graph.nodes.get(node)
    return info.label if info else node


def _kind(lineage: ViewLineage, node: str) -> str:
    info = lineage.graph.nodes.get(node)
    return info.resource_type if info else "relation"


def _edge(edge: GraphEdge, rows: dict[ColumnId, _Box]) -> str:
    source, target = rows[edge.source], rows[edge.target]
    x1, y1 = source.x + BOX_WIDTH, source.row_y(edge.source)
    x2, y2 = target.x, target.row_y(edge.target)
    bend = max((x2 - x1) / 2, 40)
    path = (
        f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    )
    role = edge.roles[0].replace(" ", "-")
    text = escape(f"{edge.source.column} → {edge.target.column}: ")
    text += escape(describe_roles(edge.roles, edge.steps))
    return (
        f'<path class="edge role-{role}" d="{path}" data-from="{escape(edge.source.key)}" '
        f'data-to="{escape(edge.target.key)}" data-roles="{escape(", ".join(edge.roles))}">'
        f"<title>{text}</title></path>"
    )


def _box(box: _Box, roots: set[ColumnId], href: Callable[[str], str | None]) -> str:
    kind = "leaf" if box.kind in LEAF_TYPES else box.kind
    title = escape(box.label)
    link = href(box.node)
    if link:
        title = f'<a href="{escape(link)}" target="_blank">{title}</a>'
    parts = [
        f'<g class="model kind-{kind}" data-node="{escape(box.node)}">',
        f'<rect class="box" x="{box.x:.0f}" y="{box.y:.0f}" width="{BOX_WIDTH}" '
        f'height="{box.height:.0f}" rx="6"/>',
        f'<text class="title" x="{box.x + 8:.0f}" y="{box.y + 17:.0f}">{title}'
        f'<tspan class="kind"> {escape(box.kind)}</tspan></text>',
    ]
    for column in box.columns:
        y = box.row_y(column)
        root = " root" if column in roots else ""
        parts.append(
            f'<g class="col{root}" data-col="{escape(column.key)}" tabindex="0">'
            f'<rect x="{box.x + 4:.0f}" y="{y - ROW / 2 + 1:.0f}" width="{BOX_WIDTH - 8}" '
            f'height="{ROW - 2}" rx="3"/>'
            f'<text x="{box.x + 12:.0f}" y="{y + 4:.0f}">{escape(column.column)}</text></g>'
        )
    parts.append("</g>")
    return "".join(parts)
