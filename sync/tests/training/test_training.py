"""Training sets from Python on the demo build: FeatureStore.get_historical_features against a
brute-force point-in-time reference computed here from the views' rows, pinned and latest
versions mixed, two entities in one spine, every spine kind, streaming, time zones."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from featurehouse import training
from featurehouse.api import FeatureStore
from featurehouse.project.registry import FeatureView
from sync_fixtures import REPO_ROOT

FEATURES = [
    "feat_customer__orders.v1:count_orders_7d",
    "feat_customer__orders.v1:sum_order_amount_30d",
    "feat_customer__orders:count_orders_7d",  # latest: v2
    "feat_customer__orders:avg_order_amount_30d",
    "feat_customer__activity:count_sessions_1h",
    "feat_customer__category_affinity:*",  # double[] among them
    "feat_product__popularity:conversion_rate_7d",
]
PREFIXES = {
    "feat_customer__orders__v1__": "feat_customer__orders.v1",
    "feat_customer__orders__": "feat_customer__orders.v2",
    "feat_customer__activity__": "feat_customer__activity.v1",
    "feat_customer__category_affinity__": "feat_customer__category_affinity.v1",
    "feat_product__popularity__": "feat_product__popularity.v1",
}
# Rendering a new request shape costs a dbt start-up (~20 s): the other tests reuse these.
SMALL = FEATURES[:3]
KNOWN = ["feat_customer__orders.v1:count_orders_7d", "feat_customer__orders:count_orders_7d"]
START, END = dt.datetime(2026, 1, 1), dt.datetime(2026, 5, 1)
_ROWS: dict[tuple[str, str], dict[Any, list[dict[str, Any]]]] = {}


@pytest.fixture
def store(fh_env: dict[str, str]) -> FeatureStore:
    return FeatureStore(project_dir=REPO_ROOT)


def view_rows(base_env: dict[str, str], view: FeatureView) -> dict[Any, list[dict[str, Any]]]:
    """Every row of the view's relation by entity key (read-only, no macro involved)."""
    cached = _ROWS.get((base_env["FEATUREHOUSE_DUCKDB_PATH"], str(view.relation)))
    if cached is not None:
        return cached
    with duckdb.connect(base_env["FEATUREHOUSE_DUCKDB_PATH"], read_only=True) as connection:
        rows = connection.sql(f"select * from {view.relation}").to_arrow_table().to_pylist()
    by_key: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_key[tuple(row[k.name] for k in view.keys)].append(row)
    _ROWS[(base_env["FEATUREHOUSE_DUCKDB_PATH"], str(view.relation))] = by_key
    return by_key


def brute_force(
    rows: dict[Any, list[dict[str, Any]]], view: FeatureView, key: tuple, at: Any, known: bool
) -> dict[str, Any] | None:
    """The rule of DESIGN.md, by hand: latest event <= t within the TTL, ties to the latest
    created (a missing created ts loses), as-known-at also created <= t."""
    if at is None or any(k is None for k in key):
        return None
    ttl = dt.timedelta(seconds=view.ttl_seconds or 0)
    created = view.created_timestamp
    matching = [
        r
        for r in rows.get(key, [])
        if r[view.event_timestamp] <= at
        and (view.ttl_seconds is None or r[view.event_timestamp] >= at - ttl)
        and (not known or (r[created] is not None and r[created] <= at))
    ]
    oldest = dt.datetime.min
    return max(
        matching,
        key=lambda r: (r[view.event_timestamp], (r[created] if created else None) or oldest),
        default=None,
    )


