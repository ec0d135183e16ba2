"""Whether a view compiled in rolling_window_agg's at-clock rendering is still exact.

That rendering (var `featurehouse_stream_at_clock`) keeps only each entity's last change
point. The stream may use it when the view passes the macro's rows through row by row (no
filter, join, aggregate, window, distinct or limit above it) with its keys and event
timestamp unchanged: then the view's row at the clock is the macro's. Proved from the SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp

from featurehouse.lineage.chain import parse

MARKER = "_fh_at_clock"  # the CTE the at-clock rendering selects from
_ROW_CHANGING = ("joins", "where", "group", "having", "qualify", "distinct", "limit", "offset")


def passes_through(sql: str, kept: Sequence[str], dialect: str | None, what: str) -> bool:
    """Whether the query's rows are the at-clock macro's rows, one for one, with the columns
    `kept` (keys, event timestamp) selected as they are."""
    tree = parse(sql, dialect, what)
    return isinstance(tree, exp.Select) and _row_wise(tree, {}, {c.lower() for c in kept}, 0)


def _row_wise(
    select: exp.Select, outer: Mapping[str, exp.Expression], kept: set[str], depth: int
) -> bool:
    if depth > 50 or any(select.args.get(a) for a in _ROW_CHANGING):
        return False
    ctes = dict(outer)
    for cte in select.args["with_"].expressions if select.args.get("with_") else ():
        ctes[cte.alias_or_name.lower()] = cte.this
    source = select.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table) or source.this.db:
        return False
    name = source.this.name.lower()
    if name == MARKER:
        return True  # the macro's own select: its rows are the ones at the clock
    if not _projection_keeps(select, kept):
        return False
    body = ctes.get(name)
    inner = {k: v for k, v in ctes.items() if k != name}  # a CTE cannot read itself here
    return isinstance(body, exp.Select) and _row_wise(body, inner, kept, depth + 1)


def _projection_keeps(select: exp.Select, kept: set[str]) -> bool:
    """Row-wise expressions only, and every `kept` column by `*` or by its own name."""
    passed: set[str] = set()
    star = False
    for item in select.expressions:
        if item.find(exp.Window, exp.AggFunc, exp.Subquery, exp.Select) is not None:
            return False
        if isinstance(item, exp.Star):
            star = True
            continue
        target = item.alias_or_name.lower()
        inner = item.this if isinstance(item, exp.Alias) else item
        if target in kept and not (isinstance(inner, exp.Column) and inner.name.lower() == target):
            return False
        passed.add(target)
    return star or kept <= passed
