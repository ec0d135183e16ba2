"""The `featurehouse` CLI through CliRunner (each command), plus one real subprocess run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
from cli_process import run_featurehouse
from click.testing import CliRunner, Result
from featurehouse.api.context import Context
from featurehouse.cli import cli
from sync_fixtures import MINI_DIR, REPO_ROOT, read_json, write_json

COMMANDS = (
    "sync",
    "get",
    "list",
    "describe",
    "delete",
    "lineage",
    "impact",
    "catalog",
    "serve",
    "dataset",
    "parity",
    "drift",
    "services",
    "usage",
    "deprecations",
    "run",
    "runs",
)
V2 = "feat_customer__orders.v2"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def served(env: dict[str, str]) -> tuple[int, Any]:
    """The generation Redis serves for v2 and customer 1151's features (JSON)."""
    state = next(
        s
        for s in Context(env=env, project_dir=REPO_ROOT).store.views()
        if (s.schema.view, s.schema.version) == ("feat_customer__orders", 2)
    )
    got = run("get", V2, "1151", "--json", env=env)
    assert got.exit_code == 0, got.output
    return state.generation, json.loads(got.stdout)


def test_version_and_every_command_documents_an_example() -> None:
    assert run("--version").stdout.strip().endswith("0.1.0")
    top = run("--help").stdout
    for command in COMMANDS:
        assert command in top
        text = run(command, "--help").stdout
        assert "Example" in text and f"featurehouse {command}" in text, command
    assert "FEATUREHOUSE_REDIS_URL" in run("sync", "--help").stdout


