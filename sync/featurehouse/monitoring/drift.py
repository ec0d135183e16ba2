"""Distribution drift of a feature view's features between two time windows, in the warehouse.

The figures come from the dbt macros `featurehouse.drift_summary`, `drift_buckets` and
`drift_histogram`, rendered by dbt (see `render`): the same SQL the `distribution_drift` test
runs. Python plans the features, binds the windows and applies each feature's thresholds.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from featurehouse.errors import ConfigError, RegistryError
from featurehouse.project import render
from featurehouse.project.manifest import Manifest
from featurehouse.project.registry import Feature, FeatureView
from featurehouse.project.settings import Project, Target
from featurehouse.types import TYPES
from featurehouse.warehouse import Warehouse, adapter, connect, query_arrow, relation_exists

DEFAULT_WARN_PSI = 0.1
DEFAULT_FAIL_PSI = 0.25
DEFAULT_BUCKETS = 10
DEFAULT_CURRENT = timedelta(days=7)
DEFAULT_REFERENCE = timedelta(days=28)
HISTOGRAM_BINS = 20
MAX_CATEGORIES = 20  # charted per categorical feature; the rest are summed as "(other)"
_WINDOW_NAMES = ("reference_start", "reference_end", "current_start", "current_end")


@dataclass(frozen=True)
class Window:
    """A half-open UTC time window [start, end)."""

    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{_ts(self.start)}..{_ts(self.end)}"


@dataclass(frozen=True)
class FeaturePlan:
    """How one feature (or one dimension of an array feature) is measured."""

    label: str  # `count_orders_30d`, or `category_affinity_30d[books]` for a dimension
    column: str
    element: int | None  # 1-based array position, for a dimension
    kind: str  # numeric | categorical | skipped
    warn_psi: float = DEFAULT_WARN_PSI
    fail_psi: float = DEFAULT_FAIL_PSI
    buckets: int = DEFAULT_BUCKETS
    note: str = ""  # why it is skipped, or where its thresholds come from
    discrete: bool = False  # whole numbers: charted in whole-number bins


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's figures; `stats` holds drift_summary's columns (None when skipped)."""

    plan: FeaturePlan
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def psi(self) -> float | None:
        return self.stats.get("psi")

    @property
    def verdict(self) -> str:
        """ok (PSI < warn_psi), warn, fail (PSI >= fail_psi or a window without values)."""
        if self.plan.kind == "skipped":
            return "skipped"
        if self.psi is None:
            return "fail"
        if self.psi >= self.plan.fail_psi:
            return "fail"
        return "warn" if self.psi >= self.plan.warn_psi else "ok"


@dataclass(frozen=True)
class Bar:
    """One histogram bar: a value range or category and its share in each window."""

    label: str
    share_reference: float
    share_current: float


@dataclass(frozen=True)
class DriftResult:
    """A drift run over one view version."""

    view: FeatureView
    target: str
    reference: Window
    current: Window
    features: tuple[FeatureDrift, ...]
    charts: Mapping[str, tuple[Bar, ...]]  # feature label -> bars (only with charts=True)
    seconds: float
    run_id: str
    recorded_at: datetime  # naive UTC

    @property
    def verdict(self) -> str:
        verdicts = {f.verdict for f in self.features}
        return next((v for v in ("fail", "warn") if v in verdicts), "ok")


def parse_window(text: str, what: str) -> Window:
    """`2026-04-01..2026-05-01` (dates or ISO timestamps, UTC) -> Window."""
    start, sep, end = text.partition("..")
    if not sep:
        raise ConfigError(f"--{what} {text!r}: write START..END, e.g. 2026-04-01..2026-04-24")
    window = Window(_parse_time(start, what), _parse_time(end, what))
    if window.start >= window.end:
        raise ConfigError(f"--{what} {text!r}: START must be before END")
    return window


def default_windows(
    as_of: datetime, reference: Window | None = None, current: Window | None = None
) -> tuple[Window, Window]:
    """The current window defaults to the 7 days before as_of; the reference window to the
    28 days before the current window (as the distribution_drift test's defaults)."""
    current = current or Window(as_of - DEFAULT_CURRENT, as_of)
    reference = reference or Window(current.start - DEFAULT_REFERENCE, current.start)
    return reference, current


