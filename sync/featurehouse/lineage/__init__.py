"""Column lineage: from each feature back to seed and source columns, through every model.

Computed with sqlglot from the compiled SQL in the manifest (`project`, `sql`); a view
version's share is stored with its Redis metadata (`view`), shown as trees, Mermaid or DOT
(`render`) and read backwards by `impact`.
"""

from featurehouse.lineage.impact import Impact, impact
from featurehouse.lineage.project import build_lineage, cache_dir, compute_lineage
from featurehouse.lineage.records import (
    ROLES,
    VALUE,
    ColumnId,
    ColumnLineage,
    Edge,
    NodeInfo,
    ProjectLineage,
    Step,
)
from featurehouse.lineage.view import TreeNode, ViewLineage, stored_lineage, view_lineage

__all__ = [
    "ROLES",
    "VALUE",
    "ColumnId",
    "ColumnLineage",
    "Edge",
    "Impact",
    "NodeInfo",
    "ProjectLineage",
    "Step",
    "TreeNode",
    "ViewLineage",
    "build_lineage",
    "cache_dir",
    "compute_lineage",
    "impact",
    "stored_lineage",
    "view_lineage",
]
