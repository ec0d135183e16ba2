"""Column lineage of one compiled SQL statement: parse it and trace every output column.

The lineage package (this module, `scopes` and `trace`) is the only code importing sqlglot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import build_scope

from featurehouse.lineage.scopes import Relation
from featurehouse.lineage.trace import SqlColumn, SqlInput, Tracer

__all__ = ["Relation", "SqlColumn", "SqlInput", "SqlLineage", "analyze", "dialect_of"]
_DIALECTS = ("duckdb", "postgres", "redshift", "snowflake", "bigquery", "spark", "databricks")


@dataclass(frozen=True)
class SqlLineage:
    """Every output column of a statement with its inputs; `error` when it did not parse."""

    columns: tuple[SqlColumn, ...]
    star_unexpanded: bool = False  # the output list is a `*` over columns nobody knows
    error: str | None = None


def dialect_of(adapter_type: str) -> str | None:
    return adapter_type if adapter_type in _DIALECTS else None


def analyze(
    sql: str,
    dialect: str | None,
    schema: Mapping[Relation, Sequence[str]],
    expected: Sequence[str] = (),
) -> SqlLineage:
    """Lineage of each output column of `sql` (`expected` names them when it ends in `*`)."""
    try:
        root = build_scope(sqlglot.parse_one(sql, dialect=dialect))
    except SqlglotError as exc:
        return SqlLineage((), error=" ".join(str(exc).split())[:300])
    if root is None:
        return SqlLineage((), error="not a query")
    tracer = Tracer(root, dialect, schema)
    names = tracer.names(root)
    star = names is None
    return SqlLineage(
        tuple(tracer.output(name) for name in (expected if names is None else names)),
        star_unexpanded=star,
    )