def plan_features(view: FeatureView, manifest: Manifest) -> list[FeaturePlan]:
    """Every feature of `view`, with the thresholds of its distribution_drift test if any."""
    tests = _drift_tests(view, manifest)
    meta = manifest.nodes[view.unique_id].meta.get("feature_store") or {}
    dimensions = (meta.get("dimensions") or {}) if isinstance(meta, Mapping) else {}
    plans: list[FeaturePlan] = []
    for feature in view.features:
        kind = TYPES[feature.online_type].kind
        if kind == "array":
            names = dimensions.get(feature.name)
            if not names:
                plans.append(_skipped(feature, "array without meta.feature_store.dimensions"))
                continue
            for position, name in enumerate(names, start=1):
                label = f"{feature.name}[{name}]"
                plans.append(_plan(label, feature.name, position, "numeric", tests))
        elif kind == "timestamp":
            plans.append(_skipped(feature, "timestamps move with time: test feature_freshness"))
        else:
            plan = _plan(feature.name, feature.name, None, kind, tests)
            plans.append(replace(plan, discrete=feature.online_type == "int64"))
    return plans


def measure(
    project: Project,
    target: Target,
    manifest: Manifest,
    view: FeatureView,
    windows: tuple[Window, Window],
    *,
    charts: bool = False,
) -> DriftResult:
    """Run drift_summary (and, with charts, the histogram macros) for every feature."""
    started = time.monotonic()
    with connect(project, target) as warehouse:
        if not relation_exists(warehouse, view.relation):
            raise RegistryError(
                f"{view.relation} is not built: run `dbt build --select {view.ref}`"
            )
    plans = plan_features(view, manifest)
    measured = [p for p in plans if p.kind != "skipped"]
    style = adapter(target).param_style
    calls = {_key(view, p, "summary"): _summary_call(view, p, target) for p in measured}
    if charts:
        calls |= {_key(view, p, "chart"): _chart_call(view, p, target) for p in measured}
    sqls = render.render_calls(
        project, target, manifest, calls, f"drift-{style}", "the drift macros"
    )
    reference, current = windows
    params = dict(zip(_WINDOW_NAMES, (*_bounds(reference), *_bounds(current)), strict=True))
    stats: dict[str, Mapping[str, Any]] = {}
    bars: dict[str, tuple[Bar, ...]] = {}
    with connect(project, target) as warehouse:
        for plan in measured:
            [stats[plan.label]] = _rows(warehouse, sqls[_key(view, plan, "summary")], params)
            if charts:
                rows = _rows(warehouse, sqls[_key(view, plan, "chart")], params)
                bars[plan.label] = _bars(plan, rows)
    return DriftResult(
        view=view,
        target=target.name,
        reference=reference,
        current=current,
        features=tuple(FeatureDrift(p, stats.get(p.label, {})) for p in plans),
        charts=bars,
        seconds=time.monotonic() - started,
        run_id=uuid.uuid4().hex,
        recorded_at=datetime.now(UTC).replace(tzinfo=None),
    )


def _drift_tests(
    view: FeatureView, manifest: Manifest
) -> dict[tuple[str, int | None], list[Mapping[str, Any]]]:
    """(column, element) -> the arguments of each distribution_drift test on it."""
    found: dict[tuple[str, int | None], list[Mapping[str, Any]]] = {}
    for test in manifest.tests_of({view.unique_id}):
        if test.test_name != "distribution_drift" or not test.column_name:
            continue
        element = test.test_kwargs.get("element")
        key = (test.column_name, int(element) if element is not None else None)
        found.setdefault(key, []).append(test.test_kwargs)
    return found


def _plan(
    label: str,
    column: str,
    element: int | None,
    kind: str,
    tests: Mapping[tuple[str, int | None], Sequence[Mapping[str, Any]]],
) -> FeaturePlan:
    """Thresholds of the feature's distribution_drift tests: the strictest thresholds and the
    finest buckets, when it has several."""
    found = tests.get((column, element))
    if not found:
        return FeaturePlan(label, column, element, kind, note="default thresholds")
    return FeaturePlan(
        label,
        column,
        element,
        str(next((t["kind"] for t in found if t.get("kind")), kind)),
        warn_psi=min(float(t.get("warn_psi", DEFAULT_WARN_PSI)) for t in found),
        fail_psi=min(float(t.get("fail_psi", DEFAULT_FAIL_PSI)) for t in found),
        buckets=max(int(t.get("buckets", DEFAULT_BUCKETS)) for t in found),
        note="thresholds of its distribution_drift test",
    )


