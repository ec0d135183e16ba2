"""What a run would do (`--dry-run`) and the as-of dates of a backfill (`--from/--to`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from featurehouse.errors import ConfigError, FeaturehouseError
from featurehouse.pipeline import dbt, gate, lock
from featurehouse.pipeline.run import RunOptions, RunReport, build_vars
from featurehouse.project.manifest import load_manifest
from featurehouse.project.registry import build_registry
from featurehouse.project.settings import Project, Target
from featurehouse.warehouse.history import monitoring_schema

MAX_DAYS = 3660


@dataclass(frozen=True)
class Plan:
    """A dry run: the dbt nodes the build would run and the view versions it would gate."""

    as_of: datetime
    clock: str
    dbt_command: str
    nodes: tuple[str, ...]
    views: tuple[str, ...]
    freshness_sources: tuple[str, ...]
    lock: Path
    lock_holder: dict[str, Any] | None
    records: str
    publish: bool


def plan(project: Project, target: Target, options: RunOptions, report: RunReport) -> Plan:
    """`dbt ls` of the selection (it parses the project, nothing is built or published)."""
    variables = build_vars(options, report)
    nodes = dbt.list_nodes(project, target, options.refs, variables) if options.build else []
    manifest = load_manifest(project.target_dir / "manifest.json")
    views = build_registry(manifest).select(list(options.refs))
    command = ["dbt", "build", *dbt.select_args(options.refs), *dbt.vars_args(variables)]
    return Plan(
        as_of=report.as_of,
        clock=report.clock,
        dbt_command=" ".join(command) if options.build else "(no build: the last build's results)",
        nodes=tuple(nodes),
        views=tuple(v.ref for v in views),
        freshness_sources=tuple(
            manifest.nodes[uid].label for uid in gate.freshness_sources(views, manifest)
        ),
        lock=lock.lock_path(project.target_dir),
        lock_holder=lock.held_by(project.target_dir),
        records=f"{monitoring_schema(project)}.run_history, run_views, sync_history",
        publish=options.publish,
    )


def days(start: datetime, end: datetime) -> list[datetime]:
    """The daily as-of times of a backfill: each midnight (UTC) from `start` to `end`."""
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    last = end.replace(hour=0, minute=0, second=0, microsecond=0)
    if last < first:
        raise ConfigError(f"--to {end.date()} is before --from {start.date()}: swap them")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ConfigError(f"--from/--to span {count} days; backfill at most {MAX_DAYS} at once")
    return [first + timedelta(days=i) for i in range(count)]


class BackfillStopped(FeaturehouseError):
    """A backfill day failed; later days were not run."""
