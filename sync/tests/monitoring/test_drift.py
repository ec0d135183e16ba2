"""`featurehouse drift`: the SQL's figures against a plain-Python reference, shifts it must
catch, stable data it must pass, and the command's text, JSON and exit codes."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from featurehouse.api.context import Context
from featurehouse.cli import cli
from featurehouse.errors import OfflineStoreError
from featurehouse.monitoring import drift
from featurehouse.project import render
from monitoring_support import Reference, reference_drift, window_values

AS_OF = datetime(2026, 5, 1)
WINDOWS = drift.default_windows(AS_OF)
NUMERIC_FIXTURE = "must_fail__distribution_drift_numeric"
CATEGORICAL_FIXTURE = "must_fail__distribution_drift_categorical"


def run(*args: str, env: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture(scope="module")
def fixtures_env(integration_env: dict[str, str]) -> dict[str, str]:
    """Featurehouse pointed at the integration tests' build (the must-fail fixtures)."""
    return integration_env


def _context(env: dict[str, str]) -> Context:
    return Context(project_dir=Path(env["DBT_PROFILES_DIR"]), env=env)


def _measure(env: dict[str, str], ref: str, **kwargs: Any) -> drift.DriftResult:
    context = _context(env)
    view = context.registry.resolve(ref)
    return drift.measure(
        context.project,
        context.target,
        context.artifacts.manifest,
        view,
        kwargs.pop("windows", WINDOWS),
        **kwargs,
    )


def _feature(result: drift.DriftResult, label: str) -> drift.FeatureDrift:
    return next(f for f in result.features if f.plan.label == label)


def _assert_matches(found: drift.FeatureDrift, expected: Reference) -> None:
    for name, value in vars(expected).items():
        got = found.stats[name]
        if value is None:
            assert got is None, (found.plan.label, name, got)
        else:
            assert got == pytest.approx(value, rel=1e-9, abs=1e-12), (found.plan.label, name)


def _expected(env: dict[str, str], ref: str, column: str, kind: str, **kw: Any) -> Reference:
    context = _context(env)
    view = context.registry.resolve(ref)
    path = Path(env["FEATUREHOUSE_DUCKDB_PATH"])
    values = [
        window_values(path, str(view.relation), column, view.event_timestamp, window)
        for window in WINDOWS
    ]
    return reference_drift(*values, kind, **kw)


def test_numeric_shift_of_two_standard_deviations(fixtures_env: dict[str, str]) -> None:
    result = _measure(fixtures_env, NUMERIC_FIXTURE)
    amount = _feature(result, "amount")
    _assert_matches(amount, _expected(fixtures_env, NUMERIC_FIXTURE, "amount", "numeric"))
    assert amount.stats["mean_shift_std"] == pytest.approx(2.0, abs=0.01)
    assert amount.psi > 4 and amount.verdict == "fail"
    # Its strictest distribution_drift test sets the thresholds (another only warns).
    assert (amount.plan.warn_psi, amount.plan.fail_psi) == (0.1, 0.25)
    assert (amount.stats["n_reference"], amount.stats["n_current"]) == (28 * 40, 7 * 40)


def test_new_category_is_caught(fixtures_env: dict[str, str]) -> None:
    result = _measure(fixtures_env, CATEGORICAL_FIXTURE)
    category = _feature(result, "favourite_category")
    expected = _expected(fixtures_env, CATEGORICAL_FIXTURE, "favourite_category", "categorical")
    _assert_matches(category, expected)
    # toys: 25% of the current window, epsilon in the reference: 0.25 * ln(2500) dominates;
    # books and garden fall from 25% to 17.5%, electronics and fashion to 20%.
    assert category.psi == pytest.approx(
        (0.25 - 1e-4) * math.log(0.25 / 1e-4)
        + 2 * (0.175 - 0.25) * math.log(0.175 / 0.25)
        + 2 * (0.2 - 0.25) * math.log(0.2 / 0.25)
    )
    assert category.plan.kind == "categorical" and category.verdict == "fail"
    assert result.verdict == "fail"


def test_demo_figures_match_the_reference(base_env: dict[str, str]) -> None:
    """Numeric with nulls, counts with ties on the decile edges, and one array dimension."""
    orders = _measure(base_env, "feat_customer__orders.v2")
    for column in ("avg_order_amount_30d", "count_orders_7d", "sum_order_amount_90d"):
        expected = _expected(base_env, "feat_customer__orders.v2", column, "numeric")
        _assert_matches(_feature(orders, column), expected)
    affinity = _measure(base_env, "feat_customer__category_affinity")
    toys = _feature(affinity, "category_affinity_30d[toys]")
    assert toys.plan.element == 8
    expected = _expected(
        base_env, "feat_customer__category_affinity", "category_affinity_30d[8]", "numeric"
    )
    _assert_matches(toys, expected)


