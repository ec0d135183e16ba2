"""The run record: a `run_history` row when a run starts and one when it ends, a `run_views`
row per view version it gated, and the `sync_history` rows of what it published; tables in the
warehouse's monitoring schema (`warehouse.history`), DuckDB or Postgres alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from featurehouse.project.settings import Project, Target
from featurehouse.refs import parse_view
from featurehouse.sync.history import sync_rows
from featurehouse.warehouse import history

if TYPE_CHECKING:
    from featurehouse.pipeline.run import RunReport


def run_row(report: RunReport, target: str, prefix: str) -> dict[str, Any]:
    """The run_history row of the report as it stands (`running` or its end)."""
    published = [v for v in report.views if v.published]
    return {
        "run_id": report.run_id,
        "recorded_at": _now(),
        "status": report.status,
        "started_at": report.started_at,
        "ended_at": report.ended_at,
        "seconds": round(report.seconds, 3) if report.ended_at else None,
        "target": target,
        "as_of": report.as_of,
        "clock": report.clock,
        "selection": " ".join(report.selection),
        "views_built": sum(v.verdict.build_status == "success" for v in report.views),
        "views_published": len(published),
        "views_refused": len(report.refused),
        "tests_passed": report.tests_passed,
        "tests_failed": report.tests_failed,
        "entities_written": sum(v.summary.entities_written for v in published if v.summary),
        "message": report.message,
        "host": report.host,
        "pid": report.pid,
        "redis_prefix": prefix,
    }


def view_rows(report: RunReport) -> list[dict[str, Any]]:
    """One run_views row per view version the run gated."""
    rows = []
    recorded_at = _now()
    for outcome in report.views:
        ref = parse_view(outcome.verdict.view.ref)
        summary = outcome.summary
        problems = [*outcome.verdict.problems, *([outcome.error] if outcome.error else [])]
        rows.append(
            {
                "run_id": report.run_id,
                "recorded_at": recorded_at,
                "view": ref.name,
                "version": ref.version,
                "as_of": report.as_of,
                "build_status": outcome.verdict.build_status,
                "tests_passed": outcome.verdict.tests_passed,
                "tests_failed": outcome.verdict.tests_failed,
                "published": summary is not None,
                "problems": "; ".join(problems) or None,
                "generation": summary.generation if summary else None,
                "entities_written": summary.entities_written if summary else None,
                "seconds": round(summary.seconds, 3) if summary else None,
            }
        )
    return rows


def write(project: Project, target: Target, report: RunReport, prefix: str) -> str:
    """Append the report's rows; returns the run_history table's name."""
    name = history.append(project, target, "run_history", [run_row(report, target.name, prefix)])
    if report.ended_at is not None:
        history.append(project, target, "run_views", view_rows(report))
        summaries = [v.summary for v in report.views if v.summary is not None]
        history.append(project, target, "sync_history", sync_rows(summaries, target.name, prefix))
    return name


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
