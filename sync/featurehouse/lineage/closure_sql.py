"""SQL from a proved restriction: the source rows some entities need, the entities some new
rows affect. Part of the lineage package (sqlglot's only user); `restrict` proves."""

from __future__ import annotations

from collections.abc import Sequence

import sqlglot
from sqlglot import exp

from featurehouse.lineage.restrict import Closure, Restriction


def restricted_sql(
    found: Restriction, source: str, touched: str, keys: Sequence[str], dialect: str | None
) -> str:
    """`select * from <source>` restricted to the rows some view row of the entities in
    `touched` (a relation with the key columns `keys`) depends on; all rows when no
    restriction was proved."""
    if not found.proved:
        return f"select * from {source}"
    wanted = [_needed(c, source, touched, keys, dialect) for c in found.closures]
    return f"select * from {source} as fh_row where " + "\n    or ".join(wanted)


def affected_sql(
    found: Restriction, source: str, new_rows: str, keys: Sequence[str], dialect: str | None
) -> str:
    """The entities (columns `keys`) whose view rows the rows of `new_rows` (now part of
    `source`) may change: their keys, and the keys of rows they share a closure step with."""
    if not found.proved:
        raise ValueError("no restriction: every entity may change")
    parts = []
    for closure in found.closures:
        rows = f"select * from {new_rows}"
        for step in reversed(closure.steps[1:]):
            rows = f"select * from {source} as fh_row where {_match(step, rows, dialect)}"
        exprs = [_qualified(e, "fh_hit", dialect) for e in closure.steps[0]]
        columns = ", ".join(f"{e} as {_q(k)}" for e, k in zip(exprs, keys, strict=True))
        not_null = " and ".join(f"{e} is not null" for e in exprs)
        parts.append(f"select {columns} from ({rows}) as fh_hit where {not_null}")
    return "select distinct * from (\n" + "\nunion all\n".join(parts) + "\n) as fh_affected"


def _needed(
    closure: Closure, source: str, touched: str, keys: Sequence[str], dialect: str | None
) -> str:
    """The predicate on `fh_row` (a row of source) that the closure needs it."""
    key_list = ", ".join(_q(k) for k in keys)
    first = [_qualified(e, "fh_row", dialect) for e in closure.steps[0]]
    condition = f"({', '.join(first)}) in (select {key_list} from {touched})"
    for step in closure.steps[1:]:
        rows = f"select * from {source} as fh_row where {condition}"
        condition = _match(step, rows, dialect)
    return f"({condition})"


def _match(step: Sequence[str], rows: str, dialect: str | None) -> str:
    """`fh_row` shares `step`'s values with a row of `rows`; null matches null (a window
    partition of nulls is one partition)."""
    mine = [_qualified(e, "fh_row", dialect) for e in step]
    theirs = [_qualified(e, "fh_other", dialect) for e in step]
    if len(step) == 1:
        return (
            f"{mine[0]} in (select {theirs[0]} from ({rows}) as fh_other)"
            f" or ({mine[0]} is null and exists (select 1 from ({rows}) as fh_other"
            f" where {theirs[0]} is null))"
        )
    same = " and ".join(f"{a} is not distinct from {b}" for a, b in zip(mine, theirs, strict=True))
    return f"exists (select 1 from ({rows}) as fh_other where {same})"


def _qualified(expression: str, alias: str, dialect: str | None) -> str:
    """A step's expression over the source's columns, its columns taken from `alias`."""

    def qualify_column(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table:
            return exp.column(node.name, table=alias)
        return node

    tree = sqlglot.parse_one(expression, dialect=dialect)
    return tree.transform(qualify_column).sql(dialect=dialect)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