def test_sync_json(fh_env: dict[str, str], synced: Any) -> None:
    result = run("sync", "--select", V2, "--as-of", "2026-05-01", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["prefix"] == fh_env["FEATUREHOUSE_REDIS_PREFIX"]
    [view] = report["views"]
    assert view["view"] == V2 and view["mode"] == "full" and view["entities_written"] > 2000
    assert view["as_of"] == "2026-05-01T00:00:00"


def test_sync_text_and_quiet(fh_env: dict[str, str], synced: Any) -> None:
    result = run("sync", "-s", V2, "--as-of", "2026-05-01T00:00:00Z")
    assert result.exit_code == 0, result.output
    assert "synced 1 view version(s)" in result.stdout and V2 in result.stdout
    quiet = run("sync", "-s", V2, "--as-of", "2026-05-01", "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_get_text_and_json(fh_env: dict[str, str], synced: Any) -> None:
    result = run("get", "feat_customer__orders", "1151", "999999", "--json")
    assert result.exit_code == 0, result.output
    known, unknown = json.loads(result.stdout)
    assert known["view"] == V2 and known["keys"] == {"customer_id": 1151}
    assert known["event_at"] == "2026-05-01T00:00:00"
    assert known["features"]["count_orders_90d"]["status"] == "present"
    assert known["features"]["count_orders_90d"]["value"] > 0
    assert {f["status"] for f in unknown["features"].values()} == {"not_found"}
    text = run(
        "get", "feat_customer__orders.v1", "1151", "-f", "count_orders_7d,days_since_last_order"
    )
    assert text.exit_code == 0, text.output
    assert "feat_customer__orders.v1  customer_id=1151" in text.stdout
    assert "count_orders_7d" in text.stdout and "count_orders_30d" not in text.stdout


def test_list_and_describe(fh_env: dict[str, str], synced: Any) -> None:
    rows = json.loads(run("list", "--json").stdout)
    by_view = {r["view"]: r for r in rows}
    assert by_view[V2]["published"] and by_view[V2]["latest"] and by_view[V2]["rows"] > 2000
    assert by_view["feat_customer__orders.v1"]["published"]
    assert not [ref for ref in by_view if not ref.startswith("feat_")]  # no fixture views
    text = run("list").stdout
    assert text.startswith("VIEW") and V2 in text
    info = json.loads(run("describe", "feat_customer__orders", "--json").stdout)
    assert info["view"] == V2 and info["keys"] == ["customer_id"] and info["ttl"] == "1d"
    assert info["online_state"]["as_of"] == "2026-05-01T00:00:00"
    assert {"name", "data_type", "online_type", "description"} <= set(info["features"][0])
    text = run("describe", "feat_customer__orders.v1").stdout
    assert "feat_customer__orders.v1" in text and "count_orders_7d" in text


def test_composite_keys_skips_and_delete(mini_env: dict[str, str]) -> None:
    env = {**mini_env, "DBT_PROJECT_DIR": str(MINI_DIR)}
    result = run(
        "sync",
        "--as-of",
        "2026-05-01",
        "--json",
        "-s",
        "feat_customer__orders.v1",
        "-s",
        "feat_customer__orders.v2",
        "-s",
        "feat_country__orders",
        env=env,
    )
    assert result.exit_code == 0, result.output
    views = {v["view"]: v for v in json.loads(result.stdout)["views"]}
    assert views["feat_customer__orders.v2"]["skipped"] == {"null keys": 1, "lost tie-break": 1}
    assert views["feat_country__orders.v1"]["skipped"] == {"null keys": 1}
    got = json.loads(
        run(
            "get",
            "feat_country__orders",
            "1,de",
            "customer_id=2,country_code=pl",
            "--json",
            env=env,
        ).stdout
    )
    assert [g["features"]["last_order_amount"]["value"] for g in got] == [20.0, 7.75]
    tie = json.loads(run("get", "feat_customer__orders", "2", "--json", env=env).stdout)[0]
    assert tie["features"]["last_order_status"]["value"] == "completed"  # greatest loaded_at
    assert tie["features"]["order_amount_pair"]["value"] == [7.75, 15.5]
    bad = one_line_error(run("get", "feat_country__orders", "1", env=env))
    assert "give them in that order" in bad
    deleted = run("delete", "feat_country__orders.v1", env=env)
    assert deleted.exit_code == 0 and "deleted feat_country__orders.v1" in deleted.stdout
    gone = one_line_error(run("get", "feat_country__orders", "1,de", env=env))
    assert "is not published" in gone and "featurehouse sync --select" in gone


def test_redis_url_from_dbt_project_vars(mini_env: dict[str, str]) -> None:
    env = {k: v for k, v in mini_env.items() if k != "FEATUREHOUSE_REDIS_URL"}
    context = Context(project_dir=MINI_DIR, env=env)
    assert context.redis_url == "redis://127.0.0.1:6379/15"  # vars: featurehouse_redis_url
    flagged = Context(project_dir=MINI_DIR, env=env, redis_url_flag="redis://x:6379/1")
    assert flagged.redis_url == "redis://x:6379/1"
    assert (
        Context(project_dir=MINI_DIR, env=mini_env).redis_url == mini_env["FEATUREHOUSE_REDIS_URL"]
    )


def test_gate_refuses_failed_and_missing_tests_then_force(
    fh_env: dict[str, str], synced: Any, target_copy: Path
) -> None:
    results = read_json(target_copy / "run_results.json")
    failed = next(
        r
        for r in results["results"]
        if "stg_shop__orders" in r["unique_id"] and r["unique_id"].startswith("test.")
    )
    failed["status"] = "fail"
    dropped = next(
        r
        for r in results["results"]
        if r["unique_id"].startswith("test.") and "feat_customer__orders_v2" in r["unique_id"]
    )
    results["results"].remove(dropped)
    write_json(target_copy / "run_results.json", results)
    env = {**fh_env, "DBT_TARGET_PATH": str(target_copy)}
    before = served(fh_env)
    refused = one_line_error(run("sync", "-s", V2, "--as-of", "2026-05-01", env=env))
    failed_name = failed["unique_id"].split(".")[2]
    dropped_name = dropped["unique_id"].split(".")[2]
    assert f"{failed_name} (fail)" in refused and f"{dropped_name} (did not run)" in refused
    assert "pass --force" in refused and f"dbt build --select +{V2}" in refused
    assert served(fh_env) == before
    forced = run("sync", "-s", V2, "--as-of", "2026-05-01", "--force", env=env)
    assert forced.exit_code == 0, forced.output
    assert f"WARNING: --force published {V2} although:" in forced.stderr
    assert failed_name in forced.stderr


def test_bad_inputs_leave_the_last_good_sync_serving(
    fh_env: dict[str, str], synced: Any, tmp_path: Path
) -> None:
    before = served(fh_env)
    down = one_line_error(run("sync", "--redis-url", "redis://127.0.0.1:1/0"))
    assert "127.0.0.1:1" in down
    bad_select = one_line_error(run("sync", "-s", "feat_nope", "-s", "feat_customer__orders.v7"))
    assert "no feature view named 'feat_nope'" in bad_select and "no version 7" in bad_select
    usage = run("sync", "--as-of", "yesterday")
    assert usage.exit_code == 2 and "not an ISO date" in usage.stderr
    copy = tmp_path / Path(fh_env["FEATUREHOUSE_DUCKDB_PATH"]).name  # same catalog name
    shutil.copy(fh_env["FEATUREHOUSE_DUCKDB_PATH"], copy)
    with duckdb.connect(str(copy)) as connection:
        connection.execute("drop table main.feat_customer__orders_v2")
    missing = one_line_error(
        run("sync", "-s", V2, env={**fh_env, "FEATUREHOUSE_DUCKDB_PATH": str(copy)})
    )
    assert "feat_customer__orders_v2" in missing
    assert served(fh_env) == before


def test_passwords_are_never_printed(fh_env: dict[str, str], synced: Any) -> None:
    url = "redis://featurehouse:s3cret-pw@127.0.0.1:1/0"
    for args in (("sync", "-s", V2), ("get", V2, "1"), ("list",), ("delete", V2)):
        result = run(*args, "--redis-url", url)
        assert result.exit_code == 1, (args, result.output)
        assert "s3cret-pw" not in result.output, result.output
    shown = Context(env=fh_env, redis_url_flag=url).redis_shown
    assert shown == "redis://featurehouse:***@127.0.0.1:1/0"
    pg = run(
        "sync",
        "--target",
        "pg",
        env={**fh_env, "FEATUREHOUSE_PG_PASSWORD": "s3cret-pw", "FEATUREHOUSE_PG_PORT": "1"},
    )
    assert pg.exit_code == 1 and "s3cret-pw" not in pg.output


def test_real_subprocess(fh_env: dict[str, str], synced: Any) -> None:
    done = run_featurehouse("get", "feat_customer__orders", "1151", "--json", env=fh_env)
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert row["keys"] == {"customer_id": 1151} and row["event_at"] == "2026-05-01T00:00:00"
    usage = run_featurehouse("get", env=fh_env)
    assert usage.returncode == 2


def test_as_of_defaults_to_the_dbt_var_then_env(fh_env: dict[str, str], redis_prefix: str) -> None:
    prefix = ["--redis-prefix", f"{redis_prefix}:as-of", "--json", "-s", V2]
    default = json.loads(run("sync", *prefix).stdout)["views"][0]
    assert default["as_of"] == "2026-05-01T00:00:00"  # dbt_project.yml vars: as_of
    later = run("sync", *prefix, env={**fh_env, "FEATUREHOUSE_AS_OF": "2027-01-01"})
    view = json.loads(later.stdout)["views"][0]
    assert view["as_of"] == "2027-01-01T00:00:00"
    assert view["entities_written"] == view["entities"] == view["expired"] == default["entities"]
    assert (
        "older than the TTL (1d) at 2027-01-01 00:00:00: all are served as expired"
        in (view["notes"][0])
    )
