"""Each generic test catches bad data, passes good data, and rejects bad arguments.

One dbt build of the integration-test project, integration_tests/ (conftest's `fixtures_build`):
must_fail/ holds bad data whose tests must fail, must_pass/ their good twins, and
bad_arguments/ tests that must stop with a compile error naming the model and argument.
A must-fail test whose config.meta.expected_status is `warn` must warn instead (a drift
between distribution_drift's warn_psi and fail_psi).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import DbtRun

GENERIC_TESTS = frozenset(
    {
        "unique_combination",
        "no_future_rows",
        "feature_freshness",
        "null_rate_below",
        "value_in_range",
        "no_leakage",
        "row_count_anomaly",
        "distribution_drift",
    }
)


def _tests_tagged(build: DbtRun, tag: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """unique_id -> (manifest node, run result) for every generic test carrying `tag`."""
    nodes = build.manifest()["nodes"]
    results = {result["unique_id"]: result for result in build.results}
    tagged = {
        unique_id: (node, results.get(unique_id, {"status": "not run", "message": ""}))
        for unique_id, node in nodes.items()
        if node["resource_type"] == "test" and tag in node["tags"]
    }
    assert tagged, f"no tests tagged {tag}:\n{build.summary()}"
    return tagged


def _generic_test_names(tests: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> set[str]:
    return {node["test_metadata"]["name"] for node, _result in tests.values()}


def test_fixture_models_build(fixtures_build: DbtRun) -> None:
    models = [r for r in fixtures_build.results if r["unique_id"].startswith("model.")]
    assert models, fixtures_build.summary()
    assert all(r["status"] == "success" for r in models), fixtures_build.summary()


def test_every_must_fail_test_fails(fixtures_build: DbtRun) -> None:
    tests = _tests_tagged(fixtures_build, "must_fail")
    not_failing = {
        uid: result["status"]
        for uid, (node, result) in tests.items()
        if result["status"] != node["config"]["meta"].get("expected_status", "fail")
        or not result.get("failures")
    }
    assert not not_failing, f"must-fail tests that did not fail: {not_failing}"
    missing = GENERIC_TESTS - _generic_test_names(tests)
    assert not missing, f"generic tests without a must-fail case: {sorted(missing)}"
    warned = [n for n, _r in tests.values() if n["config"]["meta"].get("expected_status")]
    assert warned, "no must-fail case expects a warning"


def test_every_must_pass_test_passes(fixtures_build: DbtRun) -> None:
    tests = _tests_tagged(fixtures_build, "must_pass")
    not_passing = {
        uid: f"{result['status']}: {result['message']}"
        for uid, (_n, result) in tests.items()
        if result["status"] != "pass"
    }
    assert not not_passing, f"must-pass tests that did not pass: {not_passing}"
    missing = GENERIC_TESTS - _generic_test_names(tests)
    assert not missing, f"generic tests without a must-pass case: {sorted(missing)}"


def test_bad_arguments_stop_the_compile(fixtures_build: DbtRun) -> None:
    tests = _tests_tagged(fixtures_build, "bad_arguments")
    wrong = {}
    for unique_id, (node, result) in tests.items():
        expected = node["config"]["meta"]["expected_error"]
        message = result.get("message") or ""
        if not (
            result["status"] == "error"
            and "Compilation Error" in message
            and f"on model '{node['attached_node'].split('.')[-1]}'" in message
            and expected in message
        ):
            wrong[unique_id] = f"{result['status']}: {message[:300]!r}; expected {expected!r}"
    assert not wrong, f"bad-argument tests without the expected compile error: {wrong}"
    missing = GENERIC_TESTS - _generic_test_names(tests)
    assert not missing, f"generic tests without a bad-argument case: {sorted(missing)}"
