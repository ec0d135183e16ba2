"""`featurehouse run` end to end on the runs fixture project (real dbt, DuckDB, Redis): a
failing test refuses its view and publishes the others, a stale source refuses the views
downstream, the run record, the lock, an unreachable Redis, dry runs and backfills."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from featurehouse.pipeline import lock
from run_support import FAILING_TEST, VIEWS, RunsProject, runs_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, redis_prefix: str, dbt_deps: None
) -> Iterator[RunsProject]:
    """The runs project after one clean `featurehouse run` (every view published)."""
    found = runs_project(tmp_path_factory.mktemp("runs"), f"{redis_prefix}:runs")
    found.feed(age=timedelta(hours=1))
    done = found.featurehouse("run", "--quiet", "--json")
    assert done.returncode == 0, done.stderr
    [report] = json.loads(done.stdout)
    assert report["status"] == "ok"
    assert sorted(v["view"] for v in report["views"] if v["published"]) == sorted(VIEWS)
    yield found


def test_a_failing_test_refuses_its_view_and_publishes_the_others(project: RunsProject) -> None:
    before = project.generations()
    done = project.featurehouse("run", "--quiet", "--json", "--vars", "{fail_country: true}")
    assert done.returncode == 1
    assert f"feat_country__orders.v1 refused: {FAILING_TEST} (fail)" in done.stderr
    [report] = json.loads(done.stdout)
    views = {v["view"]: v for v in report["views"]}
    assert not views["feat_country__orders.v1"]["published"]
    assert views["feat_country__orders.v1"]["problems"] == [f"{FAILING_TEST} (fail)"]
    assert views["feat_customer__orders.v1"]["published"]
    assert views["feat_feed__events.v1"]["published"]
    after = project.generations()
    # The refused view keeps serving its last good generation; the others moved on.
    assert after["feat_country__orders.v1"] == before["feat_country__orders.v1"]
    assert after["feat_customer__orders.v1"] > before["feat_customer__orders.v1"]
    latest = project.runs()[0]
    assert latest["run_id"] == report["run_id"]
    assert (latest["status"], latest["views_published"], latest["views_refused"]) == (
        "failed",
        2,
        1,
    )
    assert latest["tests_failed"] == 1
    assert FAILING_TEST in latest["message"]
    rows = {f"{r['view']}.v{r['version']}": r for r in latest["views"]}
    assert rows["feat_country__orders.v1"]["published"] is False
    assert FAILING_TEST in rows["feat_country__orders.v1"]["problems"]
    assert rows["feat_customer__orders.v1"]["generation"] == after["feat_customer__orders.v1"]


def test_a_stale_source_refuses_the_views_downstream(project: RunsProject) -> None:
    project.feed(age=timedelta(days=3))
    try:
        done = project.featurehouse(
            "run", "--no-build", "--quiet", "--select", "feat_feed__events",
            "--select", "feat_customer__orders",
        )  # fmt: skip
    finally:
        project.feed(age=timedelta(hours=1))
    assert done.returncode == 1
    assert "feat_feed__events.v1 refused: source ingest.events is stale (freshness error)" in (
        done.stderr
    )
    assert "published feat_customer__orders.v1" in done.stdout


def test_a_second_run_refuses_while_one_holds_the_lock(project: RunsProject) -> None:
    with lock.hold(project.target_dir, "test-run-id", "featurehouse run (the test)"):
        done = project.featurehouse("run", "--no-build", "--quiet")
    assert done.returncode == 1
    assert "another featurehouse run of this project holds" in done.stderr
    assert "run test-run-id" in done.stderr and "pass --wait SECONDS" in done.stderr
    assert lock.held_by(project.target_dir) is None


def test_an_unreachable_online_store_stops_the_run_before_the_build(project: RunsProject) -> None:
    done = project.featurehouse("run", "--quiet", "--redis-url", "redis://127.0.0.1:1/0")
    assert done.returncode == 1
    assert "127.0.0.1:1" in done.stderr
    latest = project.runs()[0]
    assert latest["status"] == "failed" and "127.0.0.1:1" in latest["message"]
    assert latest["views"] == []


def test_a_run_killed_mid_publish_leaves_served_versions_whole_and_the_next_converges(
    project: RunsProject,
) -> None:
    before = project.generations()
    process = project.start("run", "--no-build", "--select", "feat_customer__orders",
                            "--select", "feat_feed__events")  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if "publishing feat_customer__orders.v1" in line:
            process.kill()
            break
    process.wait(timeout=60)
    assert process.returncode != 0
    assert lock.held_by(project.target_dir) is None  # the OS released it
    assert project.runs()[0]["status"] == "running"  # its end was never recorded
    selected = ("--select", "feat_customer__orders.v1", "--select", "feat_feed__events.v1")
    whole = project.featurehouse("parity", "--all", "--json", "--quiet", *selected)
    assert json.loads(whole.stdout)["ok"] is True, whole.stdout  # old or new, never half
    done = project.featurehouse("run", "--no-build", "--quiet", "--select", "feat_customer__orders",
                                "--select", "feat_feed__events")  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = project.generations()
    assert all(
        after[ref] > before[ref] for ref in ("feat_customer__orders.v1", "feat_feed__events.v1")
    )
    again = project.featurehouse("parity", "--all", "--json", "--quiet", *selected)
    assert json.loads(again.stdout)["ok"] is True, again.stdout


def test_dry_run_says_what_it_would_do_and_builds_nothing(project: RunsProject) -> None:
    recorded = len(project.runs())
    done = project.featurehouse("run", "--dry-run", "--json", "--select", "feat_country__orders")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["views"] == ["feat_country__orders.v1"]
    assert "+feat_country__orders+" in found["dbt_command"]
    assert any("feat_country__orders" in node for node in found["nodes"])
    assert FAILING_TEST in found["nodes"]
    assert found["lock_holder"] is None
    assert len(project.runs()) == recorded


def test_backfill_builds_each_day_in_order_and_publishes_the_last(project: RunsProject) -> None:
    args = ("run", "--quiet", "--json", "--select", "feat_customer__orders")
    done = project.featurehouse(*args, "--from", "2026-04-29", "--to", "2026-04-30")
    assert done.returncode == 0, done.stderr
    reports = json.loads(done.stdout)
    assert [r["as_of"] for r in reports] == ["2026-04-29T00:00:00", "2026-04-30T00:00:00"]
    assert [v["published"] for r in reports for v in r["views"]] == [False, True]
    assert all(r["status"] == "ok" for r in reports)
    first = reports[-1]["views"][0]["entities_written"]
    again = project.featurehouse(*args, "--from", "2026-04-30", "--to", "2026-04-30")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["views"][0]["entities_written"] == first  # idempotent
    recorded = {r["run_id"]: r for r in project.runs()}
    assert all(r["run_id"] in recorded for r in reports)
    assert recorded[reports[0]["run_id"]]["views_published"] == 0


def test_the_catalog_shows_the_last_runs_per_view(project: RunsProject, tmp_path: Path) -> None:
    done = project.featurehouse("catalog", "--out", str(tmp_path / "site"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "site" / "views" / "feat_country__orders.v1.html").read_text()
    runs = page.split("<h2>Last runs</h2>")[1]
    assert "not published" in runs and FAILING_TEST in runs  # the failing run refused it
    assert 'badge ok">published' in runs  # and the first run published it


def test_a_run_on_postgres_records_itself_in_postgres(
    project: RunsProject, pg_schema: str, tmp_path: Path
) -> None:
    env = {
        **project.env,
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "FEATUREHOUSE_PG_SCHEMA": f"{pg_schema}_runs",
        # A schema the session's cleanup drops (it and every <pg_schema>_* schema).
        "FEATUREHOUSE_MONITORING_SCHEMA": f"{pg_schema}_monitoring",
        "FEATUREHOUSE_REDIS_PREFIX": project.env["FEATUREHOUSE_REDIS_PREFIX"] + ":pg",
    }
    on_pg = RunsProject(tmp_path, env)
    args = ("--target", "pg", "--select", "feat_customer__orders")
    done = on_pg.featurehouse("run", "--quiet", "--json", *args)
    assert done.returncode == 0, done.stderr
    [report] = json.loads(done.stdout)
    listed = on_pg.featurehouse("runs", "--json", "--target", "pg")
    assert listed.returncode == 0, listed.stderr
    [record] = json.loads(listed.stdout)
    assert (record["run_id"], record["status"], record["target"]) == (report["run_id"], "ok", "pg")
    assert [(v["view"], v["published"]) for v in record["views"]] == [
        ("feat_customer__orders", True)
    ]
