"""The online store against the shared Redis (each test under its own key prefix)."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import hiredis
import pyarrow as pa
import pytest
import redis
from featurehouse.online import (
    InvalidKeyError,
    NotPublishedError,
    OnlineStore,
    OnlineStoreError,
    ReadRequest,
    ViewSchema,
    packed,
)
from featurehouse.online.clock import ClockError
from featurehouse.online.encoding import JSON, Codec
from featurehouse.online.encoding import to_epoch_us as to_us
from featurehouse.online.packed import untagged
from featurehouse.online.redis import RedisStore, layout
from featurehouse.online.redis.cluster import is_cluster, open_client
from featurehouse.online.redis.connection import endpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from online_support import (
    ALL_TYPES,
    AS_OF,
    SHARED_URL,
    batch,
    prefixed_keys,
    schema,
    simple_batch,
)
from online_support import test_store as make_store


@pytest.fixture(scope="module")
def client(engine_url: str) -> redis.Redis:
    """A client of each engine (Redis, Valkey, a cluster), as the store opens it."""
    return open_client(endpoint(engine_url))


@pytest.fixture
def store(client: redis.Redis) -> Iterator[OnlineStore]:
    with make_store(client) as s:
        yield s


def publish(store: OnlineStore, sch, batches, **kw):
    kw.setdefault("as_of", AS_OF)
    kw.setdefault("clock", "as_of")
    kw.setdefault("mode", "full")
    kw.setdefault("watermark", AS_OF)
    kw.setdefault("is_latest", True)
    return store.publish(sch, batches, **kw)


def test_every_type_round_trips_with_nulls(store: OnlineStore) -> None:
    sch = schema(features=ALL_TYPES)
    texts = ['quote " and \\ backslash', "ünïcødé ✓ 日本", "a,b;c\nnew line\ttab\x01", "", None]
    t0 = datetime(2026, 4, 30, 12, 30, 15, 123456)
    b = batch(
        [1, 2, 3, 4, 5],
        AS_OF - timedelta(hours=1),
        f=pa.array([0.1, -0.0, float("nan"), 1e300, None]),
        i=pa.array([2**63 - 1, -(2**63), 0, 42, None], pa.int64()),
        s=pa.array(texts),
        b=pa.array([True, False, None, True, False]),
        t=pa.array([t0, datetime(1969, 7, 20, 20, 17), None, t0, t0], pa.timestamp("us")),
        l=pa.array([[1.5, None, 0.1], [], None, [float("inf")], [-0.0]], pa.list_(pa.float64())),
    )
    publish(store, sch, [b])
    [res] = store.read([ReadRequest(sch.view)], [{"customer_id": i} for i in range(1, 6)])
    rows = res.rows()
    assert [r["s"] for r in rows] == texts
    assert [r["i"] for r in rows] == [2**63 - 1, -(2**63), 0, 42, None]
    assert [r["b"] for r in rows] == [True, False, None, True, False]
    assert [r["t"] for r in rows] == [t0, datetime(1969, 7, 20, 20, 17), None, t0, t0]
    assert rows[0]["f"] == 0.1 and math.copysign(1, rows[1]["f"]) == -1
    assert math.isnan(rows[2]["f"]) and rows[3]["f"] == 1e300 and rows[4]["f"] is None
    assert [r["l"] for r in rows[:4]] == [[1.5, None, 0.1], [], None, [float("inf")]]
    assert math.copysign(1, rows[4]["l"][0]) == -1
    assert res.types == tuple(t for _, t in ALL_TYPES)
    assert set(res.statuses) == {("present",) * 6}
    assert res.event_at == (AS_OF - timedelta(hours=1),) * 5


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=300))
def test_random_doubles_are_served_exactly(store: OnlineStore, bits: list[int]) -> None:
    values = [struct.unpack("<d", struct.pack("<Q", b))[0] for b in bits]
    sch = schema(features=(("x", "float64"),))
    publish(store, sch, [batch(list(range(len(values))), AS_OF, x=pa.array(values))])
    [res] = store.read([ReadRequest(sch.view)], [{"customer_id": i} for i in range(len(values))])
    for v, (got,) in zip(values, res.values, strict=True):
        assert (math.isnan(v) and math.isnan(got)) or struct.pack("<d", got) == struct.pack("<d", v)


def test_statuses_and_key_coercion(store: OnlineStore) -> None:
    sch = schema(ttl=86_400)
    events = [AS_OF - timedelta(hours=1), AS_OF - timedelta(days=1), AS_OF - timedelta(days=3)]
    b = batch([42, 43, 44], events, amount=pa.array([1.0, 2.0, 3.0]), count=pa.array([1, 2, 3]))
    publish(store, sch, [b])
    rows = [{"customer_id": "42"}, {"customer_id": 43.0}, {"customer_id": 44}, {"customer_id": 7}]
    [res] = store.read([ReadRequest(sch.view, 1, ("count",))], rows)
    assert res.statuses == (("present",), ("present",), ("expired",), ("not_found",))
    assert res.values == ((1,), (2,), (None,), (None,))  # the TTL boundary is inclusive
    assert res.event_at[2] == events[2] and res.event_at[3] is None
    with pytest.raises(InvalidKeyError, match="customer_id='abc' is not an int64"):
        store.read([ReadRequest(sch.view)], [{"customer_id": "abc"}])
    with pytest.raises(InvalidKeyError, match="lacks key customer_id"):
        store.read([ReadRequest(sch.view)], [{"id": 1}])
    with pytest.raises(OnlineStoreError, match="has no feature nope; it serves amount, count"):
        store.read([ReadRequest(sch.view, None, ("nope",))], [{"customer_id": 1}])


def test_composite_and_string_keys(store: OnlineStore) -> None:
    keys = (("shop_id", "int64"), ("country", "string"))
    sch = schema(view="feat_shop__sales", entity="shop", keys=keys, features=(("n", "int64"),))
    b = pa.record_batch(
        {
            "shop_id": pa.array([1, 1, 2]),
            "country": pa.array(["US", 'N"L', "US"]),
            "__event_at": pa.array([AS_OF] * 3, pa.timestamp("us")),
            "n": pa.array([10, 11, 20]),
        }
    )
    publish(store, sch, [b])
    rows = [
        {"shop_id": "1", "country": 'N"L'},
        {"shop_id": 2, "country": "US"},
        {"shop_id": 2, "country": "NL"},
    ]
    [res] = store.read([ReadRequest("feat_shop__sales")], rows)
    assert res.values == ((11,), (20,), (None,))
    sch2 = schema(
        view="feat_product__info",
        entity="product",
        keys=(("sku", "string"),),
        features=(("n", "int64"),),
    )
    publish(store, sch2, [batch(["007", "7"], AS_OF, key="sku", n=pa.array([1, 2]))])
    [res] = store.read([ReadRequest("feat_product__info")], [{"sku": "007"}, {"sku": 7}])
    assert res.values == ((1,), (2,))


class CountingConnection(redis.Connection):
    """A real connection that records each write it sends: the commands in it."""

    writes: ClassVar[list[list[str]]] = []

    def send_packed_command(self, command, check_health: bool = True) -> None:
        parser = hiredis.Reader()
        parser.feed(b"".join(command))
        sent = []
        while (cmd := parser.gets()) is not False:
            sent.append(cmd[0].decode().upper())
        self.writes.append(sent)
        super().send_packed_command(command, check_health)


def test_several_views_and_entities_in_one_round_trip(client: redis.Redis) -> None:
    counting = redis.Redis.from_url(SHARED_URL, connection_class=CountingConnection)
    with make_store(counting) as store:
        orders = schema(view="feat_customer__orders")
        visits = schema(view="feat_customer__visits", features=(("visits_7d", "int64"),))
        publish(store, orders, [simple_batch(100, tag=1)])
        publish(store, visits, [batch(list(range(50)), AS_OF, visits_7d=pa.array(range(50)))])
        requests = [ReadRequest("feat_customer__orders"), ReadRequest("feat_customer__visits", 1)]
        entities = [{"customer_id": i} for i in (3, 77)]
        store.read(requests, entities)  # warms the schema cache
        CountingConnection.writes.clear()
        orders_res, visits_res = store.read(requests, entities)
        # one write: 2 x 2 records, then latest and each view's generation, read-only commands
        assert CountingConnection.writes == [["HGET"] * 4 + ["HMGET", "HGET", "HGET"]]
        assert orders_res.values == ((3.1, 1), (77.1, 1))
        assert visits_res.values == ((3,), (None,))
        assert visits_res.statuses[1] == ("not_found",)


def test_replies_split_across_many_socket_reads(client: redis.Redis, engine_url: str) -> None:
    """A read's replies arrive in pieces (a 16-byte read buffer): each is read whole."""
    tiny = open_client(endpoint(engine_url), socket_read_size=16)
    with make_store(client) as store:
        publish(store, schema(), [simple_batch(200, tag=4)])
        rows = [{"customer_id": i} for i in range(0, 300, 3)]
        [want] = store.read([ReadRequest(schema().view)], rows)
        [got] = RedisStore(tiny, store.prefix).read([ReadRequest(schema().view)], rows)
        assert got.values == want.values and got.values[3] == (9.4, 4)
        assert got.statuses[-1] == ("not_found", "not_found")


