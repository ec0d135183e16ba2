"""Offline -> online: per view version, gate on dbt tests, read the macro's rows, publish.

A full sync writes a new generation that readers see only once it is complete; an incremental
sync merges the rows whose event or created timestamp is newer than the stored watermark.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from featurehouse import lineage as column_lineage
from featurehouse.errors import FeaturehouseError, RegistryError, ValidationGateError
from featurehouse.online import OnlineStore, PublishResult, ViewSchema, ViewState
from featurehouse.project import render
from featurehouse.project.manifest import Artifacts
from featurehouse.project.registry import FeatureView, Registry, validate_built
from featurehouse.project.services import load_services
from featurehouse.project.settings import Project, Target
from featurehouse.sync.services import publish_services
from featurehouse.warehouse import DEFAULT_BATCH_SIZE, Warehouse, adapter, connect, relation_exists
from featurehouse.warehouse.latest import LatestStats, Since, latest_rows, latest_stats
from featurehouse.warehouse.partitioned import (
    HOLD_MEMORY_MB,
    WAREHOUSE_MEMORY_MB,
    read_partitioned,
)
from featurehouse.warehouse.schema import view_schema

log = logging.getLogger(__name__)
Mode = Literal["full", "incremental"]
_PASSED = ("pass", "success")
_FAILED = ("fail", "error", "runtime error")


class Progress(Protocol):
    """What a caller sees of a sync: one start, any number of advances, one finish per view."""

    def start(self, view: str, total: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def finish(self, summary: ViewSummary) -> None: ...


@dataclass(frozen=True)
class SyncOptions:
    as_of: datetime  # naive UTC
    clock: Literal["wall", "as_of"]  # wall: as_of is now; as_of: a fixed (--as-of) time
    mode: Mode = "full"
    force: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE


@dataclass(frozen=True)
class ViewSummary:
    """What one view version's sync did."""

    view: str
    mode: Mode
    as_of: datetime
    rows_read: int
    entities_written: int
    skipped: dict[str, int]
    watermark: datetime | None
    generation: int
    seconds: float
    forced: tuple[str, ...] = ()  # gate problems --force overrode
    notes: tuple[str, ...] = field(default=())
    entities: int = 0  # entities with a row at or before the as-of (what is served)
    expired: int = 0  # of which expired at the as-of (served as tombstones: no values)


def sync(
    project: Project,
    target: Target,
    artifacts: Artifacts,
    registry: Registry,
    refs: Sequence[str],
    store: OnlineStore,
    options: SyncOptions,
    progress: Progress | None = None,
) -> list[ViewSummary]:
    """Sync the selected view versions (default: the latest version of every online view)."""
    views = registry.select(refs)
    if not views:
        raise RegistryError("no online feature views in the manifest: nothing to sync")
    services = load_services(artifacts.manifest, registry)  # a wrong one: before any write
    states = store.views()  # fails fast (one line) when Redis is down
    with connect(project, target) as warehouse:
        validate_built(views, artifacts, lambda view: relation_exists(warehouse, view.relation))
    forced = check_gate(views, artifacts, force=options.force)
    placeholder = adapter(target).param("as_of")
    sqls = render.latest_rows_sql(project, target, artifacts.manifest, views, placeholder)
    lineages = view_lineages(artifacts, views)
    summaries = []
    # A second connection: the first is closed while dbt may render (it locks the file).
    with connect(project, target) as warehouse:
        warehouse.limit_memory(WAREHOUSE_MEMORY_MB, holding=HOLD_MEMORY_MB)
        for view in views:
            state = _state(states, view)
            summaries.append(
                sync_view(
                    view,
                    sqls[view.ref],
                    warehouse,
                    store,
                    options,
                    progress,
                    forced.get(view.ref, ()),
                    state,
                    lineages.get(view.ref),
                )
            )
    publish_services(store, services)
    return summaries


def _state(states: Sequence[ViewState], view: FeatureView) -> ViewState | None:
    return next(
        (s for s in states if s.schema.view == view.name and s.schema.version == view.version),
        None,
    )


def gate_problems(view: FeatureView, artifacts: Artifacts) -> list[str]:
    """dbt tests of the view and its upstream models that failed or did not run."""
    if artifacts.run_results is None:
        return [f"no run_results.json in {artifacts.target_dir}: run `dbt build`"]
    results = artifacts.run_results.results
    manifest = artifacts.manifest
    upstream = manifest.upstream(view.unique_id)
    problems = []
    for unique_id in sorted(upstream):
        status = results[unique_id].status if unique_id in results else None
        if status is not None and status not in _PASSED:
            problems.append(f"{manifest.nodes[unique_id].label} ({status})")
    for test in manifest.tests_of(upstream):
        result = results.get(test.unique_id)
        if result is None or result.status == "skipped":
            problems.append(f"{test.name} (did not run)")
        elif result.status in _FAILED:
            problems.append(f"{test.name} ({result.status})")
    return problems


def check_gate(
    views: Sequence[FeatureView], artifacts: Artifacts, *, force: bool
) -> dict[str, tuple[str, ...]]:
    """Refuse views whose tests failed or did not run (one error naming them), unless forced.

    Returns, per view ref, the problems `force` overrode."""
    found = {v.ref: tuple(gate_problems(v, artifacts)) for v in views}
    found = {ref: problems for ref, problems in found.items() if problems}
    if found and not force:
        parts = [
            f"{ref}: {len(p)} dbt test(s) or upstream node(s) failed or did not run: "
            f"{', '.join(p[:5])}{' ...' if len(p) > 5 else ''}"
            for ref, p in found.items()
        ]
        selection = " ".join(f"+{ref}" for ref in found)
        raise ValidationGateError(
            "; ".join(parts) + f"; run `dbt build --select {selection}` or pass --force"
        )
    for ref, problems in found.items():
        log.warning("--force: publishing %s despite: %s", ref, ", ".join(problems))
    return found


