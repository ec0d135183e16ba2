"""`featurehouse drift` output: a JSON-able dict and an aligned text table per drift run."""

from __future__ import annotations

from collections import Counter
from typing import Any

from featurehouse.monitoring.drift import DriftResult, FeatureDrift, Window

STATS = (
    "n_reference",
    "n_current",
    "null_rate_reference",
    "null_rate_current",
    "mean_reference",
    "mean_current",
    "std_reference",
    "std_current",
    "mean_shift_std",
    "p50_reference",
    "p50_current",
    "p90_reference",
    "p90_current",
    "psi",
    "n_buckets",
)
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


def drift_dict(result: DriftResult) -> dict[str, Any]:
    """Everything a run measured, for --json (and the HTML report)."""
    return {
        "view": result.view.ref,
        "relation": str(result.view.relation),
        "target": result.target,
        "run_id": result.run_id,
        "recorded_at": result.recorded_at,
        "reference": _window(result.reference),
        "current": _window(result.current),
        "verdict": result.verdict,
        "seconds": round(result.seconds, 3),
        "features": [feature_dict(f) for f in result.features],
    }


def feature_dict(feature: FeatureDrift) -> dict[str, Any]:
    plan = feature.plan
    return {
        "feature": plan.label,
        "column": plan.column,
        "element": plan.element,
        "kind": plan.kind,
        "verdict": feature.verdict,
        "warn_psi": plan.warn_psi,
        "fail_psi": plan.fail_psi,
        "buckets": plan.buckets,
        "note": plan.note,
        **{name: feature.stats.get(name) for name in STATS},
    }


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


def _window(window: Window) -> dict[str, Any]:
    return {"start": window.start, "end": window.end}


def _count(feature: FeatureDrift | None, name: str) -> str:
    value = None if feature is None else feature.stats.get(name)
    return "-" if value is None else f"{value:,}"


def _fixed(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