def test_two_versions_side_by_side_and_latest(store: OnlineStore) -> None:
    v1 = schema(version=1)
    v2 = schema(version=2, features=(("amount", "float64"), ("count", "int64"), ("x", "string")))
    publish(store, v1, [simple_batch(10, tag=1)], is_latest=True)
    b2 = simple_batch(10, tag=2).append_column("x", pa.array(["v2"] * 10))
    publish(store, v2, [b2], is_latest=True)
    publish(store, v1, [simple_batch(10, tag=3)], is_latest=False)  # a re-sync of v1
    r1, r2, latest = store.read(
        [ReadRequest(v1.view, 1), ReadRequest(v1.view, 2), ReadRequest(v1.view)],
        [{"customer_id": 5}],
    )
    assert r1.values == ((5.3, 3),) and r2.values == ((5.2, 2, "v2"),)
    assert latest.version == 2 and latest.values == r2.values
    states = {(s.schema.view, s.schema.version): s for s in store.views()}
    assert states[(v1.view, 2)].is_latest and not states[(v1.view, 1)].is_latest
    assert store.describe(v1.view, None).schema.version == 2


def test_latest_switches_only_when_the_sync_completes(client: redis.Redis) -> None:
    with make_store(client) as store:
        reader = RedisStore(client, store.prefix)
        publish(store, schema(version=1), [simple_batch(20, tag=1)], is_latest=True)
        seen = []

        def batches():
            for i in range(4):
                seen.append(reader.read([ReadRequest(schema().view)], [{"customer_id": 1}])[0])
                yield simple_batch(20, tag=2).slice(i * 5, 5)
            raise RuntimeError("warehouse went away")

        with pytest.raises(RuntimeError, match="warehouse went away"):
            publish(store, schema(version=2), batches(), is_latest=True, chunk_rows=5)
        assert {r.version for r in seen} == {1}
        [res] = reader.read([ReadRequest(schema().view)], [{"customer_id": 1}])
        assert res.version == 1 and res.values == ((1.1, 1),)
        assert client.hlen(layout.syncing_key(store.prefix)) == 0
        assert not [k for k in prefixed_keys(client, store.prefix) if ":v2:" in k]
        publish(store, schema(version=2), [simple_batch(20, tag=2)], is_latest=True)
        [res] = reader.read([ReadRequest(schema().view)], [{"customer_id": 1}])
        assert res.version == 2 and res.values == ((1.2, 2),)


