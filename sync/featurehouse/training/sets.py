"""Training sets: every spine row once, with each requested feature as of the row's timestamp.

The SQL is the dbt macro `featurehouse.point_in_time_join`, rendered by dbt once per request
shape over fixed relation names and cached per manifest (`render.inline_sql`); the spine (Arrow,
pandas, Parquet or SQL) is bound to those names in the target's DuckDB file (read-only) or the
Spark session (as Arrow). Everything is validated before dbt or the join run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import pyarrow as pa

from featurehouse.errors import FeaturehouseError, OfflineStoreError, TrainingSetError
from featurehouse.project import render
from featurehouse.project.manifest import Artifacts
from featurehouse.project.registry import FeatureView, Registry, validate_built
from featurehouse.project.settings import Project, Target
from featurehouse.refs import parse_feature, qualified
from featurehouse.training.sql import ROW, SPINE_AT, macro_call, wrap
from featurehouse.types import accepts_key
from featurehouse.warehouse import (
    SpineWarehouse,
    Warehouse,
    adapter,
    connect,
    relation_exists,
)
from featurehouse.warehouse.duckdb import parquet_rows

log = logging.getLogger(__name__)
_INPUT = "__featurehouse_input"  # an Arrow spine, registered on the connection


@dataclass(frozen=True)
class ViewRequest:
    """One view version as referenced (pinned `view.vN` or latest `view`) and its features."""

    view: FeatureView
    pinned: bool
    features: tuple[str, ...]

    @property
    def label(self) -> str:
        """The reference as written: `view.vN` when pinned, else `view`."""
        return self.view.ref if self.pinned else self.view.name

    @property
    def prefix(self) -> str:
        """Output columns are `<view>__vN__<feature>` (pinned) or `<view>__<feature>`."""
        return qualified(self.view.name, self.view.version if self.pinned else None, "")

    @property
    def event_column(self) -> str:
        """When the matched feature row took effect; null when no row matched."""
        return self.prefix + self.view.event_timestamp

    @property
    def columns(self) -> list[str]:
        return [self.prefix + f for f in self.features] + [self.event_column]


@dataclass(frozen=True)
class Spine:
    """Where the spine rows come from, as SQL the wrapper selects from."""

    kind: Literal["arrow", "parquet", "sql"]
    source: str  # a relation: the registered Arrow name, read_parquet(...), or (query)
    select: str  # the select list adding ROW
    table: pa.Table | None = None
    rows: int | None = None  # when known before the join (Arrow, Parquet metadata)
    path: Path | None = None  # the Parquet file

    @property
    def what(self) -> str:
        kinds = {"arrow": "the spine table", "parquet": "the spine file", "sql": "the spine query"}
        return kinds[self.kind]


@dataclass(frozen=True)
class Prepared:
    """A validated request: the SQL to run and what it will produce."""

    requests: tuple[ViewRequest, ...]
    spine: Spine
    timestamp_column: str
    as_known_at: bool
    sql: str
    metadata: dict[bytes, bytes]


def prepare(
    project: Project,
    target: Target,
    artifacts: Artifacts,
    registry: Registry,
    spine: Any,
    features: Sequence[str],
    *,
    timestamp_column: str | None = None,
    as_known_at: bool = False,
    keep_order: bool = True,
) -> Prepared:
    """Validate everything (one TrainingSetError listing every problem), then render the SQL;
    `keep_order=False`: the rows in any order (no sort keeping the spine's)."""
    kind = adapter(target)
    if not kind.reads_spines:
        raise TrainingSetError(
            f"target {target.name!r} is {target.type}: training sets from Python read DuckDB "
            "or Spark; here build a dbt model with featurehouse.point_in_time_join"
        )
    problems: list[str] = []
    requests = plan_requests(registry, features, as_known_at, problems)
    source = spine_input(spine)
    if source.kind == "parquet" and not cast(type[SpineWarehouse], kind).reads_parquet:
        import pyarrow.parquet as pq  # here only: DuckDB reads the file itself (~9 MB unloaded)

        source = spine_input(pq.read_table(source.path))  # the warehouse reads Arrow only
    with connect(project, target) as warehouse:
        schema = _spine_schema(_duck(warehouse, source), source, problems)
        column = check_spine(schema, timestamp_column, requests, source, problems)
        _check_built(requests, artifacts, warehouse, problems)
    if problems:
        raise TrainingSetError(_joined(problems))
    on_duckdb = kind.adapter == "duckdb"
    call = macro_call(
        requests, as_known_at, spine_row=ROW if on_duckdb else "", in_order=keep_order
    )
    macro_sql = render.inline_sql(project, target, artifacts.manifest, call)
    return Prepared(
        requests=tuple(requests),
        spine=source,
        timestamp_column=str(column),
        as_known_at=as_known_at,
        sql=wrap(macro_sql, source, str(column), duckdb=on_duckdb, in_order=keep_order),
        metadata=_metadata(requests, as_known_at, artifacts),
    )


def execute(
    project: Project, target: Target, prepared: Prepared, batch_size: int
) -> pa.RecordBatchReader:
    """Run the prepared SQL; the reader owns a read-only connection, closed when exhausted."""
    stack = contextlib.ExitStack()
    try:
        warehouse = _duck(stack.enter_context(connect(project, target)), prepared.spine)
        reader = warehouse.reader(prepared.sql, {}, batch_size)
    except BaseException:
        stack.close()
        raise
    kept = [i for i, f in enumerate(reader.schema) if f.name not in (SPINE_AT, ROW)]
    schema = pa.schema([reader.schema.field(i) for i in kept], metadata=prepared.metadata)

    def batches() -> Iterator[pa.RecordBatch]:
        with stack:
            for batch in reader:
                yield pa.RecordBatch.from_arrays([batch.column(i) for i in kept], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def plan_requests(
    registry: Registry, features: Sequence[str], as_known_at: bool, problems: list[str]
) -> list[ViewRequest]:
    """Group `view[.vN]:feature` references (`view[.vN]:*` = every feature) by reference."""
    if isinstance(features, str) or not features:
        problems.append("no features asked for: pass a list of `view[.vN]:feature` references")
        return []
    wanted: dict[tuple[str, bool], tuple[FeatureView, list[str]]] = {}
    for ref in features:
        try:
            asked = parse_feature(str(ref).strip())
            view = registry.resolve(str(asked.view))
            name = asked.feature
            names = [f.name for f in view.features] if name == "*" else [view.feature(name).name]
        except FeaturehouseError as exc:
            problems.append(str(exc))
            continue
        pinned = asked.view.version is not None
        _, chosen = wanted.setdefault((view.ref, pinned), (view, []))
        chosen.extend(n for n in names if n not in chosen)
    requests = [ViewRequest(v, pinned, tuple(f)) for (_, pinned), (v, f) in wanted.items()]
    for request in requests:
        if as_known_at and request.view.created_timestamp is None:
            problems.append(
                f"as_known_at needs a created_timestamp but {request.view.ref} declares none: "
                "set config.meta.feature_store.created_timestamp or use as_known_at=False"
            )
    return requests


def spine_input(spine: Any) -> Spine:
    """Recognise the spine: Arrow table/batch, pandas DataFrame, Parquet path, or SQL text."""
    if type(spine).__module__.split(".")[0] == "pandas" and type(spine).__name__ == "DataFrame":
        spine = pa.Table.from_pandas(spine)
    if isinstance(spine, pa.RecordBatch):
        spine = pa.Table.from_batches([spine])
    if isinstance(spine, pa.Table):
        rows = pa.array(range(spine.num_rows), pa.int64())
        table = spine.append_column(ROW, rows)
        return Spine("arrow", _INPUT, "*", table=table, rows=spine.num_rows)
    if isinstance(spine, os.PathLike) or (
        isinstance(spine, str) and spine.strip().lower().endswith(".parquet")
    ):
        path = Path(spine).expanduser().resolve()
        if not path.is_file():
            raise TrainingSetError(f"spine file {path} not found")
        try:
            rows = parquet_rows(path)
        except OfflineStoreError as exc:
            raise TrainingSetError(f"spine file {path} is not Parquet ({exc})") from exc
        quoted = "'" + str(path).replace("'", "''") + "'"
        select = f"* exclude (file_row_number), file_row_number as {ROW}"
        source = f"read_parquet({quoted}, file_row_number = true)"
        return Spine("parquet", source, select, None, rows, path)
    if isinstance(spine, str) and spine.strip():
        query = spine.strip().rstrip(";")
        return Spine(
            "sql", f"(\n{query}\n) as __featurehouse_query", f"*, row_number() over () as {ROW}"
        )
    raise TrainingSetError(
        f"cannot use a {type(spine).__name__} as the spine: pass a pyarrow.Table, a pandas "
        "DataFrame, a Parquet path (pathlib.Path or a str ending in .parquet) or a SQL query"
    )


def check_spine(
    schema: pa.Schema | None,
    timestamp_column: str | None,
    requests: Sequence[ViewRequest],
    spine: Spine,
    problems: list[str],
) -> str | None:
    """The spine's timestamp column (named or its only one); keys present, of the right type."""
    if schema is None:
        return timestamp_column
    fields = {f.name.lower(): f for f in schema if f.name != ROW}
    shown = ", ".join(fields) or "none"
    column = _timestamp_column(fields, timestamp_column, spine, problems)
    for request in requests:
        for key in request.view.keys:
            found = fields.get(key.name.lower())
            if found is None:
                problems.append(
                    f"{spine.what} has no column {key.name!r} to join {request.label} on "
                    f"(columns: {shown}): add it, or rename the entity column to {key.name!r}"
                )
            elif not accepts_key(key.online_type, found.type):
                hint = " (pandas: dtype 'Int64' keeps integers with nulls)"
                problems.append(
                    f"{spine.what} column {found.name!r} is {found.type} but {request.label} "
                    f"keys {key.name!r} are {key.data_type}: cast it"
                    + (hint if pa.types.is_floating(found.type) else "")
                )
    owners = {name: spine.what for name in fields}
    for request in requests:
        for name in request.columns:
            owner = owners.setdefault(name.lower(), request.label)
            if owner != request.label:
                problems.append(
                    f"output column {name!r} of {request.label} clashes with {owner}: "
                    "rename the spine column"
                )
    return column


def _timestamp_column(
    fields: dict[str, pa.Field], named: str | None, spine: Spine, problems: list[str]
) -> str | None:
    stamps = [f.name for f in fields.values() if _is_time(f.type)]
    if named is None:
        if len(stamps) == 1:
            return stamps[0]
        found = f"several ({', '.join(stamps)})" if stamps else "none"
        problems.append(
            f"{spine.what} needs one timestamp column, found {found} among "
            f"{', '.join(fields) or 'no columns'}: pass timestamp_column (--timestamp-column)"
        )
        return None
    field = fields.get(named.lower())
    if field is None:
        problems.append(
            f"{spine.what} has no timestamp column {named!r} (columns: {', '.join(fields)})"
        )
    elif not _is_time(field.type):
        problems.append(
            f"{spine.what} column {named!r} is {field.type}, not a timestamp or date: cast it"
        )
    return None if field is None else field.name


def match_counts(batch: pa.RecordBatch, requests: Sequence[ViewRequest]) -> dict[str, int]:
    """Per view reference, the rows of `batch` a feature row matched."""
    return {r.label: len(batch) - batch.column(r.event_column).null_count for r in requests}


def _duck(warehouse: Warehouse, spine: Spine) -> SpineWarehouse:
    """The DuckDB warehouse with the Arrow spine (if any) registered under its name."""
    duck = cast(SpineWarehouse, warehouse)
    if spine.table is not None:
        duck.register(_INPUT, spine.table)
    return duck


def _spine_schema(warehouse: SpineWarehouse, spine: Spine, problems: list[str]) -> pa.Schema | None:
    sql = f"select {spine.select} from {spine.source} limit 0"
    try:
        return warehouse.reader(sql, {}, 1).schema
    except FeaturehouseError as exc:
        problems.append(f"cannot read {spine.what}: {exc}")
        return None


def _check_built(
    requests: Sequence[ViewRequest],
    artifacts: Artifacts,
    warehouse: Warehouse,
    problems: list[str],
) -> None:
    try:
        validate_built(
            [r.view for r in requests], artifacts, lambda v: relation_exists(warehouse, v.relation)
        )
    except FeaturehouseError as exc:
        problems.append(str(exc))


def _metadata(
    requests: Sequence[ViewRequest], as_known_at: bool, artifacts: Artifacts
) -> dict[bytes, bytes]:
    """Schema metadata: which view version each column prefix read, the rule, the build."""
    info = {
        "views": {r.prefix: r.view.ref for r in requests},
        "as_known_at": as_known_at,
        "manifest_checksum": artifacts.manifest.checksum,
    }
    return {b"featurehouse": json.dumps(info).encode()}


def _joined(problems: Sequence[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    return f"{len(problems)} problems with the training set request: " + "; ".join(problems)


def _is_time(kind: pa.DataType) -> bool:
    return pa.types.is_timestamp(kind) or pa.types.is_date(kind)
