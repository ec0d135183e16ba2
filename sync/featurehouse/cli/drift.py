"""`featurehouse drift`: distribution drift of a view's features between two windows, as a
table, JSON or an HTML report (`drift_report`), appended to the drift history."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from featurehouse.api.context import Context
from featurehouse.cli.drift_report import drift_dict, write_report
from featurehouse.cli.output import to_json
from featurehouse.cli.shared import append_history, common
from featurehouse.cli.shared import as_of as as_of_option
from featurehouse.monitoring import drift as drift_runs
from featurehouse.monitoring.drift import DriftResult, FeatureDrift
from featurehouse.monitoring.history import drift_rows

_HEADER = (
    ("feature", "<"),
    ("kind", "<"),
    ("psi", ">"),
    ("null ref", ">"),
    ("null cur", ">"),
    ("mean shift", ">"),
    ("p50 ref -> cur", "<"),
    ("p90 ref -> cur", "<"),
    ("verdict", "<"),
)


@click.command()
@click.argument("view", metavar="VIEW[.vN]")
@click.option(
    "--reference",
    metavar="START..END",
    help="Reference window [START, END) (default: the 28 days before the current window).",
)
@click.option(
    "--current",
    metavar="START..END",
    help="Current window [START, END) (default: the 7 days before --as-of).",
)
@click.option(
    "--as-of",
    callback=as_of_option,
    metavar="TS",
    help="End of the default current window [var as_of, else now].",
)
@click.option(
    "--report",
    "report_dir",
    metavar="DIR",
    type=click.Path(path_type=Path),
    help="Also write DIR/index.html: a histogram per feature, viewable offline.",
)
@click.option("--check", is_flag=True, help="Exit 1 when a feature's verdict is fail.")
@click.option("--no-history", is_flag=True, help="Do not append to the drift_history table.")
@common
def drift(
    context: Context, *, as_json: bool, view: str, reference: str | None, current: str | None,
    as_of: datetime | None, report_dir: Path | None, check: bool, no_history: bool,
) -> None:  # fmt: skip
    """Distribution drift of VIEW's features between a reference and a current window.

    Per feature: PSI (numbers by reference deciles, strings and booleans by value, arrays
    per meta.feature_store.dimensions), null rates, mean shift in reference sd, p50/p90 and
    a verdict by its distribution_drift test's thresholds (else warn 0.1, fail 0.25).
    Computed by the dbt macros; each run appends to featurehouse_monitoring.drift_history.

    \b
    Examples:
      featurehouse drift feat_customer__orders
      featurehouse drift feat_customer__orders.v1 --current 2026-04-24..2026-05-01 --json
      featurehouse drift feat_product__popularity --report drift-report/ --check
    """
    chosen = context.registry.select([view])[0]
    windows = drift_runs.default_windows(
        as_of or context.default_as_of()[0],
        drift_runs.parse_window(reference, "reference") if reference else None,
        drift_runs.parse_window(current, "current") if current else None,
    )
    result = drift_runs.measure(
        context.project, context.target, context.artifacts.manifest, chosen, windows,
        charts=report_dir is not None,
    )  # fmt: skip
    page = write_report(result, report_dir) if report_dir is not None else None
    if as_json:
        click.echo(to_json({**drift_dict(result), "report": str(page) if page else None}))
    else:
        click.echo(drift_text(result) + (f"\nreport: {page}" if page else ""))
    if not no_history:
        rows = drift_rows(result)
        append_history(context, "drift_history", rows, quiet=as_json)
    if check and result.verdict == "fail":
        click.get_current_context().exit(1)


def drift_text(result: DriftResult) -> str:
    """The per-feature table with a heading (windows, rows) and a one-line verdict."""
    measured = next((f for f in result.features if f.stats), None)
    rows_ref = _count(measured, "n_reference")
    rows_cur = _count(measured, "n_current")
    lines = [
        f"{result.view.ref} ({result.view.relation}, target {result.target})",
        f"reference {result.reference} ({rows_ref} rows)   "
        f"current {result.current} ({rows_cur} rows)",
        "",
    ]
    table = [[name for name, _ in _HEADER]] + [_cells(f) for f in result.features]
    widths = [max(len(row[i]) for row in table) for i in range(len(_HEADER))]
    for row in table:
        cells = [
            f"{cell:{align}{width}}"
            for cell, (_, align), width in zip(row, _HEADER, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    lines += [f"  {f.plan.label}: {f.plan.note}" for f in result.features if f.verdict == "skipped"]
    counts = Counter(f.verdict for f in result.features)
    tally = ", ".join(f"{counts[v]} {v}" for v in ("fail", "warn", "ok", "skipped") if counts[v])
    lines += [
        "",
        f"verdict: {result.verdict} ({tally}) in {result.seconds:.1f}s; PSI warns at "
        "warn_psi, fails at fail_psi (defaults 0.1 and 0.25, else the feature's "
        "distribution_drift test)",
    ]
    return "\n".join(lines)


def _cells(feature: FeatureDrift) -> list[str]:
    stats = feature.stats
    if feature.plan.kind == "skipped":
        return [feature.plan.label, "-", "-", "-", "-", "-", "-", "-", "skipped"]
    numeric = feature.plan.kind == "numeric"
    shift = stats.get("mean_shift_std")
    return [
        feature.plan.label,
        feature.plan.kind,
        _fixed(feature.psi, 4),
        _percent(stats.get("null_rate_reference")),
        _percent(stats.get("null_rate_current")),
        f"{shift + 0.0:+.2f} sd".replace("-0.00", "+0.00")
        if numeric and shift is not None
        else "-",
        _pair(stats, "p50") if numeric else "-",
        _pair(stats, "p90") if numeric else "-",
        feature.verdict,
    ]


def _pair(stats: Any, name: str) -> str:
    return f"{_num(stats.get(f'{name}_reference'))} -> {_num(stats.get(f'{name}_current'))}"


def _count(feature: FeatureDrift | None, name: str) -> str:
    value = None if feature is None else feature.stats.get(name)
    return "-" if value is None else f"{value:,}"


def _fixed(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
