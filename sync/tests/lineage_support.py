"""Helpers of the lineage tests: golden files and trees of whole models.

Golden trees live in sync/tests/golden/; regenerate them with FEATUREHOUSE_UPDATE_GOLDEN=1 and
review the diff by hand before committing (they are the reviewed truth, not a snapshot).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from featurehouse.lineage import ColumnId, ProjectLineage
from featurehouse.lineage.render import tree_text
from featurehouse.lineage.view import build_tree

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("FEATUREHOUSE_UPDATE_GOLDEN") == "1"


def check_golden(path: Path, text: str) -> None:
    """`text` must equal the golden file (or rewrites it when FEATUREHOUSE_UPDATE_GOLDEN=1)."""
    text = text.rstrip("\n") + "\n"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing: run with FEATUREHOUSE_UPDATE_GOLDEN=1, then review it")
    expected = path.read_text(encoding="utf-8")
    if expected != text:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                str(path),
                "computed",
            )
        )
        pytest.fail(f"lineage differs from {path}:\n{diff}")


def node_id(lineage: ProjectLineage, label: str) -> str:
    found = [uid for uid, info in lineage.nodes.items() if info.label == label]
    assert len(found) == 1, f"{label}: {found}"
    return found[0]


def model_trees(lineage: ProjectLineage, label: str) -> str:
    """Every output column's tree of one model, in output order."""
    uid = node_id(lineage, label)
    columns = [c for c in lineage.columns if c.node == uid]
    return "\n\n".join(tree_text(build_tree(lineage, c), f"{label}.{c.column}") for c in columns)


def leaves_in(text: str) -> set[str]:
    """`model.column` of every seed/source line of a golden tree."""
    found = set()
    for line in text.splitlines():
        if line.endswith("(seed)") or line.endswith("(source)"):
            found.add(line.split("── ", 1)[1].split("  [", 1)[0])
    return found


def column(lineage: ProjectLineage, label: str, name: str) -> ColumnId:
    return ColumnId(node_id(lineage, label), name)
