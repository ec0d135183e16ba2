"""The pure parts of `featurehouse run`: backfill days, dbt selectors and vars, the lock's
holder and refusal, and the one-line failure message."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from featurehouse.errors import ConfigError
from featurehouse.pipeline import dbt, lock
from featurehouse.pipeline.gate import Verdict
from featurehouse.pipeline.plan import days
from featurehouse.pipeline.run import RunReport, ViewOutcome, failure_message
from featurehouse.project.settings import parse_vars

pytestmark = pytest.mark.fast


def test_backfill_days_are_each_midnight_from_start_to_end() -> None:
    assert days(datetime(2026, 4, 29, 13), datetime(2026, 5, 1)) == [
        datetime(2026, 4, 29), datetime(2026, 4, 30), datetime(2026, 5, 1),
    ]  # fmt: skip
    assert days(datetime(2026, 5, 1), datetime(2026, 5, 1, 23)) == [datetime(2026, 5, 1)]
    with pytest.raises(ConfigError, match="--to 2026-04-01 is before --from 2026-05-01"):
        days(datetime(2026, 5, 1), datetime(2026, 4, 1))


def test_dbt_selection_takes_upstream_and_downstream_and_vars_as_json() -> None:
    assert dbt.select_args(["feat_a", "feat_b.v2"]) == ["--select", "+feat_a+", "+feat_b.v2+"]
    assert dbt.select_args([]) == []
    args = dbt.vars_args({"as_of": "2026-05-01 00:00:00", "n": 1})
    assert args[0] == "--vars" and json.loads(args[1]) == {"as_of": "2026-05-01 00:00:00", "n": 1}
    assert dbt.vars_args({}) == []


def test_vars_parse_as_yaml_mappings_or_say_how() -> None:
    assert parse_vars("{fail_country: true, n: 2}") == {"fail_country": True, "n": 2}
    assert parse_vars(None) == {}
    with pytest.raises(ConfigError, match="write a mapping"):
        parse_vars("[1, 2]")


def test_a_second_holder_is_refused_naming_the_first(tmp_path: Path) -> None:
    with lock.hold(tmp_path, "run-1", "featurehouse run --select a"):
        holder = lock.held_by(tmp_path)
        assert holder is not None and holder["run_id"] == "run-1"
        refused = pytest.raises(lock.RunLocked, match=r"run run-1 .*featurehouse run --select a")
        with refused, lock.hold(tmp_path, "run-2", "featurehouse run", wait=0.6):
            pass
    assert lock.held_by(tmp_path) is None
    with lock.hold(tmp_path, "run-3", "featurehouse run"):  # free again
        assert lock.held_by(tmp_path)["run_id"] == "run-3"


def test_the_failure_message_names_each_refused_view_its_tests_and_other_failures() -> None:
    class View:
        def __init__(self, ref: str) -> None:
            self.ref = ref

    refused = Verdict(View("a.v1"), "success", 3, 1, ("assert_a_ok (fail)",))  # type: ignore[arg-type]
    passed = Verdict(View("b.v1"), "success", 2, 0, ())  # type: ignore[arg-type]
    report = RunReport(
        run_id="r", started_at=datetime(2026, 5, 1), as_of=datetime(2026, 5, 1), clock="as_of",
        selection=(), views=(ViewOutcome(refused), ViewOutcome(passed, error="redis down")),
        failed_nodes=("assert_a_ok (fail)", "ds_training (error)"),
    )  # fmt: skip
    assert failure_message(report) == (
        "a.v1 refused: assert_a_ok (fail); b.v1 not published: redis down; "
        "other failed nodes: ds_training (error)"
    )
    clean = RunReport(
        run_id="r", started_at=datetime(2026, 5, 1), as_of=datetime(2026, 5, 1), clock="as_of",
        selection=(), views=(ViewOutcome(passed),),
    )  # fmt: skip
    assert failure_message(clean) is None
