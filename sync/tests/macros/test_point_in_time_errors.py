"""Bad arguments to the point-in-time macros fail the compile with a message naming the
calling model, the argument and the fix (real dbt, one parse for the whole module)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dbt.cli.main import dbtRunner

PROJECT_DIR = Path(__file__).resolve().parents[3] / "integration_tests"


@pytest.fixture(scope="module")
def compile_inline(tmp_path_factory, dbt_deps):
    """compile_inline(jinja) -> (success, message); the spine seed is loaded once."""
    tmp = tmp_path_factory.mktemp("pit_errors")
    os.environ["FEATUREHOUSE_DUCKDB_PATH"] = str(tmp / "errors.duckdb")
    common = [
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(tmp / "target"),
        "--log-path",
        str(tmp / "logs"),
        "--target",
        "dev",
        "--quiet",
        "--no-populate-cache",
    ]
    parsed = dbtRunner().invoke(["parse", *common])
    assert parsed.success, parsed.exception
    manifest = parsed.result
    # dbt 1.11's Manifest.deepcopy() fails on disabled nodes (lists there, not nodes), such
    # as the generic tests' cases (integration_tests/models/must_*); inline compiles never
    # use them.
    manifest.disabled = {}
    seeded = dbtRunner(manifest=manifest.deepcopy()).invoke(
        ["seed", "--select", "pit_fixture_spine", "pit_fixture_balances", *common]
    )
    assert seeded.success, seeded.exception

    def run(jinja: str) -> tuple[bool, str]:
        # A fresh copy each time: an inline compile adds its node to the manifest. Errors
        # raised while parsing the inline node reach only the log, so collect that too.
        messages: list[str] = []
        runner = dbtRunner(
            manifest=manifest.deepcopy(), callbacks=[lambda e: messages.append(e.info.msg)]
        )
        result = runner.invoke(["compile", "--inline", jinja, *common])
        return result.success, "\n".join([str(result.exception or ""), *messages])

    return run


def join(views: str, timestamp: str = "spine_at", known: str = "false") -> str:
    return (
        "{{ featurehouse.point_in_time_join(ref('pit_fixture_spine'), "
        f"'{timestamp}', {views}, as_known_at={known}) }}}}"
    )


@pytest.mark.parametrize(
    ("jinja", "expected"),
    [
        pytest.param(
            join("[{'model': 'fix_pit__balance', 'features': ['balanse']}]"),
            ["inline_query", "feature_views[0].features", "'balanse'", "balance_amount"],
            id="feature-not-in-view",
        ),
        pytest.param(
            join("['fix_pit__balance']", timestamp="observed_at"),
            ["model inline_query", "(spine_timestamp=...)", "no column 'observed_at'"],
            id="missing-spine-timestamp",
        ),
        pytest.param(
            join("[{'model': 'fix_pit__balance', 'keys': {'acct_id': 'account_id'}}]"),
            ["feature_views[0].keys", "no column 'acct_id'"],
            id="missing-spine-key",
        ),
        pytest.param(
            join("[{'model': 'fix_pit__balance', 'keys': {'account_id': 'acct'}}]"),
            ["feature_views[0].keys", "'acct' is not a key"],
            id="mapping-to-unknown-key",
        ),
        pytest.param(
            "{{ featurehouse.point_in_time_join('pit_spine', 'spine_at', "
            "['fix_pit__events', 'fix_pit__events_forever']) }}",
            ["feature_views[1]", "clashes with 'fix_pit__events'", "prefix"],
            id="name-clash-between-views",
        ),
        pytest.param(
            "{{ featurehouse.point_in_time_join(ref('pit_fixture_balances'), 'effective_at', "
            "['fix_pit__balance']) }}",
            ["feature_views[0]", "'status'", "clashes with the spine", "prefix"],
            id="name-clash-with-spine",
        ),
        pytest.param(
            join("['fix_pit__visits']", known="true"),
            ["(as_known_at=...)", "no created_timestamp"],
            id="as-known-at-without-created-ts",
        ),
        pytest.param(
            join("[{'model': 'fix_pit__balance', 'prefx': 'b_'}]"),
            ["feature_views[0]", "unknown key 'prefx'"],
            id="unknown-spec-key",
        ),
        pytest.param(
            join("[{'model': 'pit_fixture__latest_balances'}]"),
            ["feature_views[0]", "no config.meta.feature_store"],
            id="not-a-feature-view",
        ),
        pytest.param(
            join("[{'model': 'fix_pit__nope'}]"),
            ["fix_pit__nope", "not found"],
            id="unknown-model",
        ),
        pytest.param(
            join("[{'model': 'fix_pit__balance', 'version': 7}]"),
            ["fix_pit__balance", "7"],
            id="unknown-version",
        ),
        pytest.param(
            "{{ featurehouse._pit_view_metadata({'name': 'fix_pit__x', 'columns': "
            "{'k': {'data_type': 'bigint'}, 'at': {'data_type': 'timestamp'}}, "
            "'config': {'meta': {'feature_store': {'entity': 'x', 'keys': ['k'], "
            "'event_timestamp': 'at', 'ttl': '1 day'}}}}, 'fix_pit__x', "
            "'point_in_time_join', 'feature_views[0]', false) }}",
            ["'fix_pit__x' meta.feature_store.ttl", "'1 day' is not a duration", "36h"],
            id="bad-ttl",
        ),
        pytest.param(
            "{{ featurehouse._pit_view_metadata({'name': 'fix_pit__x', 'columns': "
            "{'k': {'data_type': 'bigint'}, 'at': {'data_type': 'timestamp'}}, "
            "'config': {'meta': {'feature_store': {'keys': ['K'], "
            "'event_timestamp': 'at', 'ttl': '1d'}}}}, 'fix_pit__x', "
            "'point_in_time_join', 'feature_views[0]', false) }}",
            ["'fix_pit__x' meta.feature_store.entity", "missing: name the entity"],
            id="entity-required",
        ),
        pytest.param(
            "{{ featurehouse.featurehouse_duration_seconds('5y') }}",
            ['"5y"', "not a duration"],
            id="bad-duration",
        ),
    ],
)
def test_bad_arguments_fail_the_compile(compile_inline, jinja, expected):
    success, message = compile_inline(jinja)
    assert not success
    for part in expected:
        assert part in message, message


def test_good_arguments_compile(compile_inline):
    success, message = compile_inline(
        "{{ featurehouse.featurehouse_duration_seconds('36h') }} "
        + join(
            "[{'model': 'fix_pit__balance', 'version': 1, 'prefix': 'b_'}, "
            "{'model': 'fix_pit__visits', 'prefix': 'v_', 'features': 'count_visits'}]"
        )
    )
    assert success, message