def _skipped(feature: Feature, note: str) -> FeaturePlan:
    return FeaturePlan(feature.name, feature.name, None, "skipped", note=f"skipped: {note}")


def _column_jinja(plan: FeaturePlan) -> str:
    if plan.element is None:
        return repr(plan.column)
    return f"featurehouse.array_element({plan.column!r}, {plan.element})"


def _common_args(view: FeatureView, plan: FeaturePlan, target: Target) -> str:
    version = "" if view.version is None else f", v={view.version}"
    bounds = ", ".join(repr(adapter(target).param(n)) for n in _WINDOW_NAMES)
    return f"ref({view.name!r}{version}), {_column_jinja(plan)}, {view.event_timestamp!r}, {bounds}"


def _summary_call(view: FeatureView, plan: FeaturePlan, target: Target) -> str:
    args = _common_args(view, plan, target)
    return (
        f"{{{{ featurehouse.drift_summary({args}, kind={plan.kind!r}, buckets={plan.buckets}) }}}}"
    )


def _chart_call(view: FeatureView, plan: FeaturePlan, target: Target) -> str:
    args = _common_args(view, plan, target)
    if plan.kind == "numeric":
        discrete = "true" if plan.discrete else "false"
        return (
            f"{{{{ featurehouse.drift_histogram({args}, bins={HISTOGRAM_BINS}, "
            f"discrete={discrete}) }}}}"
        )
    return f"{{{{ featurehouse.drift_buckets({args}, kind='categorical') }}}}"


def _key(view: FeatureView, plan: FeaturePlan, what: str) -> str:
    """A cache file name: readable, and unique per call (the hash covers its arguments)."""
    digest = hashlib.sha256(f"{view.ref}|{plan}|{what}".encode()).hexdigest()[:10]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{view.ref}.{plan.label}.{what}.{digest}")


def _rows(warehouse: Warehouse, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = query_arrow(warehouse, warehouse.prepare(sql), params).to_pylist()
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


def _plain(value: Any) -> Any:
    """Decimals (sums on some adapters) as int or float, like every other figure."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _bars(plan: FeaturePlan, rows: Sequence[Mapping[str, Any]]) -> tuple[Bar, ...]:
    if plan.kind == "numeric":
        return _histogram_bars(rows, plan.discrete)
    ordered = sorted(
        rows, key=lambda r: -max(r["share_reference"] or 0.0, r["share_current"] or 0.0)
    )
    bars = [
        Bar(str(r["bucket_value"]), r["share_reference"] or 0.0, r["share_current"] or 0.0)
        for r in ordered[:MAX_CATEGORIES]
    ]
    rest = ordered[MAX_CATEGORIES:]
    if rest:
        bars.append(
            Bar(
                "(other)",
                sum(r["share_reference"] or 0.0 for r in rest),
                sum(r["share_current"] or 0.0 for r in rest),
            )
        )
    return tuple(sorted(bars, key=lambda b: (b.label == "(other)", b.label)))


def _histogram_bars(rows: Sequence[Mapping[str, Any]], discrete: bool) -> tuple[Bar, ...]:
    """Bars from the first to the last non-empty bin, empty bins in between included."""
    by_index = {r["bin_index"]: r for r in rows}
    if not by_index:
        return ()
    first = by_index[min(by_index)]
    low, width = first["lower_bound"], first["upper_bound"] - first["lower_bound"]
    bars = []
    for index in range(max(by_index) + 1):
        row = by_index.get(index, {})
        start, end = low + index * width, low + (index + 1) * width
        if discrete:
            label = f"{start:g}" if width == 1 else f"{start:g}..{end - 1:g}"
        else:
            label = f"{start:.4g}..{end:.4g}"
        shares = (row.get("share_reference") or 0.0, row.get("share_current") or 0.0)
        bars.append(Bar(label, *shares))
    return tuple(bars)


def _bounds(window: Window) -> tuple[datetime, datetime]:
    return window.start, window.end


def _parse_time(text: str, what: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError as exc:
        raise ConfigError(
            f"--{what}: {text!r} is not an ISO date or timestamp (e.g. 2026-04-01)"
        ) from exc
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _ts(value: datetime) -> str:
    return value.isoformat(sep=" ", timespec="seconds").removesuffix(" 00:00:00")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
