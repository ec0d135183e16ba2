"""Read dbt's artifacts (manifest.json v12, run_results.json, catalog.json) into frozen records.

Nothing here knows about feature views; `registry` builds those from the nodes read here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featurehouse.errors import ManifestError
from featurehouse.project.exposures import Exposure, exposure
from featurehouse.refs import format_view

SUPPORTED_MANIFEST_VERSION = 12
_SCHEMA_VERSION = re.compile(r"/(?P<kind>[a-z-]+)/v(?P<version>\d+)\.json$")
_TESTABLE = ("model", "seed", "snapshot")


@dataclass(frozen=True)
class Column:
    """One column as the model's YAML (and contract) declares it."""

    name: str
    data_type: str | None
    description: str = ""


@dataclass(frozen=True)
class Node:
    """A model, seed, snapshot, data test or unit test of the manifest."""

    unique_id: str
    resource_type: str
    name: str
    package_name: str
    version: int | None = None
    latest_version: int | None = None
    database: str | None = None
    schema: str | None = None
    alias: str | None = None
    columns: tuple[Column, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    attached_node: str | None = None
    description: str = ""
    contract_enforced: bool = False
    deprecation_date: str | None = None
    original_file_path: str = ""
    language: str = "sql"
    compiled_code: str | None = None  # present once dbt compiled or built the node
    relation_name: str | None = None
    source_name: str | None = None  # sources only
    column_types: Mapping[str, str] = field(default_factory=dict)  # seeds' pinned types
    file_path: str | None = None  # seeds: the absolute path of the CSV file
    test_name: str | None = None  # generic tests: the test's name (e.g. distribution_drift)
    test_kwargs: Mapping[str, Any] = field(default_factory=dict)  # and its arguments
    column_name: str | None = None  # column tests: the column
    freshness: bool = False  # sources only: declares a warn_after or error_after
    macros: tuple[str, ...] = ()  # unique ids of the macros the node's SQL calls

    @property
    def label(self) -> str:
        """The name a person types: `name`, `name.vN`, or `source_name.table` for sources."""
        if self.source_name is not None:
            return f"{self.source_name}.{self.name}"
        return format_view(self.name, self.version)


@dataclass(frozen=True)
class Manifest:
    """The parts of manifest.json Featurehouse uses."""

    path: Path
    dbt_version: str
    adapter_type: str
    project_name: str
    generated_at: str
    checksum: str  # of the file: changes with every dbt invocation
    code_key: str  # of what renders SQL (see _code_key): the same across builds of the same code
    nodes: Mapping[str, Node]
    exposures: Mapping[str, Exposure] = field(default_factory=dict)
    invocation_id: str = ""  # the dbt invocation that wrote it (its run_results.json's too)
    package_version: str | None = None  # of the featurehouse dbt package it was built with

    def models(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.resource_type == "model"]

    def tests_of(self, unique_ids: set[str]) -> list[Node]:
        """Data and unit tests of any of `unique_ids`: generic tests by the node they are
        attached to, singular and unit tests by what they depend on."""
        return sorted(
            (
                n
                for n in self.nodes.values()
                if n.resource_type in ("test", "unit_test")
                and (
                    n.attached_node in unique_ids
                    if n.attached_node
                    else bool(unique_ids.intersection(n.depends_on))
                )
            ),
            key=lambda n: n.unique_id,
        )

    def upstream(self, unique_id: str) -> set[str]:
        """`unique_id` and every model, seed and snapshot it depends on, transitively."""
        seen: set[str] = set()
        todo = [unique_id]
        while todo:
            current = todo.pop()
            if current in seen or current not in self.nodes:
                continue
            seen.add(current)
            todo.extend(self.nodes[current].depends_on)
        return {u for u in seen if self.nodes[u].resource_type in _TESTABLE}


@dataclass(frozen=True)
class RunResult:
    unique_id: str
    status: str  # success, error, skipped, pass, fail, warn, runtime error, no-op
    message: str = ""


@dataclass(frozen=True)
class RunResults:
    path: Path
    generated_at: str
    invocation_id: str
    results: Mapping[str, RunResult]
    vars: Mapping[str, Any] = field(default_factory=dict)  # --vars of that dbt invocation
    target: str | None = None  # its --target (or $DBT_TARGET); None: the profile's default
    hooks: Mapping[str, str] = field(default_factory=dict)  # on-run-* hook -> compiled code


@dataclass(frozen=True)
class Catalog:
    """Relations that existed at `dbt docs generate`, with their warehouse column types."""

    path: Path
    generated_at: str
    columns: Mapping[str, Mapping[str, str]]  # unique_id -> column name -> type


@dataclass(frozen=True)
class Artifacts:
    """Everything read from one dbt target directory."""

    target_dir: Path
    manifest: Manifest
    run_results: RunResults | None
    catalog: Catalog | None


def load_artifacts(target_dir: Path) -> Artifacts:
    """Read manifest.json (required), run_results.json and catalog.json (when present)."""
    manifest_path = target_dir / "manifest.json"
    if not manifest_path.exists():
        raise ManifestError(
            f"{manifest_path} not found: run `dbt build` (or `dbt parse`) in the project first"
        )
    run_results_path = target_dir / "run_results.json"
    catalog_path = target_dir / "catalog.json"
    return Artifacts(
        target_dir=target_dir,
        manifest=load_manifest(manifest_path),
        run_results=load_run_results(run_results_path) if run_results_path.exists() else None,
        catalog=load_catalog(catalog_path) if catalog_path.exists() else None,
    )


def _read_json(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        raw = path.read_bytes()
        return json.loads(raw), raw
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{path}: cannot read dbt artifact ({exc})") from exc


def _schema_version(path: Path, doc: Mapping[str, Any]) -> int:
    url = str(doc.get("metadata", {}).get("dbt_schema_version", ""))
    match = _SCHEMA_VERSION.search(url)
    if match is None:
        raise ManifestError(f"{path}: no dbt_schema_version in metadata; is this a dbt artifact?")
    return int(match["version"])


def load_manifest(path: Path) -> Manifest:
    """Read a manifest.json of schema v12 (dbt 1.8 to 1.11); refuse any other version."""
    doc, raw = _read_json(path)
    found = _schema_version(path, doc)
    if found != SUPPORTED_MANIFEST_VERSION:
        raise ManifestError(
            f"{path}: manifest schema v{found} is not supported (need "
            f"v{SUPPORTED_MANIFEST_VERSION}): rebuild it with dbt 1.11 (`dbt parse`)"
        )
    meta = doc["metadata"]
    nodes = {uid: _node(data) for uid, data in doc.get("nodes", {}).items()}
    nodes.update({uid: _unit_test(data) for uid, data in doc.get("unit_tests", {}).items()})
    nodes.update({uid: _source(data) for uid, data in doc.get("sources", {}).items()})
    return Manifest(
        path=path,
        dbt_version=str(meta.get("dbt_version", "")),
        adapter_type=str(meta.get("adapter_type", "")),
        project_name=str(meta.get("project_name", "")),
        generated_at=str(meta.get("generated_at", "")),
        checksum=hashlib.sha256(raw).hexdigest(),
        code_key=_code_key(doc),
        nodes=nodes,
        exposures={uid: exposure(data) for uid, data in (doc.get("exposures") or {}).items()},
        invocation_id=str(meta.get("invocation_id", "")),
        package_version=macros_package_version(doc.get("macros") or {}),
    )


_STABLE_FIELDS = (
    "checksum",
    "relation_name",
    "database",
    "schema",
    "alias",
    "identifier",
    "config",
    "columns",
    "version",
    "latest_version",
    "depends_on",
)


def _code_key(doc: Mapping[str, Any]) -> str:
    """A checksum of what rendering a macro call can depend on: dbt and adapter versions, every
    macro's SQL, every node's and source's file checksum, relation, config, columns, versions.
    Unlike the file's checksum it leaves out what each dbt invocation changes (generated_at,
    invocation_id, compiled code), so SQL rendered after one build serves the next build."""
    meta = doc.get("metadata") or {}
    parts = {
        "dbt": meta.get("dbt_version"),
        "adapter": meta.get("adapter_type"),
        "macros": {uid: m.get("macro_sql") for uid, m in (doc.get("macros") or {}).items()},
        "nodes": {
            uid: {k: node.get(k) for k in _STABLE_FIELDS}
            for section in ("nodes", "sources")
            for uid, node in (doc.get(section) or {}).items()
        },
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _node(data: Mapping[str, Any]) -> Node:
    config = data.get("config") or {}
    test = data.get("test_metadata") or {}
    version = data.get("version")
    latest = data.get("latest_version")
    seed_file = (
        str(Path(data["root_path"]) / data.get("original_file_path", ""))
        if data.get("resource_type") == "seed" and data.get("root_path")
        else None
    )
    return Node(
        unique_id=data["unique_id"],
        resource_type=data["resource_type"],
        name=data["name"],
        package_name=data.get("package_name", ""),
        version=_as_version(version),
        latest_version=_as_version(latest),
        database=data.get("database"),
        schema=data.get("schema"),
        alias=data.get("alias"),
        columns=_columns(data),
        meta=config.get("meta") or data.get("meta") or {},
        depends_on=tuple((data.get("depends_on") or {}).get("nodes", ())),
        attached_node=data.get("attached_node"),
        description=data.get("description") or "",
        contract_enforced=bool((config.get("contract") or {}).get("enforced")),
        deprecation_date=data.get("deprecation_date"),
        original_file_path=data.get("original_file_path", ""),
        language=str(data.get("language") or "sql"),
        compiled_code=data.get("compiled_code"),
        relation_name=data.get("relation_name"),
        column_types=dict(config.get("column_types") or {}),
        file_path=seed_file,
        test_name=test.get("name"),
        test_kwargs=test.get("kwargs") or {},
        column_name=data.get("column_name"),
        macros=tuple((data.get("depends_on") or {}).get("macros", ())),
    )


def _source(data: Mapping[str, Any]) -> Node:
    return Node(
        unique_id=data["unique_id"],
        resource_type="source",
        name=data["name"],
        package_name=data.get("package_name", ""),
        database=data.get("database"),
        schema=data.get("schema"),
        alias=data.get("identifier") or data["name"],
        columns=_columns(data),
        meta=(data.get("config") or {}).get("meta") or data.get("meta") or {},
        description=data.get("description") or "",
        original_file_path=data.get("original_file_path", ""),
        relation_name=data.get("relation_name"),
        source_name=data.get("source_name"),
        freshness=_declares_freshness(data),
    )


def _declares_freshness(source: Mapping[str, Any]) -> bool:
    """Whether `dbt source freshness` checks the source (a warn_after or error_after count)."""
    for found in (source.get("freshness"), (source.get("config") or {}).get("freshness")):
        for key in ("warn_after", "error_after"):
            if ((found or {}).get(key) or {}).get("count") is not None:
                return True
    return False


def _columns(data: Mapping[str, Any]) -> tuple[Column, ...]:
    return tuple(
        Column(name=c["name"], data_type=c.get("data_type"), description=c.get("description", ""))
        for c in (data.get("columns") or {}).values()
    )


def _unit_test(data: Mapping[str, Any]) -> Node:
    return Node(
        unique_id=data["unique_id"],
        resource_type="unit_test",
        name=data["name"],
        package_name=data.get("package_name", ""),
        depends_on=tuple((data.get("depends_on") or {}).get("nodes", ())),
        original_file_path=data.get("original_file_path", ""),
    )


def _as_version(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def load_run_results(path: Path) -> RunResults:
    """Read run_results.json: the status of every node of the last dbt invocation."""
    doc, _ = _read_json(path)
    _schema_version(path, doc)
    results = {
        r["unique_id"]: RunResult(
            unique_id=r["unique_id"],
            status=str(r.get("status", "")),
            message=r.get("message") or "",
        )
        for r in doc.get("results", [])
    }
    meta = doc["metadata"]
    return RunResults(
        path=path,
        generated_at=str(meta.get("generated_at", "")),
        invocation_id=str(meta.get("invocation_id", "")),
        results=results,
        vars=(doc.get("args") or {}).get("vars") or {},
        target=(doc.get("args") or {}).get("target") or None,
        hooks={
            r["unique_id"]: r.get("compiled_code") or ""
            for r in doc.get("results", [])
            if r["unique_id"].startswith("operation.")
        },
    )


def load_catalog(path: Path) -> Catalog:
    """Read catalog.json (`dbt docs generate`): relations that exist and their column types."""
    doc, _ = _read_json(path)
    _schema_version(path, doc)
    columns = {
        uid: {c["name"]: str(c.get("type", "")) for c in (entry.get("columns") or {}).values()}
        for uid, entry in (doc.get("nodes") or {}).items()
    }
    return Catalog(
        path=path, generated_at=str(doc["metadata"].get("generated_at", "")), columns=columns
    )


PACKAGE_NAME = "featurehouse"  # the dbt package's name


def macros_package_version(macros: Mapping[str, Any]) -> str | None:
    """What the featurehouse dbt package's `version()` macro returns (None: no package)."""
    sql = str((macros.get(f"macro.{PACKAGE_NAME}.version") or {}).get("macro_sql") or "")
    found = re.search(r"return\(\s*['\"]([^'\"]+)['\"]\s*\)", sql)
    return found[1] if found else None
