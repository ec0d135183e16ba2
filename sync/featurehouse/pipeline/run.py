"""One run: `dbt build` of the selection, the gate on dbt's results (and source freshness),
the sync of exactly the view versions that passed, and the run record. A refused view keeps
serving its last good version; the run's status says what failed."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from featurehouse.errors import FeaturehouseError, RedisUnavailable, redact
from featurehouse.online import OnlineStore
from featurehouse.pipeline import dbt, gate
from featurehouse.pipeline.gate import Verdict
from featurehouse.project import render
from featurehouse.project.manifest import Artifacts, load_artifacts
from featurehouse.project.package import check_package_version
from featurehouse.project.registry import Registry, build_registry
from featurehouse.project.settings import Project, Target
from featurehouse.sync import materialize
from featurehouse.sync.materialize import Progress, SyncOptions, ViewSummary
from featurehouse.warehouse import DEFAULT_BATCH_SIZE, adapter

log = logging.getLogger(__name__)
Say = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    refs: tuple[str, ...] = ()  # view versions to build and publish (none: every online view)
    as_of: datetime | None = None  # a fixed as-of (--as-of, a backfill day); None: the build's
    build_vars: Mapping[str, Any] = field(default_factory=dict)  # the user's --vars
    build: bool = True  # False: gate the last build's artifacts (an orchestrator built)
    publish: bool = True  # False: build and validate only (a backfill's earlier days)
    batch_size: int = DEFAULT_BATCH_SIZE


@dataclass(frozen=True)
class ViewOutcome:
    verdict: Verdict
    summary: ViewSummary | None = None  # when published
    error: str | None = None  # why the publish failed

    @property
    def published(self) -> bool:
        return self.summary is not None


@dataclass(frozen=True)
class RunReport:
    """What one run did, as the run record stores it."""

    run_id: str
    started_at: datetime  # naive UTC
    as_of: datetime
    clock: Literal["wall", "as_of"]
    selection: tuple[str, ...]
    status: str = "running"  # running | ok | failed
    ended_at: datetime | None = None
    views: tuple[ViewOutcome, ...] = ()
    failed_nodes: tuple[str, ...] = ()  # every node of the build that failed, views or not
    tests_passed: int = 0
    tests_failed: int = 0
    message: str | None = None
    timings: Mapping[str, float] = field(default_factory=dict)  # stage -> seconds
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    @property
    def seconds(self) -> float:
        end = self.ended_at or _now()
        return (end - self.started_at).total_seconds()

    @property
    def refused(self) -> list[ViewOutcome]:
        return [v for v in self.views if not v.verdict.passed]


def new_report(options: RunOptions, default_as_of: tuple[datetime, str]) -> RunReport:
    as_of, clock = (options.as_of, "as_of") if options.as_of else default_as_of
    return RunReport(
        run_id=uuid.uuid4().hex, started_at=_now(), as_of=as_of,
        clock="as_of" if clock == "as_of" else "wall", selection=options.refs,
    )  # fmt: skip


def execute(
    project: Project,
    target: Target,
    store: OnlineStore,
    options: RunOptions,
    report: RunReport,
    *,
    say: Say | None = None,
    dbt_lines: dbt.Lines | None = None,
    progress: Progress | None = None,
) -> RunReport:
    """Build, gate, publish; returns the finished report (status ok or failed). Errors that
    stop the run (dbt cannot run, Redis unreachable) come back as a failed report too."""
    note = say or (lambda _: None)
    timings: dict[str, float] = {}
    try:
        if options.publish:
            store.views()  # an unreachable online store stops the run before the build
        artifacts = _build(project, target, options, report, timings, note, dbt_lines)
        registry = build_registry(artifacts.manifest)
        views = registry.select(list(options.refs))
        freshness = _freshness(project, target, views, artifacts, options, timings, note)
        verdicts = gate.judge(views, artifacts, freshness)
        if report.clock == "wall":
            report = replace(report, as_of=_now())
        outcomes = _publish(
            project, target, store, artifacts, registry, verdicts, options, report, timings,
            note, progress,
        )  # fmt: skip
    except FeaturehouseError as exc:
        return _finish(replace(report, timings=timings), message=_one_line(exc))
    tests = artifacts.run_results.results.values() if artifacts.run_results else []
    statuses = [r.status for r in tests if r.unique_id.startswith(("test.", "unit_test."))]
    done = replace(
        report, views=tuple(outcomes), timings=timings,
        failed_nodes=tuple(gate.failed_nodes(artifacts, _scope(options, outcomes))),
        tests_passed=sum(s in ("pass", "warn") for s in statuses),
        tests_failed=sum(s in ("fail", "error", "runtime error") for s in statuses),
    )  # fmt: skip
    return _finish(done, message=failure_message(done))


def _build(
    project: Project, target: Target, options: RunOptions, report: RunReport,
    timings: dict[str, float], note: Say, dbt_lines: dbt.Lines | None,
) -> Artifacts:  # fmt: skip
    """`dbt build` (unless the build is someone else's), then its artifacts."""
    if options.build:
        shown = " ".join(dbt.selectors(options.refs)) or "the whole project"
        note(f"dbt build of {shown} as of {report.as_of} ...")
        call = dbt.build(project, target, options.refs, build_vars(options, report), dbt_lines)
        timings["dbt_build"] = call.seconds
        if call.returncode not in (0, 1):
            raise dbt.DbtError(f"`dbt build` failed before building: {call.error_line()}")
    artifacts = load_artifacts(project.target_dir)
    check_package_version(project, artifacts.manifest)
    if artifacts.run_results is None:
        raise dbt.DbtError(
            f"no run_results.json in {project.target_dir}: run `dbt build` first "
            "(or `featurehouse run` without --no-build)"
        )
    return artifacts


def _scope(options: RunOptions, outcomes: Sequence[ViewOutcome]) -> list[Any] | None:
    """Whose failed nodes fail the run: all of this run's build; of someone else's build
    (--no-build), those related to the selected views."""
    if options.build or not options.refs:
        return None
    return [o.verdict.view for o in outcomes]


def build_vars(options: RunOptions, report: RunReport) -> dict[str, Any]:
    """The --vars of the build: the user's, and `as_of` when the run has a fixed one. On the
    wall clock dbt keeps its own (the run's start; the same vars keep partial parsing) and the
    sync takes "now" after the build, so it publishes everything the build made."""
    given = dict(options.build_vars)
    if report.clock == "as_of":
        given["as_of"] = report.as_of.isoformat(sep=" ", timespec="seconds")
    return given


def _freshness(
    project: Project, target: Target, views: Sequence[Any], artifacts: Artifacts,
    options: RunOptions, timings: dict[str, float], note: Say,
) -> dict[str, str]:  # fmt: skip
    """Freshness of the sources upstream that declare it (no dbt call when none does)."""
    sources = gate.freshness_sources(views, artifacts.manifest)
    if not sources:
        return {}
    note(f"dbt source freshness of {len(sources)} source(s) ...")
    started = time.monotonic()
    found = dbt.freshness(project, target, sources, options.build_vars)
    timings["freshness"] = time.monotonic() - started
    return found


def _publish(
    project: Project, target: Target, store: OnlineStore, artifacts: Artifacts,
    registry: Registry, verdicts: Sequence[Verdict], options: RunOptions, report: RunReport,
    timings: dict[str, float], note: Say, progress: Progress | None,
) -> list[ViewOutcome]:  # fmt: skip
    """Sync each view version that passed, one at a time (each publish is atomic)."""
    started = time.monotonic()
    sync_options = SyncOptions(
        as_of=report.as_of, clock=report.clock, mode="full", batch_size=options.batch_size
    )
    passed = [v.view for v in verdicts if v.passed]
    if passed and options.publish:  # one `dbt compile` renders them all (cached per code)
        placeholder = adapter(target).param("as_of")
        render.latest_rows_sql(project, target, artifacts.manifest, passed, placeholder)
    outcomes: list[ViewOutcome] = []
    down: str | None = None
    for verdict in verdicts:
        ref = verdict.view.ref
        if not verdict.passed:
            note(f"refused {ref}: {'; '.join(verdict.problems)}")
            outcomes.append(ViewOutcome(verdict))
        elif not options.publish:
            outcomes.append(ViewOutcome(verdict, error="not published (backfill day)"))
        elif down is not None:
            outcomes.append(ViewOutcome(verdict, error=down))
        else:
            note(f"publishing {ref} ...")
            try:
                [summary] = materialize.sync(
                    project, target, artifacts, registry, [ref], store, sync_options, progress
                )
                outcomes.append(ViewOutcome(verdict, summary))
            except FeaturehouseError as exc:
                outcomes.append(ViewOutcome(verdict, error=_one_line(exc)))
                if isinstance(exc, RedisUnavailable):
                    down = f"not published: {_one_line(exc)}"
    timings["publish"] = time.monotonic() - started
    return outcomes


def failure_message(report: RunReport) -> str | None:
    """One line naming each refused view and its failing tests, failed publishes and other
    failed nodes; None when the run is clean."""
    parts = [
        f"{v.verdict.view.ref} refused: {', '.join(v.verdict.problems)}" for v in report.refused
    ]
    parts += [
        f"{v.verdict.view.ref} not published: {v.error}"
        for v in report.views
        if v.verdict.passed and v.error and not v.error.startswith("not published (backfill")
    ]
    gated = {p.rsplit(" (", 1)[0] for v in report.refused for p in v.verdict.problems}
    other = [n for n in report.failed_nodes if n.rsplit(" (", 1)[0] not in gated]
    if other:
        parts.append(f"other failed nodes: {', '.join(other)}")
    return "; ".join(parts) or None


def _finish(report: RunReport, *, message: str | None) -> RunReport:
    status = "ok" if message is None else "failed"
    return replace(report, status=status, message=message, ended_at=_now())


def _one_line(exc: BaseException) -> str:
    return redact(" ".join(str(exc).split()))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