def test_entities_absent_upstream_disappear_and_old_generation_is_deleted(
    client: redis.Redis, store: OnlineStore
) -> None:
    sch = schema()
    first = publish(store, sch, [simple_batch(30, tag=1)])
    second = publish(store, sch, [simple_batch(10, tag=2)])
    assert second.previous_generation == first.generation and second.rows == 10
    [res] = store.read([ReadRequest(sch.view)], [{"customer_id": 5}, {"customer_id": 25}])
    assert res.statuses == (("present",) * 2, ("not_found",) * 2)
    keys = prefixed_keys(client, store.prefix)
    assert not [k for k in keys if f":g{first.generation}:" in k]
    assert store.describe(sch.view, 1).rows == 10


def test_delete_a_version_by_derived_names(client: redis.Redis, store: OnlineStore) -> None:
    publish(store, schema(version=1), [simple_batch(50, tag=1)], is_latest=False)
    publish(store, schema(version=2), [simple_batch(50, tag=2)], is_latest=True)
    deleted = store.delete(schema().view, 1)
    assert deleted == len(
        {layout.bucket_of(str(i), layout.TAGS) for i in range(50)}
    )  # every bucket key, found by name
    assert not [k for k in prefixed_keys(client, store.prefix) if ":v1" in k]
    with pytest.raises(NotPublishedError, match="v1 is not published"):
        store.read([ReadRequest(schema().view, 1)], [{"customer_id": 1}])
    [res] = store.read([ReadRequest(schema().view)], [{"customer_id": 1}])
    assert res.version == 2
    store.delete(schema().view, 2)
    assert store.views() == []
    with pytest.raises(NotPublishedError, match="latest is not published"):
        store.read([ReadRequest(schema().view)], [{"customer_id": 1}])


