"""A manifest's column lineage: every SQL model analyzed in dependency order, cached per build.

Column lists come from catalog.json, enforced contracts, seed files and, for models without
either, the columns their own SQL was found to produce (so `select *` expands everywhere).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from featurehouse.lineage.records import (
    FORMAT_VERSION,
    VALUE,
    ColumnId,
    ColumnLineage,
    Edge,
    NodeInfo,
    ProjectLineage,
    Step,
)
from featurehouse.project.manifest import Artifacts, Catalog, Manifest, Node

if TYPE_CHECKING:  # sqlglot loads only when lineage is computed, not when read from the cache
    from featurehouse.lineage import sql

log = logging.getLogger(__name__)
_ANALYZED = ("model", "snapshot")
_NODES = ("model", "snapshot", "seed", "source")


def build_lineage(artifacts: Artifacts, cache_dir: Path | None = None) -> ProjectLineage:
    """The lineage of every model, from `cache_dir` when this build was analyzed before."""
    key = _cache_key(artifacts)
    path = None if cache_dir is None else cache_dir / f"{key}.json"
    if path is not None and path.exists():
        try:
            return ProjectLineage.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable lineage cache %s (%s)", path, exc)
    lineage = compute_lineage(artifacts.manifest, artifacts.catalog, checksum=key)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            for old in path.parent.glob("*.json"):  # earlier builds of this target
                old.unlink()
            path.write_text(json.dumps(lineage.to_dict(), separators=(",", ":")))
        except OSError as exc:
            log.warning("cannot write lineage cache %s (%s)", path, exc)
    return lineage


def cache_dir(artifacts: Artifacts) -> Path:
    """Where lineage of this target's builds is cached (beside the rendered sync SQL)."""
    return artifacts.target_dir / "featurehouse" / "lineage"


def _cache_key(artifacts: Artifacts) -> str:
    catalog = artifacts.catalog.generated_at if artifacts.catalog else ""
    text = f"{FORMAT_VERSION}:{artifacts.manifest.code_key}:{catalog}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def compute_lineage(
    manifest: Manifest, catalog: Catalog | None = None, checksum: str = ""
) -> ProjectLineage:
    """Analyze every SQL model's compiled code; python and uncompiled models are unresolved."""
    analyzer = _Analyzer(manifest, catalog)
    for unique_id in _topological(manifest):
        analyzer.analyze(manifest.nodes[unique_id])
    return ProjectLineage(
        checksum=checksum or manifest.checksum,
        nodes=analyzer.infos,
        columns=analyzer.columns,
        problems=analyzer.problems,
    )


def relation_of(node: Node) -> sql.Relation:
    parts = (node.database, node.schema, node.alias or node.name)
    return tuple(p.lower() for p in parts if p)


