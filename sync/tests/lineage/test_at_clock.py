"""lineage.at_clock: which views may use rolling_window_agg's at-clock rendering (their
rows pass the macro's rows through one for one, keys and event timestamp unchanged)."""

from __future__ import annotations

import pytest
from featurehouse.lineage.at_clock import passes_through

pytestmark = pytest.mark.fast

MACRO = """(
    with _fh_events as (select * from events),
    _fh_at_clock as (select customer_id, max(ts) as _fh_ts, sum(v) as total
                     from _fh_events group by customer_id)
    select customer_id, _fh_ts as effective_at, total as count_orders_7d from _fh_at_clock
)"""
KEPT = ["customer_id", "effective_at"]


def view(body: str) -> str:
    return f"with windows as {MACRO},\nshaped as ({body})\nselect * from shaped"


@pytest.mark.parametrize(
    "body",
    [
        "select * from windows",
        "select customer_id, effective_at, count_orders_7d * 2 as doubled from windows",
        "select *, coalesce(count_orders_7d, 0) > 0 as active from windows",
    ],
)
def test_row_wise_views_pass_the_rows_through(body: str) -> None:
    assert passes_through(view(body), KEPT, "duckdb", "v")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("select * from windows where count_orders_7d > 0", "a filter picks other rows"),
        ("select customer_id, max(effective_at) as effective_at from windows group by 1",
         "an aggregate"),
        ("select *, lag(count_orders_7d) over (partition by customer_id order by effective_at)"
         " as previous from windows", "a window reads other rows"),
        ("select w.* from windows as w join spine using (customer_id)", "a join"),
        ("select customer_id, effective_at + interval 1 day as effective_at from windows",
         "the event timestamp is changed"),
        ("select customer_id + 1 as customer_id, effective_at from windows", "a key is changed"),
        ("select distinct * from windows", "distinct"),
        ("select * from windows limit 10", "a limit"),
        ("select * from other_windows", "not the macro's rows"),
    ],
)  # fmt: skip
def test_views_that_change_rows_are_compiled_in_full(body: str, why: str) -> None:
    assert not passes_through(view(body), KEPT, "duckdb", "v"), why


def test_a_view_without_the_macro_is_not_at_clock() -> None:
    assert not passes_through("select * from events", KEPT, "duckdb", "v")