def test_incremental_never_overwrites_newer(client: redis.Redis, store: OnlineStore) -> None:
    sch = schema()
    t1, t0, t2 = AS_OF - timedelta(days=1), AS_OF - timedelta(days=2), AS_OF
    publish(store, sch, [simple_batch(10, tag=1, event=t1)], watermark=t1)
    inc = batch(
        [1, 2, 3, 99],
        [t0, t2, t1, t2],
        amount=pa.array([-1.0, -2.0, -3.0, -99.0]),
        count=pa.array([0, 0, 0, 0]),
    )
    res = publish(store, sch, [inc], mode="incremental", watermark=t2)
    assert (res.rows, res.skipped_older, res.new_entities) == (3, 1, 1)
    [got] = store.read([ReadRequest(sch.view)], [{"customer_id": i} for i in (1, 2, 3, 99, 4)])
    assert [v[0] for v in got.values] == [
        1.1,
        -2.0,
        -3.0,
        -99.0,
        4.1,
    ]  # equal event_at: newest sync
    state = store.describe(sch.view, 1)
    assert state.watermark == t2 and state.rows == 11 and state.mode == "incremental"
    assert state.generation == res.generation


def test_incremental_ties_on_event_time_go_to_the_greater_created_time(
    store: OnlineStore,
) -> None:
    """The point-in-time macro's rule: the greater (event_at, created_at) wins; a null
    created_at loses; a full tie goes to the later write (a replay changes nothing)."""
    sch = schema(created=True)
    event = AS_OF - timedelta(days=1)
    known = [AS_OF - timedelta(hours=h) for h in (5, 5, 5, 5, 5)] + [None]

    def rows(amounts: list[float], created: list[datetime | None]) -> pa.RecordBatch:
        ids = list(range(len(amounts)))
        b = batch(ids, event, amount=pa.array(amounts), count=pa.array([0] * len(ids)))
        return b.append_column("__created_at", pa.array(created, pa.timestamp("us")))

    publish(store, sch, [rows([0.0] * 6, known)])
    later, earlier = AS_OF - timedelta(hours=1), AS_OF - timedelta(hours=9)
    same = AS_OF - timedelta(hours=5)
    res = publish(
        store,
        sch,
        [rows([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [later, earlier, same, None, later, None])],
        mode="incremental",
    )
    [got] = store.read([ReadRequest(sch.view)], [{"customer_id": i} for i in range(6)])
    amounts = [v[0] for v in got.values]
    # 0: newer load wins; 1: older load loses; 2: full tie, the later write;
    # 3: a null created_at loses to a known one; 4: wins; 5: null against null, a full tie
    assert amounts == [1.0, 0.0, 3.0, 0.0, 5.0, 6.0]
    assert (res.rows, res.skipped_older) == (4, 2)
    [state] = store.views()
    assert state.schema.created and got.event_at[0] == event


def test_merges_compare_times_in_any_unit(store: OnlineStore) -> None:
    """msgpack records hold times in µs, ms, s or minutes (whichever divides them): the merge
    compares the instants, before and after the generation's base, event then load delay."""
    sch = schema(created=True, ttl=1000 * 86400)
    us, ms, s, m = (timedelta(microseconds=1), timedelta(milliseconds=1),
                    timedelta(seconds=1), timedelta(minutes=1))  # fmt: skip
    old_days = AS_OF - timedelta(days=400)
    stored = [AS_OF - 2 * m, AS_OF - s + ms, AS_OF + m, old_days, AS_OF - m, AS_OF - m]
    incoming = [AS_OF - 2 * m + us, AS_OF - s, AS_OF + m - us, old_days + ms, AS_OF - m, AS_OF - m]
    stored_delay = [s, s, s, s, m, s + ms]
    incoming_delay = [s, s, s, s, m + us, s]

    def rows(events: list[datetime], delays: list[timedelta], amount: float) -> pa.RecordBatch:
        ids = list(range(len(events)))
        b = batch(ids, events, amount=pa.array([amount] * len(ids)), count=pa.array([0] * 6))
        created = [e + d for e, d in zip(events, delays, strict=True)]
        return b.append_column("__created_at", pa.array(created, pa.timestamp("us")))

    publish(store, sch, [rows(stored, stored_delay, 0.0)])
    publish(store, sch, [rows(incoming, incoming_delay, 1.0)], mode="incremental")
    [got] = store.read([ReadRequest(sch.view)], [{"customer_id": i} for i in range(6)])
    assert [v[0] for v in got.values] == [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    winners = [incoming[0], stored[1], stored[2], incoming[3], incoming[4], stored[5]]
    assert list(got.event_at) == winners


def test_a_json_store_is_read_and_merged_into_until_a_full_sync_rewrites_it(
    client: redis.Redis, store: OnlineStore
) -> None:
    """A generation written as JSON (as before msgpack-v1) reads alike; incremental syncs
    (the stream consumer's and pushes' path too) merge JSON records into it by the same rule;
    the next full sync writes msgpack."""
    sch = schema(created=True)
    event = AS_OF - timedelta(days=1)

    def rows(ids: list[int], amount: float, delay: timedelta) -> pa.RecordBatch:
        b = batch(ids, event, amount=pa.array([amount] * len(ids)), count=pa.array(ids))
        created = pa.array([event + delay] * len(ids), pa.timestamp("us"))
        return b.append_column("__created_at", created)

    assert isinstance(store, RedisStore)
    store.encoding = JSON
    try:
        publish(store, sch, [rows([1, 2], 1.5, timedelta(hours=1))])
    finally:
        del store.encoding  # the class's: msgpack-v1
    meta = layout.meta_key(store.prefix, sch.view, sch.version)
    assert client.hget(meta, "encoding") == JSON.encode()
    json_records = stored_records(client, store, sch)
    assert json_records["1"] == [to_us(event), 1.5, 1, 3_600_000_000]
    later = rows([2, 3], 2.5, timedelta(hours=2))
    res = publish(store, sch, [rows([1], 0.5, timedelta(minutes=1)), later], mode="incremental")
    assert (res.rows, res.skipped_older) == (2, 1)
    merged = stored_records(client, store, sch)["3"]
    assert merged == [to_us(event), 2.5, 3, 7_200_000_000]  # JSON: the delay in µs, untagged
    entities = [{"customer_id": i} for i in (1, 2, 3)]
    [before] = store.read([ReadRequest(sch.view)], entities)
    assert before.values == ((1.5, 1), (2.5, 2), (2.5, 3))
    publish(store, sch, [rows([1], 1.5, timedelta(hours=1)), later])
    assert client.hget(meta, "encoding") == packed.NAME.encode()
    [after] = store.read([ReadRequest(sch.view)], entities)
    assert (after.values, after.event_at) == (before.values, before.event_at)


def test_an_unknown_encoding_is_refused_naming_the_view(
    client: redis.Redis, store: OnlineStore
) -> None:
    """A generation written by a newer featurehouse in an encoding this one does not know is
    neither read nor merged into: one line names the view and what to do."""
    sch = schema()
    publish(store, sch, [simple_batch(3, tag=1)])
    meta = layout.meta_key(store.prefix, sch.view, sch.version)
    client.hset(meta, "encoding", "msgpack-v9")
    fresh = RedisStore(client, store.prefix)  # no metadata cached
    for attempt in (
        lambda: fresh.read([ReadRequest(sch.view)], [{"customer_id": 1}]),
        lambda: publish(fresh, sch, [simple_batch(3, tag=2)], mode="incremental"),
    ):
        with pytest.raises(OnlineStoreError, match=f"{sch.view}.*msgpack-v9.*upgrade it"):
            attempt()


def stored_records(client: redis.Redis, store: OnlineStore, sch: ViewSchema) -> dict[str, list]:
    """The generation's records by entity key text, decoded with its encoding (the metadata's
    `encoding` and `event_base`): event_at in epoch µs first; a load delay as stored."""
    meta = layout.meta_key(store.prefix, sch.view, sch.version)
    encoding, base = (v and v.decode() for v in client.hmget(meta, ["encoding", "event_base"]))
    data = [k for k in prefixed_keys(client, store.prefix) if ":d:" in k]
    pairs = [(f.decode(), v) for k in data if not k.endswith(":live")  # a cluster's markers
             for f, v in client.hgetall(k).items()]  # fmt: skip
    records = Codec.stored(encoding, base, sch.view).decode([v for _, v in pairs])
    return dict(zip([f for f, _ in pairs], records, strict=True))


def test_records_of_a_view_with_created_time_end_with_its_load_delay(
    client: redis.Redis, store: OnlineStore
) -> None:
    created, event = AS_OF - timedelta(hours=3), AS_OF - timedelta(days=1)
    b = batch([7], event, amount=pa.array([1.5]), count=pa.array([2]))
    b = b.append_column("__created_at", pa.array([created], pa.timestamp("us")))
    publish(store, schema(created=True), [b])
    [record] = stored_records(client, store, schema(created=True)).values()
    assert record[:3] == [to_us(event), 1.5, 2]
    assert untagged(record[-1]) == (created - event) // timedelta(microseconds=1)  # load delay
    with pytest.raises(OnlineStoreError, match=r"lacks columns \['__created_at'\]"):
        publish(store, schema(created=True), [b.drop_columns(["__created_at"])])


def test_incremental_needs_a_full_sync_first(store: OnlineStore) -> None:
    with pytest.raises(OnlineStoreError, match="run a full sync first"):
        publish(store, schema(), [simple_batch(3, tag=1)], mode="incremental")


def test_the_read_clock_an_explicit_now_wins_never_before_the_sync(store: OnlineStore) -> None:
    """`as_of` clock: without now=, the answer is at the sync's as-of; a later now= ages the
    values; an earlier one is refused (the store holds only the latest rows as of its sync)."""
    sch = schema(ttl=3600)
    events = [AS_OF - timedelta(minutes=59), AS_OF - timedelta(minutes=61)]
    publish(
        store, sch, [batch([1, 2], events, amount=pa.array([1.0, 2.0]), count=pa.array([1, 2]))]
    )
    rows = [{"customer_id": 1}, {"customer_id": 2}]
    for now, statuses in (
        (None, ["present", "expired"]),
        (AS_OF, ["present", "expired"]),
        (AS_OF + timedelta(minutes=1), ["present", "expired"]),  # exactly on the boundary
        (AS_OF + timedelta(minutes=1, microseconds=1), ["expired", "expired"]),
        (datetime(2030, 1, 1), ["expired", "expired"]),
    ):
        [res] = store.read([ReadRequest(sch.view)], rows, now=now)
        assert [s[0] for s in res.statuses] == statuses, now
        assert res.event_at == tuple(events) and res.clock == (now or AS_OF)
        assert res.values[1] == (None, None)
    with pytest.raises(ClockError, match="before its sync's as-of 2026-05-01 00:00:00"):
        store.read([ReadRequest(sch.view)], rows, now=AS_OF - timedelta(days=1))


def test_expired_entities_are_tombstones_and_no_key_expires(
    client: redis.Redis, store: OnlineStore
) -> None:
    """An entity whose latest row is older than the TTL at the sync's clock is stored as
    `[event_at]`: read as expired with that event time, forever after; no bucket key has an
    expiry (it would turn expired entities into not_found)."""
    sch = schema(ttl=3600)
    now = datetime.now(UTC).replace(tzinfo=None)
    fresh, stale = now - timedelta(minutes=10), now - timedelta(hours=2)
    b = batch([1, 2], [fresh, stale], amount=pa.array([1.0, 2.0]), count=pa.array([1, 2]))
    res = publish(store, sch, [b], clock="wall", as_of=now)
    assert (res.rows, res.expired) == (2, 1)
    rows = [{"customer_id": 1}, {"customer_id": 2}]
    [got] = store.read([ReadRequest(sch.view)], rows)
    assert [s[0] for s in got.statuses] == ["present", "expired"]
    assert got.event_at == (fresh, stale) and got.values == ((1.0, 1), (None, None))
    [got] = store.read([ReadRequest(sch.view)], rows, now=now + timedelta(days=365))
    assert got.statuses == (("expired",) * 2,) * 2 and got.event_at == (fresh, stale)
    data = [k for k in prefixed_keys(client, store.prefix) if ":d:" in k]
    records = stored_records(client, store, sch)
    assert records["2"] == [to_us(stale)] and len(records["1"]) == 3
    assert all(client.pttl(k) == -1 for k in data)


def test_incremental_writes_expired_rows_as_tombstones(store: OnlineStore) -> None:
    """A merge compares a tombstone as a record: the greater (event_at, created_at) wins, a
    full tie goes to the later write, so an incremental sync can shrink a record in place."""
    sch = schema(ttl=3600, created=True)
    event = AS_OF - timedelta(minutes=30)

    def rows(ids: list[int], events: list[datetime]) -> pa.RecordBatch:
        b = batch(ids, events, amount=pa.array([float(i) for i in ids]), count=pa.array(ids))
        return b.append_column("__created_at", pa.array(events, pa.timestamp("us")))

    publish(store, sch, [rows([1, 2], [event, event])])
    later = AS_OF + timedelta(hours=2)
    newer = AS_OF + timedelta(minutes=10)  # entity 2 has a newer row, expired by `later` too
    res = publish(store, sch, [rows([1, 2], [event, newer])], mode="incremental", as_of=later)
    assert (res.rows, res.expired, res.skipped_older) == (2, 2, 0)
    [got] = store.read([ReadRequest(sch.view)], [{"customer_id": 1}, {"customer_id": 2}])
    assert got.statuses == (("expired",) * 2,) * 2 and got.event_at == (event, newer)
    assert got.clock == later
    again = publish(store, sch, [rows([1], [event])], mode="incremental", as_of=later)
    assert again.rows == 1  # a full tie: rewritten, the same tombstone


def test_metadata_lets_a_reader_need_nothing_but_redis(store: OnlineStore) -> None:
    sch = schema(ttl=86_400)
    res = publish(
        store,
        sch,
        [simple_batch(5, tag=1)],
        stats={"query_seconds": 1.5},
        watermark=AS_OF - timedelta(hours=2),
    )
    fresh = RedisStore(store.client, store.prefix)  # no cache, no registry, no dbt
    [state] = fresh.views()
    assert state.schema == sch and state.generation == res.generation
    assert (state.as_of, state.clock, state.rows) == (AS_OF, "as_of", 5)
    assert state.watermark == AS_OF - timedelta(hours=2) and state.stats == {"query_seconds": 1.5}
    assert state.is_latest and state.syncing == ()
    table = fresh.read_table([ReadRequest(sch.view, prefix="o_")], [{"customer_id": 2}])
    assert table.column_names == [
        "customer_id",
        "o_amount",
        "o_count",
        "o_feat_customer__orders__event_at",
        "o_feat_customer__orders__status",
    ]
    assert table.schema.field("o_amount").type == pa.float64()
    assert table.to_pylist()[0]["o_count"] == 1


def test_rows_without_key_or_event_time_are_dropped(store: OnlineStore) -> None:
    b = batch(
        [1, None, 3],
        [AS_OF, AS_OF, None],
        amount=pa.array([1.0, 2.0, 3.0]),
        count=pa.array([1, 2, 3]),
    )
    res = publish(store, schema(), [b])
    assert (res.rows, res.dropped_null_keys) == (1, 2)


def test_missing_columns_fail_with_the_column_named(store: OnlineStore) -> None:
    b = batch([1], AS_OF, amount=pa.array([1.0]))
    with pytest.raises(OnlineStoreError, match=r"lacks columns \['count'\]"):
        publish(store, schema(), [b])


def test_the_server_is_known_at_connect_time(client: redis.Redis, store: RedisStore) -> None:
    """HELLO says Redis or Valkey, its version, cluster mode and whether it expires single
    hash fields (HEXPIRE: Valkey 9, Redis 7.4+; not the Redis 7.0 of this machine)."""
    info = store.server()
    assert info.cluster == is_cluster(client) == store.cluster
    assert info.name in ("redis", "valkey") and info.version >= (7,)
    assert info.hexpire == (info.name == "valkey" or info.version[:2] >= (7, 4))
    if info.hexpire:  # the command exists: per-field TTL is available (README: why unused)
        key = f"{store.prefix}:probe"
        client.hset(key, "f", "1")
        assert client.execute_command("HPEXPIRE", key, 60_000, "FIELDS", 1, "f") == [1]
