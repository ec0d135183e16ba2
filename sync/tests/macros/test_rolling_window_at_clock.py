"""rolling_window_agg's at-clock rendering (what `featurehouse stream` compiles its views
with) gives, on random events in DuckDB, exactly the row latest_feature_rows picks from the
full rendering at the same clock: keys, effective_at, loaded_at, last event, every total."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import duckdb
import pytest
from featurehouse.project import render
from hypothesis import given, settings
from hypothesis import strategies as st
from sync_fixtures import MINI_DIR

pytestmark = pytest.mark.slow

SENTINEL = "1971-02-03 04:05:06.789012"
CALL = (
    "{{ featurehouse.rolling_window_agg(relation='events', keys=['customer_id'], "
    "event_timestamp='ts', loaded_timestamp='loaded_at', measures=["
    "{'name': 'events', 'agg': 'count'}, "
    "{'name': 'carts', 'agg': 'count', 'where': \"kind = 'cart'\"}, "
    "{'name': 'amount', 'agg': 'sum', 'expr': 'amount'}], "
    f"windows=['1h', '24h', '7d'], tick=TICK, lifetime=true, as_of='{SENTINEL}', "
    "last_event_column='last_event_at') }}"
)
START = dt.datetime(2026, 1, 1)


def _compile(env: dict[str, str], tmp: Path, tick: str, at_clock: bool) -> str:
    variables = {"featurehouse_stream_at_clock": ["inline_query"] if at_clock else []}
    command = [
        render.dbt_executable(), "compile", "--quiet", "--output", "json",
        "--inline", CALL.replace("TICK", tick), "--vars", json.dumps(variables),
        "--target-path", str(tmp / f"target-{tick.strip(chr(39))}-{at_clock}"),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=MINI_DIR, env=env, capture_output=True, text=True,
                          timeout=600, check=True)  # fmt: skip
    return str(json.loads(done.stdout)["compiled"])


@pytest.fixture(scope="module")
def renderings(
    mini_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("at_clock")
    found = {}
    for tick in ("'1d'", "'1h'", "none"):
        full, at_clock = (_compile(mini_env, tmp, tick, flag) for flag in (False, True))
        assert "_fh_at_clock" in at_clock and "_fh_at_clock" not in full
        found[tick] = (full, at_clock)
    return found


EVENT = st.tuples(
    st.integers(1, 4),  # customer
    st.integers(0, 10 * 24 * 60),  # minute of the event
    st.integers(0, 3 * 60),  # minutes until loaded
    st.sampled_from(["view", "cart"]),
    st.one_of(st.none(), st.integers(-50, 50)),  # amount (whole: sums exact in doubles)
)


@settings(max_examples=60, deadline=None)
@given(events=st.lists(EVENT, min_size=1, max_size=30), clock=st.integers(0, 12 * 24 * 60 * 60))
def test_the_at_clock_row_is_the_latest_row_of_the_full_rendering(
    renderings: dict[str, tuple[str, str]], events: list[tuple], clock: int
) -> None:
    as_of = START + dt.timedelta(seconds=clock)
    with duckdb.connect() as db:
        db.execute("create table events (customer_id bigint, ts timestamp, "
                   "loaded_at timestamp, kind varchar, amount double)")  # fmt: skip
        db.executemany("insert into events values (?, ?, ?, ?, ?)", [
            (c, START + dt.timedelta(minutes=m), START + dt.timedelta(minutes=m + lag), k, a)
            for c, m, lag, k, a in events
        ])  # fmt: skip
        for tick, (full, at_clock) in renderings.items():
            literal = as_of.isoformat(sep=" ")
            latest = db.execute(
                f"select * from ({full.replace(SENTINEL, literal)}) as f "
                "qualify row_number() over (partition by customer_id order by effective_at desc)"
                " = 1 order by customer_id"
            ).fetchall()
            mine = db.execute(
                f"select * from ({at_clock.replace(SENTINEL, literal)}) order by customer_id"
            ).fetchall()
            assert mine == latest, tick