class _Analyzer:
    def __init__(self, manifest: Manifest, catalog: Catalog | None) -> None:
        from featurehouse.lineage import sql

        self.sql = sql
        self.manifest = manifest
        self.catalog = catalog.columns if catalog else {}
        self.dialect = self.sql.dialect_of(manifest.adapter_type)
        self.infos: dict[str, NodeInfo] = {}
        self.relations: dict[sql.Relation, str] = {}
        self.by_name: dict[str, list[str]] = {}
        self.known: dict[str, list[str]] = {}  # unique_id -> complete column list
        self.columns: dict[ColumnId, ColumnLineage] = {}
        self.problems: dict[str, str] = {}
        for node in manifest.nodes.values():
            if node.resource_type in _NODES:
                self._register(node)

    def _register(self, node: Node) -> None:
        relation = relation_of(node)
        self.infos[node.unique_id] = NodeInfo(
            unique_id=node.unique_id,
            label=node.label,
            resource_type=node.resource_type,
            relation=".".join(relation),
            language=node.language,
        )
        if node.relation_name:
            self.relations[relation] = node.unique_id
            self.by_name.setdefault(relation[-1], []).append(node.unique_id)
        listed = self.catalog.get(node.unique_id)
        if listed:
            self.known[node.unique_id] = [c.lower() for c in listed]
        elif node.resource_type == "seed" and node.file_path:
            header = _csv_header(Path(node.file_path))
            if header:
                self.known[node.unique_id] = header
        elif node.contract_enforced and node.columns:
            self.known[node.unique_id] = [c.name.lower() for c in node.columns]

    def declared(self, node: Node) -> list[str]:
        listed = self.catalog.get(node.unique_id)
        if listed:
            return [c.lower() for c in listed]
        return [c.name.lower() for c in node.columns]

    def analyze(self, node: Node) -> None:
        declared = self.declared(node)
        if node.language != "sql":
            reason = (
                f"{node.label} is a {node.language} model: its lineage is not parsed "
                f"(it reads {', '.join(self._labels(node.depends_on)) or 'nothing'})"
            )
            self._unresolved(node, declared, reason)
            return
        if not node.compiled_code:
            reason = f"{node.label} has no compiled SQL: run `dbt build --select {node.label}`"
            self._unresolved(node, declared, reason)
            return
        schema = {
            relation_of(self.manifest.nodes[dep]): self.known[dep]
            for dep in node.depends_on
            if dep in self.known and dep in self.manifest.nodes
        }
        result = self.sql.analyze(node.compiled_code, self.dialect, schema, declared)
        if result.error is not None:
            self._unresolved(node, declared, f"cannot parse the compiled SQL ({result.error})")
            return
        produced = [c.name for c in result.columns]
        for column in result.columns:
            self._record(node, column)
        for name in declared:
            if name not in produced:
                self._unresolved(node, [name], f"{name} is not in the compiled SQL's output")
        self.known.setdefault(node.unique_id, produced)

    def _row_identity(self, source: ColumnId) -> bool:
        """DuckDB's `rowid` pseudo-column of a relation that has no column of that name (the
        point-in-time macro fetches the picked rows of a table by it)."""
        return source.column == "rowid" and "rowid" not in self.known.get(source.node, ["rowid"])

    def _record(self, node: Node, column: sql.SqlColumn) -> None:
        edges: dict[tuple[ColumnId, str], tuple[Step, ...]] = {}
        for item in column.inputs:
            source = ColumnId(self._node_of(item.relation), item.column)
            if self._row_identity(source):
                continue  # which row, not a value: the row's columns are traced themselves
            steps = item.steps
            if item.role == VALUE and not steps and item.column != column.name:
                steps = (Step("rename"),)
            edges[(source, item.role)] = steps
        inputs = tuple(
            Edge(source, role, steps)
            for (source, role), steps in sorted(edges.items(), key=lambda kv: kv[0])
        )
        column_id = ColumnId(node.unique_id, column.name)
        self.columns[column_id] = ColumnLineage(
            column_id, inputs, "; ".join(column.unresolved) or None
        )

    def _node_of(self, relation: sql.Relation) -> str:
        found = self.relations.get(relation)
        if found is None and relation:  # () is a table function, e.g. generate_series
            candidates = [
                uid
                for uid in self.by_name.get(relation[-1], [])
                if relation_of(self.manifest.nodes[uid])[-len(relation) :] == relation
            ]
            found = candidates[0] if len(candidates) == 1 else None
        if found is not None:
            return found
        pseudo = "relation:" + ".".join(relation)
        if pseudo not in self.infos:
            self.infos[pseudo] = NodeInfo(
                pseudo, ".".join(relation), "relation", relation=".".join(relation)
            )
        return pseudo

    def _unresolved(self, node: Node, names: Sequence[str], reason: str) -> None:
        if len(names) > 1 or not names:
            self.problems[node.unique_id] = reason
        for name in names:
            column_id = ColumnId(node.unique_id, name)
            self.columns[column_id] = ColumnLineage(column_id, (), reason)

    def _labels(self, unique_ids: Iterable[str]) -> list[str]:
        return [self.infos[u].label for u in unique_ids if u in self.infos]


def _topological(manifest: Manifest) -> list[str]:
    """Models and snapshots, every node after the nodes it depends on."""
    order: list[str] = []
    state: dict[str, int] = {}
    for start in sorted(manifest.nodes):
        if manifest.nodes[start].resource_type not in _ANALYZED or start in state:
            continue
        stack = [(start, iter(manifest.nodes[start].depends_on))]
        state[start] = 1
        while stack:
            current, deps = stack[-1]
            nxt = next(deps, None)
            if nxt is None:
                stack.pop()
                state[current] = 2
                order.append(current)
            elif (
                nxt in manifest.nodes
                and nxt not in state
                and manifest.nodes[nxt].resource_type in _ANALYZED
            ):
                state[nxt] = 1
                stack.append((nxt, iter(manifest.nodes[nxt].depends_on)))
    return order


def _csv_header(path: Path) -> list[str] | None:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), None)
    except OSError:
        return None
    return [h.strip().lower() for h in header] if header else None


def columns_of(lineage: ProjectLineage, unique_id: str) -> list[str]:
    """The columns lineage knows of a node: its own outputs, or those others read from it."""
    own = [c.column for c in lineage.columns if c.node == unique_id]
    if own:
        return own
    read = {
        e.source.column
        for c in lineage.columns.values()
        for e in c.inputs
        if e.source.node == unique_id
    }
    return sorted(read)
