"""The full DuckDB build: every seed, model, data test and unit test succeeds."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import DbtRun

FIXTURE_FOLDERS = ("must_fail", "must_pass", "bad_arguments")


def test_full_duckdb_build_succeeds(dbt_build_duckdb: DbtRun) -> None:
    build = dbt_build_duckdb
    assert build.returncode == 0 and not build.bad_results(), build.summary()
    kinds = {kind for kind, _status in build.status_counts()}
    assert {"seed", "model", "test"} <= kinds, build.summary()


def test_test_fixtures_stay_out_of_the_default_build(dbt_build_duckdb: DbtRun) -> None:
    """The generic tests' fixtures (models/fixtures/{must_fail,must_pass,bad_arguments}/)
    only build with featurehouse_must_fail: true."""
    folders = tuple(f"models/fixtures/{name}/" for name in FIXTURE_FOLDERS)
    nodes = dbt_build_duckdb.manifest()["nodes"]
    built = [
        result["unique_id"]
        for result in dbt_build_duckdb.results
        if nodes.get(result["unique_id"], {}).get("original_file_path", "").startswith(folders)
    ]
    assert not built, f"test fixtures ran without featurehouse_must_fail: {built}"
