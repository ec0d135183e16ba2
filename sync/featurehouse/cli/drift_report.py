"""A drift run as JSON (`--json`, drift.json) and as a static HTML page (`--report DIR`), one
histogram per feature as inline SVG.

No scripts, fonts or stylesheets from elsewhere: the page is viewable offline. Reference bars
are blue, current bars orange (REFERENCE_COLOUR, CURRENT_COLOUR; tests look for them).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from featurehouse.cli.output import to_json
from featurehouse.monitoring.drift import Bar, DriftResult, FeatureDrift, Window

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
REFERENCE_COLOUR = "#4c78a8"
CURRENT_COLOUR = "#f58518"
_WIDTH, _HEIGHT = 520, 210
_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 10, 12, 52
_AXIS_TOPS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
p.meta { color: #555; margin: 2px 0; }
table { border-collapse: collapse; margin: 16px 0; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e3e3; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 9px; font-size: 12px;
         color: #fff; }
.ok { background: #2e7d32; } .warn { background: #8d6e00; } .fail { background: #b71c1c; }
.skipped { background: #777; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px;
               vertical-align: middle; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(540px, 1fr));
        gap: 14px; margin-top: 12px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; }
.card h2 { font-size: 15px; margin: 0 0 2px; }
.card p { font-size: 12px; color: #555; margin: 0 0 4px; }
svg text { font-size: 10px; fill: #444; }
"""


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


def _window(window: Window) -> dict[str, Any]:
    return {"start": window.start, "end": window.end}


def write_report(result: DriftResult, directory: Path) -> Path:
    """Write `index.html` (and the run as `drift.json`) into `directory`; return the page."""
    directory.mkdir(parents=True, exist_ok=True)
    page = directory / "index.html"
    page.write_text(render_page(result), encoding="utf-8")
    (directory / "drift.json").write_text(to_json(drift_dict(result)) + "\n", encoding="utf-8")
    return page


def render_page(result: DriftResult) -> str:
    title = f"Drift: {result.view.ref}"
    cards = [_card(f, result.charts.get(f.plan.label, ())) for f in result.features]
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{escape(title)} {_badge(result.verdict)}</h1>",
            f'<p class="meta">{escape(str(result.view.relation))}, target '
            f"{escape(result.target)}; run {escape(result.run_id)} at "
            f"{result.recorded_at.isoformat(sep=' ', timespec='seconds')} UTC</p>",
            f'<p class="meta">reference {escape(str(result.reference))} · current '
            f"{escape(str(result.current))} (windows are [start, end))</p>",
            _table(result.features),
            '<p class="legend">histograms (share of each window\'s values):'
            f'<span style="background:{REFERENCE_COLOUR}"></span>reference'
            f'<span style="background:{CURRENT_COLOUR}"></span>current</p>',
            '<div class="grid">',
            *[c for c in cards if c],
            "</div></body></html>",
        ]
    )


def _badge(verdict: str) -> str:
    return f'<span class="badge {escape(verdict)}">{escape(verdict)}</span>'


def _table(features: Sequence[FeatureDrift]) -> str:
    head = (
        "<tr><th>feature</th><th>kind</th><th>PSI</th><th>null ref</th><th>null cur</th>"
        "<th>mean shift (sd)</th><th>p50 ref → cur</th><th>p90 ref → cur</th><th>verdict</th></tr>"
    )
    rows = []
    for feature in features:
        s = feature.stats
        cells = [
            feature.plan.label,
            feature.plan.kind,
            _fmt(feature.psi, ".4f"),
            _fmt(s.get("null_rate_reference"), ".1%"),
            _fmt(s.get("null_rate_current"), ".1%"),
            _fmt(s.get("mean_shift_std"), "+.2f").replace("-0.00", "+0.00"),
            f"{_fmt(s.get('p50_reference'), '.4g')} → {_fmt(s.get('p50_current'), '.4g')}",
            f"{_fmt(s.get('p90_reference'), '.4g')} → {_fmt(s.get('p90_current'), '.4g')}",
        ]
        tds = "".join(f"<td>{escape(c)}</td>" for c in cells)
        rows.append(f"<tr>{tds}<td>{_badge(feature.verdict)}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _card(feature: FeatureDrift, bars: Sequence[Bar]) -> str:
    if not bars:
        return ""
    plan = feature.plan
    detail = f"PSI {_fmt(feature.psi, '.4f')} (warn {plan.warn_psi:g}, fail {plan.fail_psi:g})"
    return (
        f'<div class="card"><h2>{escape(plan.label)} {_badge(feature.verdict)}</h2>'
        f"<p>{escape(plan.kind)} · {escape(detail)}</p>{histogram_svg(plan.label, bars)}</div>"
    )


def histogram_svg(label: str, bars: Sequence[Bar]) -> str:
    """Grouped bars (reference, current) per bin or category, with a % axis."""
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = _HEIGHT - _TOP - _BOTTOM
    highest = max(max(b.share_reference, b.share_current) for b in bars)
    top = next((t for t in _AXIS_TOPS if t >= highest * 1.05), 1.0)
    group = plot_w / len(bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'role="img" aria-label="{escape(label)} histogram">'
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = _TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e0e0e0"/><text x="{_LEFT - 4}" y="{y + 3:.1f}" '
            f'text-anchor="end">{top * fraction:.0%}</text>'
        )
    every = max(1, len(bars) // 6)
    for i, bar in enumerate(bars):
        x = _LEFT + i * group
        for offset, share, colour, name in (
            (0.1, bar.share_reference, REFERENCE_COLOUR, "reference"),
            (0.5, bar.share_current, CURRENT_COLOUR, "current"),
        ):
            height = plot_h * share / top
            parts.append(
                f'<rect x="{x + group * offset:.1f}" y="{_TOP + plot_h - height:.1f}" '
                f'width="{group * 0.4:.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(bar.label)}: {name} {share:.1%}</title></rect>"
            )
        if i % every == 0:
            cx, cy = x + group / 2, _TOP + plot_h + 10
            parts.append(
                f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="end" '
                f'transform="rotate(-30 {cx:.1f} {cy:.1f})">{escape(bar.label[:18])}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
