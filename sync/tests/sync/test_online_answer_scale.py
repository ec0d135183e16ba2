"""The online answer at benchmark size: the same check as test_online_answer_property, on
FEATUREHOUSE_ANSWER_ENTITIES entities (default 100,000; the closing note of #15 ran 1,000,000)
of the fixture view fix_pit__bench (TTL 30d, a created timestamp, 8 features).

Rows spread over 60 days before T1 to T2 = T1 + 20d, some loaded up to 2 days late, some exactly
on the TTL boundary at T2; 10% of the checked ids never have a row. Store A: a full sync as of
T1 of the rows loaded by then, then an incremental sync as of T2 of the rows loaded by T2.
Store B: one full sync as of T2. Every entity's answer in both (status, event_at, all eight
values) equals a brute-force row_number() over the rows at or before T2, and the counts print.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

import duckdb
import pytest
from featurehouse.api.context import Context
from featurehouse.online import OnlineStore, ReadRequest
from featurehouse.project import render
from featurehouse.sync import materialize
from featurehouse.warehouse.duckdb import DuckDB
from online_support import shared_client
from online_support import test_store as make_store
from sync_fixtures import INTEGRATION_DIR

pytestmark = pytest.mark.slow
ENTITIES = int(os.environ.get("FEATUREHOUSE_ANSWER_ENTITIES", "100000"))
T1 = datetime(2026, 5, 1)
T2 = T1 + timedelta(days=20)
TTL = timedelta(days=30)
FEATURES = [f"f{i}" for i in range(1, 9)]
BATCH = 20_000

ROWS = f"""
select setseed(0.15);
create or replace table generated as
with base as (
    select
        i % {ENTITIES} as entity_id,
        case when i % 97 = 0
            then timestamp '{T2 - TTL}'  -- exactly on the TTL boundary at T2
            else timestamp '{T1}' - interval 60 day
                + to_microseconds(cast(random() * 80 * 86400e6 as bigint))
        end as effective_at,
        i
    from range({ENTITIES * 3}) t(i)
    where i % {ENTITIES} % 10 != 9  -- every tenth entity never has a row
)
select
    entity_id,
    effective_at,
    case when i % 5 = 0
        then effective_at + to_microseconds(cast(random() * 2 * 86400e6 as bigint))
        else effective_at
    end as loaded_at,
    {", ".join(f"cast(floor(random() * 1e12) - 5e11 as bigint) as {f}" for f in FEATURES)}
from base
"""

EXPECTED = f"""
select
    e.entity_id,
    case
        when l.effective_at is null then 'not_found'
        when l.effective_at < timestamp '{T2 - TTL}' then 'expired'
        else 'present'
    end as status,
    l.effective_at,
    {", ".join(f"l.{f}" for f in FEATURES)}
from range({ENTITIES + ENTITIES // 10}) e(entity_id)
left join (
    select * from generated
    where effective_at <= timestamp '{T2}' and loaded_at <= timestamp '{T2}'
    qualify row_number() over (
        partition by entity_id order by effective_at desc, loaded_at desc
    ) = 1
) l using (entity_id)
order by e.entity_id
"""


def _load(con: duckdb.DuckDBPyConnection, relation: str, clock: datetime) -> None:
    con.execute(
        f"create or replace table {relation} as select * from generated "
        f"where loaded_at <= timestamp '{clock}'"
    )


def _served(store: OnlineStore, view: str, ids: list[int]) -> list[tuple]:
    request = ReadRequest(view, 1, tuple(FEATURES))
    [r] = store.read([request], [{"entity_id": i} for i in ids], now=T2)
    return [(r.statuses[i][0], r.event_at[i], *r.values[i]) for i in range(len(ids))]


def test_one_answer_at_benchmark_size(integration_env: dict[str, str]) -> None:
    context = Context(project_dir=INTEGRATION_DIR, env=integration_env)
    view = context.registry.resolve("fix_pit__bench")
    sql = render.latest_rows_sql(
        context.project, context.target, context.artifacts.manifest, [view], "$as_of"
    )[view.ref]
    rel = view.relation
    relation = f'"{rel.database}"."{rel.schema}"."{rel.alias}"'
    con = duckdb.connect()
    con.execute(f"attach ':memory:' as \"{rel.database}\"")
    con.execute(f'create schema if not exists "{rel.database}"."{rel.schema}"')
    con.execute(ROWS)
    warehouse = DuckDB(con)
    seconds: dict[str, float] = {}
    with make_store(shared_client()) as a, make_store(shared_client()) as b:
        for store, mode, clock in ((a, "full", T1), (a, "incremental", T2), (b, "full", T2)):
            _load(con, relation, clock)
            state = a.describe(view.name, view.version) if mode == "incremental" else None
            started = time.monotonic()
            options = materialize.SyncOptions(as_of=clock, clock="as_of", mode=mode)
            summary = materialize.sync_view(view, sql, warehouse, store, options, state=state)
            seconds[f"{mode} {clock:%m-%d}"] = time.monotonic() - started
            assert summary.mode == mode
        reader = con.sql(EXPECTED).to_arrow_table().to_batches(BATCH)
        counts = {"present": 0, "expired": 0, "not_found": 0}
        for batch in reader:
            expected = [tuple(row.values()) for row in batch.to_pylist()]
            ids = [row[0] for row in expected]
            want = [_py(row[1:]) for row in expected]
            for name, store in (("incremental", a), ("full", b)):
                got = _served(store, view.name, ids)
                bad = [(i, w, g) for i, w, g in zip(ids, want, got, strict=True) if w != _py(g)]
                assert not bad, f"{name}: {len(bad)} entities differ, first {bad[:3]}"
            for row in want:
                counts[row[0]] += 1
    con.close()
    print(
        f"\n{ENTITIES:,} entities with rows, {sum(counts.values()):,} checked: {counts}; {seconds}"
    )
    assert all(counts.values())


def _py(answer: tuple) -> tuple:
    """The store's answer in the brute force's shape (values only when present)."""
    status, event, *values = answer
    return (status, event, *(values if status == "present" else [None] * len(values)))