def view_lineages(
    artifacts: Artifacts, views: Sequence[FeatureView]
) -> dict[str, Mapping[str, Any]]:
    """Per view ref, its lineage as stored in Redis; an error note if it cannot be computed.

    Lineage is metadata about the values, so a failure here never blocks a publish.
    """
    try:
        project = column_lineage.build_lineage(artifacts, column_lineage.cache_dir(artifacts))
        return {v.ref: column_lineage.view_lineage(project, v).to_dict() for v in views}
    except Exception as exc:  # any failure, including sqlglot's: log it and publish anyway
        log.warning("column lineage not stored: %s", exc)
        return {v.ref: {"error": " ".join(str(exc).split())[:300]} for v in views}


def sync_view(
    view: FeatureView,
    macro_sql: str,
    warehouse: Warehouse,
    store: OnlineStore,
    options: SyncOptions,
    progress: Progress | None = None,
    forced: tuple[str, ...] = (),
    state: ViewState | None = None,
    lineage: Mapping[str, Any] | None = None,
) -> ViewSummary:
    """Publish one view version's latest rows at options.as_of (`state`: what is stored)."""
    started = time.monotonic()
    schema = view_schema(view, lineage)
    mode, since, notes = _plan(view, schema, state, options)
    with latest_rows(warehouse, view, macro_sql, options.as_of) as latest:
        stats = latest_stats(warehouse, view, latest, options.as_of, since)
        if stats.duplicate_keys:
            raise FeaturehouseError(
                f"{view.ref}: latest_feature_rows returned {stats.duplicate_keys} entities "
                "more than once at this as-of; check the view's grain (keys, event "
                "timestamp) is unique"
            )
        if progress is not None:
            progress.start(view.ref, stats.changed)
        batches = contextlib.closing(read_partitioned(
            warehouse, view, latest, options.as_of, rows=stats.changed, since=since,
            batch_size=options.batch_size,
        ))  # fmt: skip
        with batches as read:  # its thread stops before the held rows are dropped
            result = store.publish(
                schema, read, as_of=options.as_of, clock=options.clock, mode=mode,
                watermark=_watermark(since, stats), expected_rows=stats.changed,
                is_latest=view.is_latest,
                progress=progress.advance if progress is not None else None,
                stats=lambda: {"rows_read": stats.rows, "null_keys": stats.null_keys,
                               "expired": stats.expired, "forced": list(forced),
                               "tie_breaks": stats.tie_breaks},
            )  # fmt: skip
    summary = ViewSummary(
        view=view.ref, mode=mode, as_of=options.as_of, rows_read=stats.rows,
        entities_written=result.rows, skipped=_skipped(mode, stats, result),
        watermark=_watermark(since, stats), generation=result.generation,
        seconds=time.monotonic() - started, forced=forced,
        notes=(*notes, *_empty(view, stats, options), *result.warnings),
        entities=stats.rows - stats.null_keys, expired=stats.expired,
    )  # fmt: skip
    if progress is not None:
        progress.finish(summary)
    return summary


def _watermark(since: Since | None, stats: LatestStats) -> datetime | None:
    return _max(since.watermark if since else None, stats.watermark)


def _empty(view: FeatureView, stats: LatestStats, options: SyncOptions) -> list[str]:
    if not stats.rows:
        return [f"no rows at or before {options.as_of}: nothing is served; is --as-of right?"]
    if stats.expired and stats.expired == stats.rows - stats.null_keys:
        return [
            f"every entity's latest row is older than the TTL ({view.ttl}) at {options.as_of}: "
            "all are served as expired; is --as-of right?"
        ]
    return []


def _skipped(mode: Mode, stats: LatestStats, result: PublishResult) -> dict[str, int]:
    """Rows of the macro's result not written, by reason (zero counts left out)."""
    skipped = {"null keys": stats.null_keys, "lost tie-break": stats.tie_breaks}
    if mode == "incremental":
        skipped["unchanged"] = stats.rows - stats.null_keys - stats.changed
        skipped["older than stored"] = result.skipped_older
    return {reason: n for reason, n in skipped.items() if n}


def _plan(
    view: FeatureView, schema: ViewSchema, state: ViewState | None, options: SyncOptions
) -> tuple[Mode, Since | None, tuple[str, ...]]:
    """Full stays full; incremental falls back to full when nothing compatible is stored."""
    if options.mode == "full":
        return "full", None, ()
    if state is None:
        return "full", None, ("nothing published yet: ran a full sync",)
    if _shape(state.schema) != _shape(schema):
        return "full", None, ("the view's columns changed since the last sync: ran a full sync",)
    if options.as_of < state.as_of:
        raise FeaturehouseError(
            f"{view.ref}: --as-of {options.as_of} is before the last sync's as-of "
            f"{state.as_of}; an incremental sync cannot go back in time: use --full"
        )
    return "incremental", Since(state.as_of, state.watermark), ()


def _shape(schema: ViewSchema) -> tuple[object, ...]:
    return (schema.keys, schema.key_types, schema.features, schema.ttl_seconds, schema.created)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    present = [x for x in (a, b) if x is not None]
    return max(present) if present else None
