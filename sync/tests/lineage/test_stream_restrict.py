"""Restricting a view's chain to a few entities (lineage.restrict): what is proved, what is
refused and why, and, on random data in DuckDB, that the restricted rows equal the full
build's and that every entity whose rows a new event changes is among the affected ones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import pytest
from featurehouse.lineage import closure_sql, restrict
from featurehouse.lineage.chain import (
    SOURCE_TABLE,
    ChainModel,
    chain_query,
    relation_key,
    view_rows_sql,
)
from hypothesis import given, settings
from hypothesis import strategies as st

CLOCK = "1971-02-03 04:05:06.789012"
SOURCE = relation_key("db", "raw", "events")
STG = """
with source as (select * from "db"."raw"."events"),
renamed as (
    select
        cast(id as bigint) as event_id,
        cast(session_id as bigint) as session_id,
        cast(customer_id as bigint) as customer_id,
        cast(kind as varchar) as kind,
        cast(event_at as timestamp) as event_at
    from source
)
select * from renamed
"""
INT = """
with events as (select * from "db"."main"."stg_events"),
kinds as (select * from "db"."main"."kinds"),
sequenced as (
    select *, row_number() over (partition by session_id order by event_at, event_id) as n
    from events
)
select sequenced.*, kinds.weight
from sequenced
inner join kinds on sequenced.kind = kinds.kind
"""
VIEW = f"""
with recursive e as (
    select customer_id, event_at, weight, n = 1 as is_start
    from "db"."main"."int_events"
    where customer_id is not null and event_at <= cast('{CLOCK}' as timestamp)
),
first_events as (select customer_id, min(event_at) as first_at from e group by customer_id),
ticks (customer_id, event_at) as (
    select customer_id, first_at from first_events
    union all
    select customer_id, event_at + interval 1 day from ticks
    where event_at + interval 1 day <= cast('{CLOCK}' as timestamp)
),
points as (
    select customer_id, event_at, sum(weight) as w, sum(case when is_start then 1 else 0 end) as s
    from e group by customer_id, event_at
    union all
    select customer_id, event_at, 0, 0 from ticks
),
running as (
    select
        customer_id,
        event_at,
        sum(w) over (partition by customer_id order by event_at, w, s rows unbounded preceding)
            as total,
        sum(s) over (partition by customer_id order by event_at, w, s rows unbounded preceding)
            as sessions
    from points
)
select * from running
"""


def _models(view: str = VIEW, inter: str = INT) -> list[ChainModel]:
    return [
        ChainModel("stg_events", "stg_events", (relation_key("db", "main", "stg_events"),), STG),
        ChainModel("int_events", "int_events", (relation_key("db", "main", "int_events"),), inter),
        ChainModel("feat_c", "feat_c", (relation_key("db", "main", "feat_c"),), view),
    ]


SCHEMA = {
    SOURCE_TABLE[0]: {
        SOURCE_TABLE[1]: {
            SOURCE_TABLE[2]: {
                "id": "bigint",
                "session_id": "bigint",
                "customer_id": "bigint",
                "kind": "varchar",
                "event_at": "timestamp",
            }
        }
    },
    "db": {"main": {"kinds": {"kind": "varchar", "weight": "bigint"}}},
}


def _restriction(models: list[ChainModel]) -> restrict.Restriction:
    query = chain_query(models, [SOURCE], "duckdb")
    return restrict.restriction(query, ["customer_id"], SCHEMA, "duckdb")


def test_a_session_window_adds_a_closure_step() -> None:
    found = _restriction(_models())
    assert found.proved, found.reason
    assert [c.steps for c in found.closures] == [
        (("CAST(customer_id AS BIGINT)",), ("CAST(session_id AS BIGINT)",))
    ]


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (  # a global aggregate feeding every entity's rows
            "select customer_id, first_at from first_events\n",
            "select customer_id, (select min(first_at) from first_events) from first_events\n",
            "subquery",
        ),
        (  # a recursive step that moves rows to another entity
            "select customer_id, event_at + interval 1 day from ticks",
            "select customer_id + 1, event_at + interval 1 day from ticks",
            "recursive step of ticks",
        ),
        (  # a running total over every entity
            "sum(w) over (partition by customer_id order by event_at, w, s rows unbounded",
            "sum(w) over (order by event_at, w, s rows unbounded",
            "without partition by",
        ),
        (  # the first rows only
            "from e group by customer_id, event_at\n",
            "from e group by customer_id, event_at limit 10\n",
            "limit",
        ),
    ],
)
def test_what_cannot_be_restricted_says_why(old: str, new: str, reason: str) -> None:
    assert old in VIEW
    found = _restriction(_models(view=VIEW.replace(old, new)))
    assert not found.proved
    assert reason in (found.reason or ""), found.reason


def test_a_join_of_two_relations_read_from_the_source_is_refused() -> None:
    inter = INT.replace(
        "inner join kinds on sequenced.kind = kinds.kind",
        "inner join kinds on sequenced.kind = kinds.kind\n"
        "inner join events as other on other.event_id = sequenced.event_id",
    )
    found = _restriction(_models(inter=inter))
    assert not found.proved
    assert "which all read the source" in (found.reason or "")


def test_the_null_side_of_an_outer_join_is_refused() -> None:
    inter = INT.replace(
        "from sequenced\ninner join kinds on sequenced.kind = kinds.kind",
        "from kinds\nleft join sequenced on sequenced.kind = kinds.kind",
    )
    found = _restriction(_models(inter=inter))
    assert not found.proved
    assert "null side" in (found.reason or ""), found.reason


# -- on data -----------------------------------------------------------------------------

Row = tuple[int, int, int | None, str, dt.datetime]
_rows = st.lists(
    st.tuples(
        st.integers(1, 4),  # session
        st.one_of(st.none(), st.integers(1, 5)),  # customer (None: logged out)
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 3 * 24 * 60),  # minutes into the data
    ),
    max_size=40,
)


def _table(rows: list[tuple[int, int | None, str, int]], first_id: int = 1) -> list[Row]:
    start = dt.datetime(1971, 1, 30)
    return [
        (first_id + i, s, c, k, start + dt.timedelta(minutes=m))
        for i, (s, c, k, m) in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("attach ':memory:' as db; create schema db.raw")
    connection.execute(
        "create table db.main.kinds as "
        "select * from (values ('a', 1), ('b', 2), ('c', 5)) t(kind, weight)"
    )
    connection.execute(
        "create table fh_all (id bigint, session_id bigint, customer_id bigint, kind varchar, "
        "event_at timestamp)"
    )
    connection.execute("create table fh_touched (customer_id bigint)")
    connection.execute("create table fh_new as select * from fh_all limit 0")
    yield connection
    connection.close()


def _load(db: duckdb.DuckDBPyConnection, table: str, rows: list[Row]) -> None:
    db.execute(f"delete from {table}")
    if rows:
        db.executemany(f"insert into {table} values (?, ?, ?, ?, ?)", rows)


def _view_rows(db: duckdb.DuckDBPyConnection, source_sql: str, touched: str | None) -> set:
    query = chain_query(_models(), [SOURCE], "duckdb")
    sql = view_rows_sql(query, source_sql, ["customer_id"], touched, "duckdb", CLOCK)
    return set(db.execute(sql, {"as_of": dt.datetime(1971, 2, 3)}).fetchall())


FOUND = _restriction(_models())


@settings(max_examples=60)
@given(rows=_rows, touched=st.sets(st.integers(1, 5), max_size=3))
def test_restricted_rows_equal_the_full_build(db, rows, touched) -> None:
    _load(db, "fh_all", _table(rows))
    db.execute("delete from fh_touched")
    for key in touched:
        db.execute("insert into fh_touched values (?)", [key])
    restricted = closure_sql.restricted_sql(
        FOUND, "fh_all", "fh_touched", ["customer_id"], "duckdb"
    )
    got = _view_rows(db, restricted, "fh_touched")
    full = {row for row in _view_rows(db, "select * from fh_all", None) if row[0] in touched}
    assert got == full


@settings(max_examples=60)
@given(rows=_rows, new=_rows.filter(lambda r: 0 < len(r) <= 5))
def test_every_entity_a_new_event_changes_is_affected(db, rows, new) -> None:
    before_rows, new_rows = _table(rows), _table(new, first_id=1000)
    _load(db, "fh_all", before_rows)
    before = _view_rows(db, "select * from fh_all", None)
    _load(db, "fh_all", before_rows + new_rows)
    _load(db, "fh_new", new_rows)
    after = _view_rows(db, "select * from fh_all", None)
    changed = {row[0] for row in before ^ after}
    sql = closure_sql.affected_sql(FOUND, "fh_all", "fh_new", ["customer_id"], "duckdb")
    affected = {row[0] for row in db.execute(sql).fetchall()}
    assert changed <= affected
