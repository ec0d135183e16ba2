"""`featurehouse run` (build, validate, publish, record; backfills) and `featurehouse runs`
(the run records), with their output."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import click

from featurehouse.api.context import Context
from featurehouse.cli.output import to_json, ts
from featurehouse.cli.shared import BarProgress, common, configure_logging, select_option
from featurehouse.cli.shared import as_of as as_of_option
from featurehouse.errors import FeaturehouseError
from featurehouse.pipeline import plan as planning
from featurehouse.pipeline.run import RunOptions, RunReport, new_report
from featurehouse.pipeline.runner import Hooks, Runner
from featurehouse.project.settings import load_target, parse_vars
from featurehouse.warehouse import runs as run_records


class RunFailed(FeaturehouseError):
    """A run refused a view, failed a node, or could not finish."""


@click.command()
@select_option(
    "Feature view (VIEW or VIEW.vN) to build and publish; repeatable (default: the whole "
    "project, publishing the latest version of every online view)."
)
@click.option("--as-of", callback=as_of_option, metavar="TS",
              help="Build and publish as of this UTC time (dbt var as_of) [default: the "
                   "project's var as_of, else now].")  # fmt: skip
@click.option(
    "--from",
    "start",
    callback=as_of_option,
    metavar="DATE",
    help="Backfill: one run per day from DATE (00:00 UTC) ...",
)
@click.option(
    "--to",
    "end",
    callback=as_of_option,
    metavar="DATE",
    help="... to DATE, in order; only the last day publishes.",
)
@click.option("--vars", "dbt_vars", metavar="YAML", help="dbt --vars for the build.")
@click.option(
    "--no-build",
    is_flag=True,
    help="Gate and publish the last `dbt build`'s results (your orchestrator built).",
)
@click.option("--dry-run", is_flag=True, help="Say what the run would do; build nothing.")
@click.option(
    "--wait",
    default=0.0,
    type=click.FloatRange(0),
    metavar="SECONDS",
    help="Wait this long for another run of the project to finish [default: refuse].",
)
@click.option("--quiet", "-q", is_flag=True, help="No dbt output, no progress bar.")
@click.option("--batch-size", default=10_000, show_default=True, type=click.IntRange(1))
@common
def run(
    context: Context, *, as_json: bool, select: Sequence[str], as_of: datetime | None,
    start: datetime | None, end: datetime | None, dbt_vars: str | None, no_build: bool,
    dry_run: bool, wait: float, quiet: bool, batch_size: int,
) -> None:  # fmt: skip
    """Build the feature views with dbt, validate, publish the views that passed, record it.

    `dbt build` of the selected views, everything upstream and downstream (training sets);
    then the gate: dbt's results for each view, its upstream models and their tests (drift
    and anomaly tests included), and `dbt source freshness` of the sources upstream that
    declare it. Exactly the views that passed are synced to the online store; a refused
    view keeps serving its last good version and the command exits 1 naming it and its
    failing tests. Every run appends to featurehouse_monitoring.run_history and run_views
    (`featurehouse runs`). One run at a time per project (a lock in the target dir).

    \b
    Examples:
      featurehouse run
      featurehouse run --select feat_customer__orders --as-of 2026-05-01
      featurehouse run --from 2026-04-01 --to 2026-04-07
      featurehouse run --dry-run --json
    """
    if (start is None) != (end is None):
        raise click.UsageError("--from and --to go together")
    if start is not None and as_of is not None:
        raise click.UsageError("--as-of and --from/--to exclude each other")
    configure_logging(quiet or as_json)
    options = RunOptions(
        refs=tuple(select), as_of=as_of, build_vars=parse_vars(dbt_vars),
        build=not no_build, batch_size=batch_size,
    )  # fmt: skip
    runner = _runner(context)
    if dry_run:
        _dry_run(runner, options, start, as_json=as_json)
        return
    hooks = _hooks(quiet=quiet or as_json)
    if start is not None and end is not None:
        reports = runner.backfill(options, planning.days(start, end), hooks, wait)
    else:
        reports = [runner.run(options, hooks, wait)]
    if as_json:
        click.echo(to_json([report_dict(r) for r in reports]))
    else:
        click.echo("\n".join(report_text(r) for r in reports))
    failed = [r for r in reports if r.status != "ok"]
    if failed:
        raise RunFailed(
            f"run {failed[0].run_id} as of {failed[0].as_of} failed: {failed[0].message}"
        )


def _runner(context: Context) -> Runner:
    target = load_target(context.project, context.target_name, context.environment)
    command = "featurehouse " + " ".join(sys.argv[1:]) if sys.argv[1:] else "featurehouse run"
    return Runner(
        context.project, target, context.store, context.prefix, context.default_as_of(), command
    )


def _hooks(*, quiet: bool) -> Hooks:
    def err(text: str) -> None:
        click.echo(text, err=True)

    def warn(text: str) -> None:
        click.echo(f"WARNING: {text}", err=True)

    if quiet:
        return Hooks(warn=warn)
    return Hooks(say=err, warn=warn, dbt_lines=err, progress=BarProgress())


def _dry_run(runner: Runner, options: RunOptions, start: datetime | None, *, as_json: bool) -> None:
    first = options if start is None else replace(options, as_of=start)
    found = planning.plan(
        runner.project, runner.target, first, new_report(first, runner.default_as_of)
    )
    if as_json:
        click.echo(to_json({**asdict(found), "lock": str(found.lock)}))
        return
    holder = "free" if found.lock_holder is None else f"held by pid {found.lock_holder.get('pid')}"
    views = ", ".join(found.views) or "none"
    sources = ", ".join(found.freshness_sources) or "no source upstream declares it"
    click.echo(
        f"would run: {found.dbt_command}  ({len(found.nodes)} dbt nodes)\n"
        f"as of {ts(found.as_of)} ({found.clock} clock)\n"
        f"gate, then {'publish' if found.publish else 'do not publish'}: {views}\n"
        f"source freshness: {sources}\nlock {found.lock}: {holder}\nrecords: {found.records}"
    )


def report_dict(report: RunReport) -> dict[str, Any]:
    return {
        "run_id": report.run_id, "status": report.status, "as_of": report.as_of,
        "clock": report.clock, "started_at": report.started_at, "ended_at": report.ended_at,
        "seconds": round(report.seconds, 3), "message": report.message,
        "tests_passed": report.tests_passed, "tests_failed": report.tests_failed,
        "failed_nodes": list(report.failed_nodes),
        "timings": {k: round(v, 3) for k, v in report.timings.items()},
        "views": [_view_dict(v) for v in report.views],
    }  # fmt: skip


def _view_dict(outcome: Any) -> dict[str, Any]:
    summary = outcome.summary
    return {
        "view": outcome.verdict.view.ref,
        "build_status": outcome.verdict.build_status,
        "tests_passed": outcome.verdict.tests_passed,
        "tests_failed": outcome.verdict.tests_failed,
        "published": outcome.published,
        "problems": list(outcome.verdict.problems) + ([outcome.error] if outcome.error else []),
        "entities_written": summary.entities_written if summary else None,
        "generation": summary.generation if summary else None,
    }


def report_text(report: RunReport) -> str:
    lines = []
    for outcome in report.views:
        ref, verdict = outcome.verdict.view.ref, outcome.verdict
        if outcome.summary is not None:
            s = outcome.summary
            lines.append(
                f"  published {ref:<36} {s.entities_written:>8,} entities  "
                f"generation {s.generation}  tests {verdict.tests_passed} passed"
            )
        elif not verdict.passed:
            lines.append(f"  REFUSED   {ref:<36} {'; '.join(verdict.problems)}")
        else:
            lines.append(f"  held      {ref:<36} {outcome.error}")
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items())
    lines.append(
        f"run {report.run_id} {report.status} as of {ts(report.as_of)} in {report.seconds:.1f}s"
        f" ({stages}); tests {report.tests_passed} passed, {report.tests_failed} failed"
    )
    return "\n".join(lines)


@click.command()
@click.option(
    "--limit", default=10, show_default=True, type=click.IntRange(1), help="Runs to list."
)
@click.option("--view", "views", is_flag=True, help="Also a line per view version of each run.")
@common
def runs(context: Context, *, as_json: bool, limit: int, views: bool) -> None:
    """List the last runs (`featurehouse run`): status, as-of, views published and refused,
    tests, duration, what failed (from the warehouse's run_history and run_views tables).

    \b
    Examples:
      featurehouse runs
      featurehouse runs --limit 3 --view --json
    """
    target = load_target(context.project, context.target_name, context.environment)
    found = run_records.recent(context.project, target, limit)
    if as_json:
        click.echo(to_json([{**r.values, "views": list(r.views)} for r in found]))
        return
    if not found:
        click.echo("no runs recorded yet: `featurehouse run` records each run")
        return
    for record in found:
        v = record.values
        seconds = "-" if v["seconds"] is None else f"{v['seconds']:.1f}s"
        click.echo(
            f"{ts(v['started_at'])}  {v['status']:<7} as of {ts(v['as_of'])}  "
            f"published {v['views_published']}, refused {v['views_refused']}  "
            f"tests {v['tests_passed']}/{(v['tests_passed'] or 0) + (v['tests_failed'] or 0)}  "
            f"{seconds}  {v['run_id'][:12]}" + (f"\n    {v['message']}" if v["message"] else "")
        )
        if views:
            for row in record.views:
                state = "published" if row["published"] else "held"
                click.echo(f"    {row['view']}.v{row['version']}: {state} "
                           f"({row['build_status']}) {row['problems'] or ''}".rstrip())  # fmt: skip