def sample_spine(store: FeatureStore, base_env: dict[str, str], n: int = 160) -> pa.Table:
    """Customers and products with times on event rows (ties), on TTL boundaries (inclusive)
    and a microsecond past them, random times, unknown and null keys, duplicated rows."""
    registry = store._context.registry
    orders = view_rows(base_env, registry.resolve("feat_customer__orders.v1"))
    products = sorted(view_rows(base_env, registry.resolve("feat_product__popularity")))
    rng = random.Random(5)
    customers = sorted(orders)
    rows = []
    for i in range(n):
        (customer,) = rng.choice(customers)
        event = rng.choice(orders[(customer,)])["effective_at"]
        at = [
            event,
            event + dt.timedelta(days=1),
            event + dt.timedelta(days=1, microseconds=1),
            START + dt.timedelta(seconds=rng.randrange(int((END - START).total_seconds()))),
            START - dt.timedelta(days=3),
        ][i % 5]
        customer = {7: 10**12, 11: None}.get(i % 13, customer)
        rows.append({"customer_id": customer, "product_id": rng.choice(products)[0], "at": at})
    rows += [*rows[:9], {"customer_id": 1151, "product_id": 1, "at": None}]
    schema = pa.schema(
        [("customer_id", pa.int64()), ("product_id", pa.int64()), ("at", pa.timestamp("us"))]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


def assert_matches_reference(
    store: FeatureStore,
    base_env: dict[str, str],
    spine: pa.Table,
    out: pa.Table,
    *,
    known: bool,
    prefixes: dict[str, str],
) -> int:
    """Every output value equals the brute-force answer; returns how many were checked."""
    registry = store._context.registry
    assert out.num_rows == spine.num_rows
    assert out.select(spine.column_names).equals(spine)  # every spine row once, in order
    checked = 0
    for prefix, ref in prefixes.items():
        view = registry.resolve(ref)
        rows = view_rows(base_env, view)
        columns = {f.name for f in view.features} | {view.event_timestamp}
        names = [c[len(prefix) :] for c in out.column_names if c.startswith(prefix)]
        names = [n for n in names if n in columns]
        assert view.event_timestamp in names, (prefix, names)
        for i, row in enumerate(spine.to_pylist()):
            key = tuple(row[k.name] for k in view.keys)
            expected = brute_force(rows, view, key, row["at"], known)
            for name in names:
                got = out.column(prefix + name)[i].as_py()
                want = None if expected is None else expected[name]
                assert (got is None and want is None) or same(got, want), (
                    ref,
                    name,
                    row,
                    got,
                    want,
                )
                checked += 1
    return checked


def test_mixed_versions_match_brute_force(store: FeatureStore, base_env: dict[str, str]) -> None:
    spine = sample_spine(store, base_env)
    out = store.get_historical_features(spine, FEATURES)
    assert out.column_names[:3] == ["customer_id", "product_id", "at"]
    assert "feat_customer__orders__v1__count_orders_7d" in out.column_names
    assert "feat_customer__orders__count_orders_7d" in out.column_names
    assert "feat_customer__category_affinity__category_affinity_30d" in out.column_names
    assert out.schema.field("feat_customer__category_affinity__category_affinity_30d").type == (
        pa.list_(pa.float64())
    )
    info = json.loads(out.schema.metadata[b"featurehouse"])
    assert info["views"] == PREFIXES and info["as_known_at"] is False
    matched = out.column("feat_customer__orders__v1__effective_at").null_count
    assert 0 < matched < out.num_rows  # both matches and misses are exercised
    checked = assert_matches_reference(store, base_env, spine, out, known=False, prefixes=PREFIXES)
    assert checked > 2_000


def test_as_known_at_matches_brute_force(store: FeatureStore, base_env: dict[str, str]) -> None:
    spine = sample_spine(store, base_env)
    known = store.get_historical_features(spine, KNOWN, as_known_at=True)
    every = store.get_historical_features(spine, SMALL)
    orders = {k: v for k, v in PREFIXES.items() if "orders" in k}
    assert_matches_reference(store, base_env, spine, known, known=True, prefixes=orders)
    assert json.loads(known.schema.metadata[b"featurehouse"])["as_known_at"] is True
    column = "feat_customer__orders__effective_at"
    late = [
        a != b for a, b in zip(known[column].to_pylist(), every[column].to_pylist(), strict=True)
    ]
    assert any(late), "late-loaded rows should change some answers"


def test_every_spine_kind_gives_the_same_table(
    store: FeatureStore, base_env: dict[str, str], tmp_path: Path
) -> None:
    spine = sample_spine(store, base_env, n=60)
    features = SMALL
    expected = store.get_historical_features(spine, features)
    path = tmp_path / "spine.parquet"
    pq.write_table(spine, path)
    # Nullable integers: pandas' default turns an int column with nulls into floats.
    frame = spine.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    assert isinstance(frame, pd.DataFrame)
    kinds = {
        "pandas": frame,
        "parquet str": str(path),
        "parquet Path": path,
        "record batch": spine.to_batches()[0] if spine.num_rows else spine,
    }
    for kind, given in kinds.items():
        got = store.get_historical_features(given, features)
        assert got.equals(expected), kind
    query = (
        'select customer_id, product_id, "at" from (values '
        + ", ".join(
            f"({_sql(r['customer_id'])}, {_sql(r['product_id'])}, {_sql(r['at'], ts=True)})"
            for r in spine.to_pylist()
        )
        + ') as spine(customer_id, product_id, "at")'
    )
    got = store.get_historical_features(query, features)
    assert got.cast(expected.schema).equals(expected)


def _sql(value: Any, ts: bool = False) -> str:
    if value is None:
        return "null::timestamp" if ts else "null::bigint"
    return f"timestamp '{value}'" if ts else str(value)


def test_sql_spine_reads_the_warehouse(store: FeatureStore) -> None:
    query = "select customer_id, ordered_at from main.stg_shop__orders order by order_id limit 200"
    out = store.get_historical_features(query, SMALL)
    assert out.num_rows == 200 and out.column_names[:2] == ["customer_id", "ordered_at"]
    # At its own order time every completed order counts itself in the 7d window.
    assert out.column("feat_customer__orders__effective_at").null_count < 200


def test_any_order_gives_the_same_rows(store: FeatureStore, base_env: dict[str, str]) -> None:
    """keep_order=False: the same rows (values, columns, metadata), in whatever order, from
    SQL without the sort and the positional join that keep the spine's."""
    spine = sample_spine(store, base_env)
    spine = spine.append_column("row_id", pa.array(range(spine.num_rows), pa.int64()))
    ordered = store.get_historical_features(spine, FEATURES)
    unordered = store.get_historical_features(spine, FEATURES, keep_order=False)
    assert unordered.schema.equals(ordered.schema, check_metadata=True)
    assert unordered.sort_by("row_id").equals(ordered)
    context = store._context
    args = (context.project, context.target, context.artifacts, context.registry, spine)
    sql = {keep: training.prepare(*args, FEATURES, keep_order=keep).sql for keep in (True, False)}
    sort = "order by _pit_spine.__featurehouse_row"
    assert "positional join" in sql[True] and sort in sql[True]
    assert "positional join" not in sql[False] and sort not in sql[False]
    streamed = store.stream_historical_features(spine, SMALL, batch_size=50, keep_order=False)
    table = pa.Table.from_batches(list(streamed)).sort_by("row_id")
    assert table.equals(store.get_historical_features(spine, SMALL))
    known = store.get_historical_features(spine, KNOWN, as_known_at=True, keep_order=False)
    assert known.sort_by("row_id").equals(
        store.get_historical_features(spine, KNOWN, as_known_at=True)
    )


def test_streaming_batches(store: FeatureStore, base_env: dict[str, str]) -> None:
    spine = sample_spine(store, base_env, n=60)
    reader = store.stream_historical_features(spine, SMALL, batch_size=16)
    assert isinstance(reader, pa.RecordBatchReader)
    batches = list(reader)
    assert len(batches) > 1 and all(b.num_rows <= 16 for b in batches)
    table = pa.Table.from_batches(batches)
    assert table.equals(store.get_historical_features(spine, SMALL))


def test_time_zones_and_dates(store: FeatureStore) -> None:
    berlin = dt.timezone(dt.timedelta(hours=2))
    aware = pa.table(
        {
            "customer_id": [1151, 1151],
            "at": pa.array(
                [
                    dt.datetime(2026, 4, 20, 14, tzinfo=berlin),
                    dt.datetime(2026, 4, 20, 12, tzinfo=dt.UTC),
                ],
                pa.timestamp("us", tz="Europe/Berlin"),
            ),
        }
    )
    features = SMALL
    out = store.get_historical_features(aware, features)
    event = out.column("feat_customer__orders__effective_at").to_pylist()
    assert event[0] == event[1]  # 14:00 +02:00 is 12:00 UTC
    dates = pa.table({"customer_id": [1151], "day": pa.array([dt.date(2026, 4, 20)], pa.date32())})
    naive = pa.table({"customer_id": [1151], "day": [dt.datetime(2026, 4, 20)]})
    assert (
        store.get_historical_features(dates, features)
        .column(2)
        .equals(store.get_historical_features(naive, features).column(2))
    )
