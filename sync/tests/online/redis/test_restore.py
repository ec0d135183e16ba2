"""A full publish's buckets written with RESTORE (online/redis/restore.py): the same keys,
values, encodings and listpack bytes as HSET would write, on Redis and Valkey; HSET where the
server refuses RESTORE, on a cluster, and where a bucket was written before."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest
import redis
from featurehouse.online import OnlineStore, ReadRequest, packed_c
from featurehouse.online.redis import RedisStore, prepare, publish, restore
from featurehouse.online.redis.cluster import is_cluster, open_client
from featurehouse.online.redis.connection import endpoint
from online_support import AS_OF, SHARED_URL, batch, prefixed_keys, schema
from online_support import test_store as make_store

FEATURES = (("f", "float64"), ("i", "int64"), ("s", "string"), ("b", "bool"), ("t", "timestamp"))


@pytest.fixture(scope="module")
def client(engine_url: str) -> redis.Redis:
    return open_client(endpoint(engine_url))


def _rows(n: int, seed: int) -> pa.RecordBatch:
    rng = random.Random(seed)
    return batch(
        list(range(n)),
        AS_OF,
        f=pa.array([rng.random() * 10 ** rng.randrange(-3, 12) for _ in range(n)]),
        i=pa.array([rng.randrange(-(2**63), 2**63) >> rng.randrange(0, 64) for _ in range(n)]),
        s=pa.array([rng.choice(["GB", "DE", None, "ünï", "x" * 20]) for _ in range(n)]),
        b=pa.array([rng.choice([True, False, None]) for _ in range(n)]),
        t=pa.array([AS_OF if i % 3 else None for i in range(n)], pa.timestamp("us")),
    )


def _publish(store: OnlineStore, rows: pa.RecordBatch) -> None:
    batches = [rows.slice(start, 700) for start in range(0, rows.num_rows, 700)]
    store.publish(
        schema(features=FEATURES), batches, as_of=AS_OF, clock="as_of", mode="full",
        watermark=AS_OF, is_latest=True,
    )  # fmt: skip


def _buckets(client: redis.Redis, store: RedisStore) -> dict[str, bytes]:
    """Each data key (without the store's prefix and generation) -> its DUMP without the RDB
    version and checksum (Redis and Valkey write their own)."""
    out = {}
    for key in prefixed_keys(client, store.prefix):
        if ":d:" in key:
            short = key.split(":g", 1)[1].split(":", 1)[1]
            out[short] = (client.dump(key)[:-10], client.object("encoding", key))
    return out


def _calls(client: redis.Redis, command: str) -> int:
    """Calls of `command` on the server (a cluster: the node the client asks)."""
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def _restores(client: redis.Redis) -> int:
    return _calls(client, "restore")


@pytest.fixture
def stores(client: redis.Redis) -> Iterator[tuple[RedisStore, RedisStore]]:
    with make_store(client) as a, make_store(client) as b:
        yield a, b


def test_restored_buckets_are_what_hset_writes(
    client: redis.Redis, stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same rows published with RESTORE and with HSET alone: every bucket key holds the
    same listpack, byte for byte (integer-like keys in Redis's integer encoding included)."""
    if is_cluster(client):
        pytest.skip("a cluster publish writes HSET (its writes are resent when a slot moves)")
    rows = _rows(3000, seed=1)
    with_restore, with_hset = stores
    compression = client.config_get("rdbcompression")["rdbcompression"]
    client.config_set("rdbcompression", "no")  # DUMP then shows the listpack's own bytes
    try:
        before = _restores(client)
        _publish(with_restore, rows)
        restored = _restores(client) - before
        with monkeypatch.context() as m:
            m.setattr(publish.Restorer, "start", classmethod(lambda *a: None))
            _publish(with_hset, rows)
        assert _restores(client) - before == restored
        ours, theirs = _buckets(client, with_restore), _buckets(client, with_hset)
    finally:
        client.config_set("rdbcompression", compression)
    assert restored > len(ours)  # every bucket (and the probe)
    data_keys = [k for k in prefixed_keys(client, with_restore.prefix) if ":d:" in k]
    assert not [k for k in data_keys if client.hexists(k, "probe")]  # the probe is gone
    assert ours == theirs and len(ours) > 10
    assert {encoding for _, encoding in ours.values()} == {b"listpack"}
    ids = [{"customer_id": i} for i in range(0, 3000, 7)]
    [a] = with_restore.read([ReadRequest("feat_customer__orders")], ids)
    [b] = with_hset.read([ReadRequest("feat_customer__orders")], ids)
    assert a.values == b.values and a.statuses == b.statuses


def test_a_publish_larger_than_a_group_adds_to_restored_buckets(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its first group a publish sends HSETs into the buckets RESTORE wrote: every
    entity is read back, the later groups' values too."""
    monkeypatch.setattr(prepare, "GROUP_ROWS", 1400)
    monkeypatch.setattr(prepare, "ENCODE_ROWS", 700)  # (groups gather the encoded batches)
    rows = _rows(3000, seed=2)
    with make_store(client) as store:
        before = _restores(client), _calls(client, "hset")
        _publish(store, rows)
        restores, hsets = _restores(client) - before[0], _calls(client, "hset") - before[1]
        [res] = store.read(
            [ReadRequest("feat_customer__orders")], [{"customer_id": i} for i in range(3000)]
        )
    assert res.values == tuple(tuple(r) for r in _expected(rows))
    assert {s for row in res.statuses for s in row} <= {"present", "null"}
    assert hsets > 0 and (restores > 1 or is_cluster(client))  # the first group restored


def test_buckets_hset_wrote_are_not_restored_later(
    client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first group whose long records HSET writes, then groups RESTORE could write: their
    buckets exist already, so HSET adds to them (a RESTORE would find the key taken)."""
    if is_cluster(client):
        pytest.skip("a cluster publish writes HSET")
    monkeypatch.setattr(prepare, "GROUP_ROWS", 1400)
    monkeypatch.setattr(prepare, "ENCODE_ROWS", 700)  # (groups gather the encoded batches)
    rows = _rows(3000, seed=6)
    long = ["y" * 100 if i < 700 else "GB" for i in range(3000)]
    rows = rows.set_column(rows.schema.get_field_index("s"), "s", pa.array(long))
    limit = client.config_get("hash-max-listpack-value")["hash-max-listpack-value"]
    client.config_set("hash-max-listpack-value", "64")
    try:
        with make_store(client) as store:
            _publish(store, rows)
            [res] = store.read(
                [ReadRequest("feat_customer__orders")], [{"customer_id": i} for i in range(3000)]
            )
    finally:
        client.config_set("hash-max-listpack-value", limit)
    assert res.values == tuple(tuple(r) for r in _expected(rows))


def _expected(rows: pa.RecordBatch) -> list[list]:
    return [[row[name] for name, _ in FEATURES] for row in rows.to_pylist()]


def test_hset_writes_where_restore_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user whose ACL lacks RESTORE (or a server without listpack hashes): the probe is
    refused and HSET writes everything, with no error and nothing left of the probe."""
    admin = redis.Redis.from_url(SHARED_URL)
    user, password = f"fhtest-norestore-{random.randrange(10**9)}", "pw-restore-1"
    admin.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["fhtest:*"],
        commands=["+@all", "-restore"],
    )  # fmt: skip
    try:
        url = SHARED_URL.replace("redis://", f"redis://{user}:{password}@", 1)
        limited = open_client(endpoint(url))
        before = _restores(admin)
        rows = _rows(500, seed=3)
        with make_store(limited) as store:
            _publish(store, rows)
            keys = [k for k in prefixed_keys(admin, store.prefix) if ":d:" in k]
            probes = [k for k in keys if admin.hexists(k, "probe")]
            [res] = store.read(
                [ReadRequest("feat_customer__orders")], [{"customer_id": i} for i in range(500)]
            )
        assert _restores(admin) == before
        assert res.values == tuple(tuple(r) for r in _expected(rows))
        assert probes == []
    finally:
        admin.acl_deluser(user)


def test_records_longer_than_a_listpack_keeps_are_written_with_hset(
    client: redis.Redis, stores: tuple[RedisStore, RedisStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With hash-max-listpack-value below some records' length HSET writes those chunks, and
    Redis makes each bucket what HSETs make it (a hashtable where a record is too long);
    RESTORE would have kept listpacks."""
    if is_cluster(client):
        pytest.skip("a cluster publish writes HSET")
    limit = client.config_get("hash-max-listpack-value")["hash-max-listpack-value"]
    client.config_set("hash-max-listpack-value", "16")
    rows = _rows(300, seed=4)
    try:
        first, second = stores
        before = _restores(client)
        _publish(first, rows)
        assert _restores(client) - before == 1  # the probe alone
        with monkeypatch.context() as m:
            m.setattr(publish.Restorer, "start", classmethod(lambda *a: None))
            _publish(second, rows)
        ours, theirs = _buckets(client, first), _buckets(client, second)
    finally:
        client.config_set("hash-max-listpack-value", limit)
    assert b"hashtable" in {e for _, e in ours.values()}
    assert {k: e for k, (_, e) in ours.items()} == {k: e for k, (_, e) in theirs.items()}


def test_restore_payloads_equal_redis_dumps_of_tricky_fields() -> None:
    """Fields that look like integers (Redis stores those as listpack integers) and ones that
    almost do: the C payload is byte for byte what DUMP gives of the HSETs' hash."""
    client = redis.Redis.from_url(SHARED_URL)
    rng = random.Random(5)
    texts = ["0", "-0", "+5", "05", "-", "", "127", "128", "-4096", "4095", "-4097", "32767",
             "-32769", "8388607", "8388608", "2147483647", "-2147483649", "9223372036854775807",
             "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1e3", "é",
             "x" * 63, "x" * 64, "y" * 200]  # fmt: skip
    pairs = {t.encode(): rng.randbytes(rng.randrange(0, 90)) for t in texts}
    pairs.update({str(rng.randrange(-(2**63), 2**63)).encode(): b"v" for _ in range(40)})
    key = f"fhtest:restore:{rng.randrange(10**9)}"
    compression = client.config_get("rdbcompression")["rdbcompression"]
    limit = client.config_get("hash-max-listpack-value")["hash-max-listpack-value"]
    client.config_set("rdbcompression", "no")
    client.config_set("hash-max-listpack-value", "256")
    try:
        client.hset(key, mapping=pairs)
        assert client.object("encoding", key) == b"listpack"
        dumped = client.dump(key)
        version = int.from_bytes(dumped[-10:-8], "little")
        fields = pa.array(list(pairs), pa.binary())
        records = pa.array(list(pairs.values()), pa.binary())
        payload = restore._restore_payload(
            np.array([len(pairs)], np.int32), *packed_c.text_buffers(pa.array([key.encode()])),
            *packed_c.text_buffers(fields), *packed_c.text_buffers(records), version,
        )  # fmt: skip
        bulk = payload.split(b"\r\n", 8)[8]  # after *4, RESTORE, the key and the TTL: $len
        assert bulk[:-2] == dumped
    finally:
        client.delete(key)
        client.config_set("rdbcompression", compression)
        client.config_set("hash-max-listpack-value", limit)
