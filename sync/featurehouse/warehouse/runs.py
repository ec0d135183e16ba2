"""Reading the run records (`history.RUN_HISTORY`, `RUN_VIEWS`): the last runs, and the last
runs per view, for `featurehouse runs` and the catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from featurehouse.errors import OfflineStoreError
from featurehouse.project.registry import Relation
from featurehouse.project.settings import Project, Target
from featurehouse.warehouse import Warehouse, connect, first_line, relation_exists
from featurehouse.warehouse.history import RUN_HISTORY, RUN_VIEWS, monitoring_schema


@dataclass(frozen=True)
class RunRecord:
    """One run as its last row says (a run killed before its end stays `running`)."""

    values: Mapping[str, Any]  # RUN_HISTORY's columns
    views: tuple[Mapping[str, Any], ...] = ()  # its RUN_VIEWS rows

    @property
    def run_id(self) -> str:
        return str(self.values["run_id"])

    @property
    def status(self) -> str:
        return str(self.values["status"])

    @property
    def started_at(self) -> datetime | None:
        return self.values.get("started_at")


def recent(project: Project, target: Target, limit: int = 20) -> list[RunRecord]:
    """The last `limit` runs, newest first, with their views (empty: no run recorded yet)."""
    schema = monitoring_schema(project)
    with connect(project, target) as warehouse:
        if not _exists(warehouse, schema, "run_history"):
            return []
        runs = _rows(warehouse, _last_rows(schema, limit), RUN_HISTORY)
        views = (
            _rows(warehouse, f'select * from "{schema}"."run_views"', RUN_VIEWS)
            if runs and _exists(warehouse, schema, "run_views")
            else []
        )
    runs.sort(key=lambda r: r["started_at"] or datetime.min, reverse=True)
    views.sort(key=lambda v: (v["view"], v["version"] or 0))
    return [RunRecord(run, tuple(v for v in views if v["run_id"] == run["run_id"])) for run in runs]


def per_view(records: Sequence[RunRecord], per: int = 5) -> dict[str, list[Mapping[str, Any]]]:
    """`view.vN` (or `view`) -> its rows of the newest `per` runs that concerned it."""
    found: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        for row in record.views:
            ref = row["view"] if row["version"] is None else f"{row['view']}.v{row['version']}"
            rows = found.setdefault(ref, [])
            if len(rows) < per:
                rows.append({**row, "run_status": record.status})
    return found


def _last_rows(schema: str, limit: int) -> str:
    """The newest row of each of the newest runs (a run writes `running`, then its end)."""
    table = f'"{schema}"."run_history"'
    return (
        f"select * from {table} h where h.recorded_at = (select max(l.recorded_at) from "
        f"{table} l where l.run_id = h.run_id) order by h.started_at desc limit {int(limit)}"
    )


def _exists(warehouse: Warehouse, schema: str, table: str) -> bool:
    return relation_exists(warehouse, Relation(None, schema, table))


def _rows(warehouse: Warehouse, sql: str, columns: Mapping[str, str]) -> list[dict[str, Any]]:
    """The rows of `sql` (in its order) as dicts of `columns`."""
    names = list(columns)
    listed = ", ".join(f't."{n}"' for n in names)
    try:
        rows = warehouse.fetch_all(f"select {listed} from ({sql}) t", {})
    except Exception as exc:  # a driver error: the table has another shape, or is locked
        raise OfflineStoreError(f"cannot read the run records ({first_line(exc)})") from exc
    return [dict(zip(names, row, strict=True)) for row in rows]
