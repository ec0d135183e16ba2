"""The SQL of a training set: the point-in-time macro call dbt renders (over fixed relation
names, so that one render serves every spine of a request shape) and the wrapper that binds
a spine to those names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class _Request(Protocol):  # sets.ViewRequest, as the macro call reads it
    @property
    def view(self) -> Any: ...  # its FeatureView: name, version
    @property
    def features(self) -> Sequence[str]: ...
    @property
    def prefix(self) -> str: ...


class _Spine(Protocol):  # sets.Spine, as the wrapper reads it
    @property
    def kind(self) -> str: ...
    @property
    def select(self) -> str: ...
    @property
    def source(self) -> str: ...


SPINE = "__featurehouse_spine"  # the relation the rendered macro reads the spine from
SPINE_AT = "__featurehouse_spine_at"  # ... and its timestamp column (naive UTC)
ROW = "__featurehouse_row"  # the spine's row number: the output keeps the spine's order


def macro_call(
    requests: Sequence[_Request], as_known_at: bool, spine_row: str = "", in_order: bool = True
) -> str:
    """Jinja: point_in_time_join over SPINE / SPINE_AT, `spine_row`: a point per spine row
    (on DuckDB in its order, unless not `in_order`)."""
    specs = ", ".join(
        "{"
        f"'model': '{r.view.name}', "
        f"'version': {'none' if r.view.version is None else r.view.version}, "
        f"'features': [{', '.join(repr(f) for f in r.features)}], "
        f"'prefix': '{r.prefix}'"
        "}"
        for r in requests
    )
    known = "true" if as_known_at else "false"
    row = f", spine_row='{spine_row}'" if spine_row else ""
    row += ", in_order=false" if spine_row and not in_order else ""
    return (
        f"{{{{ featurehouse.point_in_time_join('{SPINE}', '{SPINE_AT}', [{specs}], "
        f"as_known_at={known}{row}) }}}}"
    )


def wrap(
    macro_sql: str,
    spine: _Spine,
    timestamp_column: str,
    *,
    duckdb: bool = False,
    in_order: bool = True,
) -> str:
    """Bind the spine to the names the macro was rendered over; keep the spine's row order
    (unless not `in_order`).

    Elsewhere SPINE_AT and ROW stay in the result (`execute` drops them, in every dialect)
    and the rows are sorted by ROW; on DuckDB the macro returns them in ROW order itself
    (`spine_row`), leaves both out, and an Arrow or Parquet spine is scanned where the macro
    reads it rather than materialised first; a query spine is materialised (run once)."""
    quoted = '"' + timestamp_column.replace('"', '""') + '"'
    materialized = (" materialized" if spine.kind == "sql" else " not materialized") * duckdb
    columns = f"* exclude ({SPINE_AT}, {ROW})" if duckdb else "*"
    order = "" if duckdb or not in_order else f"order by {ROW}\n"
    return f"""with

{SPINE} as{materialized} (
    select
        {spine.select},
        cast({quoted} as timestamp) as {SPINE_AT}
    from {spine.source}
)

select {columns}
from (
{macro_sql}
) as __featurehouse_training
{order}"""
