"""Runs under the project's lock with their records: one run, or a backfill (one run per
daily as-of, in order, publishing the last day; it stops at the first failed day)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from featurehouse.errors import FeaturehouseError
from featurehouse.online import OnlineStore
from featurehouse.pipeline import dbt, lock, records
from featurehouse.pipeline.run import RunOptions, RunReport, execute, new_report
from featurehouse.project.settings import Project, Target
from featurehouse.sync.materialize import Progress

Say = Callable[[str], None]


@dataclass(frozen=True)
class Hooks:
    """Where a run reports: stage notes and warnings, dbt's lines, the sync's progress."""

    say: Say = lambda _: None
    warn: Say = lambda _: None
    dbt_lines: dbt.Lines | None = None
    progress: Progress | None = None


@dataclass(frozen=True)
class Runner:
    """A project's runs: where they build, publish and record."""

    project: Project
    target: Target
    store: OnlineStore
    prefix: str
    default_as_of: tuple[datetime, str]
    command: str = "featurehouse run"

    def run(self, options: RunOptions, hooks: Hooks, wait: float = 0.0) -> RunReport:
        """One run under the lock."""
        report = new_report(options, self.default_as_of)
        with lock.hold(self.project.target_dir, report.run_id, self.command, wait):
            return self._recorded(options, report, hooks)

    def backfill(
        self, options: RunOptions, as_ofs: Sequence[datetime], hooks: Hooks, wait: float = 0.0
    ) -> list[RunReport]:
        """One run per as-of, in order, under one hold of the lock; only the last publishes."""
        reports: list[RunReport] = []
        first = new_report(options, self.default_as_of)
        with lock.hold(self.project.target_dir, first.run_id, self.command, wait):
            for i, as_of in enumerate(as_ofs):
                last = i == len(as_ofs) - 1
                day = replace(options, as_of=as_of, publish=options.publish and last)
                report = first if i == 0 else new_report(day, self.default_as_of)
                report = replace(report, as_of=as_of, clock="as_of")
                hooks.say(f"backfill day {i + 1}/{len(as_ofs)}: as of {as_of}")
                reports.append(self._recorded(day, report, hooks))
                if reports[-1].status != "ok":
                    break
        return reports

    def _recorded(self, options: RunOptions, report: RunReport, hooks: Hooks) -> RunReport:
        self._record(report, hooks, start=True)
        done = execute(
            self.project, self.target, self.store, options, report,
            say=hooks.say, dbt_lines=hooks.dbt_lines, progress=hooks.progress,
        )  # fmt: skip
        self._record(done, hooks, start=False)
        return done

    def _record(self, report: RunReport, hooks: Hooks, *, start: bool) -> None:
        """Append the run record; a warehouse that cannot take it is a warning, not a
        failed run (before the first build there may be no warehouse file yet)."""
        try:
            records.write(self.project, self.target, report, self.prefix)
        except FeaturehouseError as exc:
            if not start:
                hooks.warn(f"run record not written: {' '.join(str(exc).split())}")