def test_stable_demo_passes_and_thresholds_come_from_the_tests(base_env: dict[str, str]) -> None:
    orders = _measure(base_env, "feat_customer__orders.v2")
    assert orders.verdict == "ok", [(f.plan.label, f.psi) for f in orders.features]
    average = _feature(orders, "avg_order_amount_30d")
    assert (average.plan.warn_psi, average.plan.fail_psi) == (0.1, 0.2)  # from its yml test
    assert _feature(orders, "count_orders_7d").plan.note == "default thresholds"
    assert _feature(orders, "last_ordered_at").verdict == "skipped"
    # The demo shop's traffic grows: view counts over 30 days drift, and drift says so.
    popularity = _measure(base_env, "feat_product__popularity")
    assert _feature(popularity, "count_views_30d").verdict == "fail"
    assert _feature(popularity, "conversion_rate_7d").verdict == "ok"


def test_must_pass_twins_pass(fixtures_env: dict[str, str]) -> None:
    twin = "must_pass__distribution_drift_numeric"
    amount = _feature(_measure(fixtures_env, twin), "amount")
    assert amount.plan.buckets == 20  # the finest of its two tests
    _assert_matches(amount, _expected(fixtures_env, twin, "amount", "numeric", buckets=20))
    assert amount.verdict == "ok" and amount.stats["null_rate_current"] == pytest.approx(0.05)
    twin = "must_pass__distribution_drift_categorical"
    result = _measure(fixtures_env, twin)
    for column in ("favourite_category", "is_subscriber"):
        feature = _feature(result, column)
        _assert_matches(feature, _expected(fixtures_env, twin, column, "categorical"))
        assert feature.verdict == "ok", (column, feature.psi)
    assert _feature(result, "favourite_category").psi == pytest.approx(0.0, abs=1e-12)


def test_cli_text_json_and_check(base_env: dict[str, str]) -> None:
    text = run("drift", "feat_customer__orders", "--no-history", env=base_env)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].startswith("feat_customer__orders.v2 (")
    assert (
        "reference 2026-03-27..2026-04-24" in lines[1]
        and "current 2026-04-24..2026-05-01" in lines[1]
    )
    header = next(line for line in lines if line.startswith("feature "))
    for column in ("psi", "null ref", "null cur", "mean shift", "p50 ref -> cur", "verdict"):
        assert column in header
    assert any(line.startswith("verdict: ok") for line in lines)
    as_json = run(
        "drift", "feat_product__popularity", "--json", "--check", "--no-history",
        "--reference", "2026-03-27..2026-04-24", "--current", "2026-04-24..2026-05-01",
        env=base_env,
    )  # fmt: skip
    assert as_json.exit_code == 1, as_json.output  # --check: a feature fails
    report = json.loads(as_json.stdout)
    assert report["verdict"] == "fail" and report["reference"]["start"] == "2026-03-27T00:00:00"
    views = {f["feature"]: f for f in report["features"]}
    assert views["count_views_30d"]["verdict"] == "fail" and views["count_views_30d"]["psi"] > 0.25


def test_cli_bad_windows_and_views(base_env: dict[str, str]) -> None:
    for args, message in [
        (("--current", "2026-05-01"), "write START..END"),
        (("--current", "2026-05-01..2026-04-01"), "START must be before END"),
        (("--reference", "yesterday..today"), "is not an ISO date"),
    ]:
        result = run("drift", "feat_customer__orders", *args, env=base_env)
        assert result.exit_code == 1 and message in result.stderr, result.output
    missing = run("drift", "feat_nope", env=base_env)
    assert missing.exit_code == 1 and "no feature view named 'feat_nope'" in missing.stderr


def test_drift_help_documents_examples() -> None:
    text = CliRunner().invoke(cli, ["drift", "--help"]).stdout
    assert "Example" in text and "featurehouse drift feat_customer__orders" in text
    for option in ("--reference", "--current", "--report", "--check", "--no-history"):
        assert option in text
    assert "--no-history" in CliRunner().invoke(cli, ["sync", "--help"]).stdout


def test_drift_macros_refuse_bad_arguments(base_env: dict[str, str]) -> None:
    context = _context(base_env)
    call = (
        "{{ featurehouse.drift_summary(ref('feat_customer__orders', v=2), 'count_orders_30d', "
        "'effective_at', '$a', '$b', '$c', '$d', kind='ordinal') }}"
    )
    with pytest.raises(OfflineStoreError) as error:
        render.render_calls(
            context.project, context.target, context.artifacts.manifest, {"bad": call},
            "drift-test", "the drift macros",
        )  # fmt: skip
    message = str(error.value)
    assert "drift_summary(kind=...): got \"ordinal\"; write kind='numeric'" in message, message
