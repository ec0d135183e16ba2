"""The records of column lineage: columns, the edges between them, and a project's lineage.

Plain frozen data, JSON round-trippable, with no sqlglot in sight: what Redis stores and the
catalog draws is built from these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1
VALUE = "value"
# How an input column reaches an output column. `value`: the output is computed from it (the
# steps say how); the rest shape which rows exist or how they are grouped and ordered.
ROLES = (VALUE, "join key", "filter", "group by", "partition by", "order by")
ROW_ROLES = ("join key", "filter")  # stay what they are when reached through another role
LEAF_TYPES = ("seed", "source", "relation")  # where lineage ends


@dataclass(frozen=True, order=True)
class ColumnId:
    """One column of one node (model, seed, source) of the manifest."""

    node: str  # manifest unique_id, or `relation:<db.schema.table>` for tables dbt does not know
    column: str

    @property
    def key(self) -> str:
        return f"{self.node}:{self.column}"

    @classmethod
    def parse(cls, key: str) -> ColumnId:
        node, _, column = key.rpartition(":")
        return cls(node, column)


@dataclass(frozen=True)
class Step:
    """One transformation on the way from an input column to an output column."""

    kind: str  # rename, cast, aggregate, window, case, union, expression, subquery
    detail: str = ""

    def __str__(self) -> str:
        if self.kind == "expression":
            return self.detail
        return f"{self.kind} {self.detail}" if self.detail else self.kind


@dataclass(frozen=True)
class Edge:
    """An output column depends on `source` in `role`; for values, through `steps`.

    `steps` are every transformation on any path from `source` to the column, each once, in
    the order met walking down from the column (a set in path order, not one chain).
    """

    source: ColumnId
    role: str
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True)
class ColumnLineage:
    """The inputs of one column, one model deep; `unresolved` says what could not be traced."""

    id: ColumnId
    inputs: tuple[Edge, ...] = ()
    unresolved: str | None = None


@dataclass(frozen=True)
class NodeInfo:
    """What lineage output shows of a node."""

    unique_id: str
    label: str  # name, name.vN or source.table
    resource_type: str  # model, seed, snapshot, source, relation
    relation: str = ""
    language: str = "sql"


def combine_role(outer: str, inner: str) -> str:
    """The role of a column reached in `inner` role through a column used in `outer` role."""
    if outer == VALUE or inner in ROW_ROLES:
        return inner
    return outer


@dataclass(frozen=True)
class ProjectLineage:
    """Column lineage of every model of one manifest."""

    checksum: str
    nodes: Mapping[str, NodeInfo]
    columns: Mapping[ColumnId, ColumnLineage]
    problems: Mapping[str, str] = field(default_factory=dict)  # unique_id -> model-wide issue

    def column(self, column_id: ColumnId) -> ColumnLineage:
        """The column's lineage; a leaf (no inputs) for seed, source and unknown columns."""
        found = self.columns.get(column_id)
        if found is not None:
            return found
        node = self.nodes.get(column_id.node)
        if node is None or node.resource_type in LEAF_TYPES:
            return ColumnLineage(column_id)
        return ColumnLineage(column_id, unresolved=f"{node.label} has no column {column_id.column}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "checksum": self.checksum,
            "nodes": {uid: node_dict(n) for uid, n in self.nodes.items()},
            "columns": {c.id.key: column_dict(c) for c in self.columns.values()},
            "problems": dict(self.problems),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProjectLineage:
        columns = (column_from_dict(k, v) for k, v in data["columns"].items())
        return cls(
            checksum=data["checksum"],
            nodes={uid: node_from_dict(uid, n) for uid, n in data["nodes"].items()},
            columns={c.id: c for c in columns},
            problems=dict(data.get("problems", {})),
        )


def node_dict(node: NodeInfo) -> dict[str, Any]:
    return {
        "label": node.label,
        "resource_type": node.resource_type,
        "relation": node.relation,
        "language": node.language,
    }


def node_from_dict(unique_id: str, data: Mapping[str, Any]) -> NodeInfo:
    return NodeInfo(
        unique_id=unique_id,
        label=data["label"],
        resource_type=data["resource_type"],
        relation=data.get("relation", ""),
        language=data.get("language", "sql"),
    )


def column_dict(column: ColumnLineage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "inputs": [
            [e.source.key, e.role, [[s.kind, s.detail] for s in e.steps]] for e in column.inputs
        ]
    }
    if column.unresolved:
        out["unresolved"] = column.unresolved
    return out


def column_from_dict(key: str, data: Mapping[str, Any]) -> ColumnLineage:
    return ColumnLineage(
        id=ColumnId.parse(key),
        inputs=tuple(
            Edge(ColumnId.parse(source), role, tuple(Step(k, d) for k, d in steps))
            for source, role, steps in data.get("inputs", ())
        ),
        unresolved=data.get("unresolved"),
    )
