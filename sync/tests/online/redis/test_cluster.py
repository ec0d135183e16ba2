"""The demo on a real 3-master Redis Cluster (one replica each), given the plain redis:// URL
of one node: `featurehouse sync`, then the CLI, the Python API and `featurehouse serve` read
it and answer as the single Redis does; reads go on through a CLUSTER FAILOVER; a merge into a
replaced generation and a client that does not know it talks to a cluster fail in one line.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from cli_process import run_featurehouse
from engines_support import Cluster
from featurehouse.api import FeatureStore
from featurehouse.errors import OnlineStoreError
from featurehouse.online import ReadRequest
from featurehouse.online.keys import keyer
from featurehouse.online.redis import RedisStore, acl, layout, open_async_reader
from featurehouse.online.redis.merge import Merger
from featurehouse.online.redis.publish import Options
from online_support import AS_OF, schema, simple_batch
from server_support import serve
from sync_fixtures import REPO_ROOT

VIEW, IDS = "feat_customer__orders.v2", [*range(1, 31), 987654]
FEATURES = ["feat_customer__orders:count_orders_30d"]  # the latest version (v2)


def api_rows(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """The Python API's answer, with `env` as the process environment."""
    with monkeypatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        store = FeatureStore(REPO_ROOT, redis_url=env["FEATUREHOUSE_REDIS_URL"])
        rows = [{"customer_id": i} for i in IDS]
        return store.get_online_features(FEATURES, rows, full_feature_names=True).to_dict()


def test_the_cluster_serves_the_demo_as_one_redis_does(
    cluster_env: dict[str, str],
    single_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    on_cluster, single = api_rows(cluster_env, monkeypatch), api_rows(single_env, monkeypatch)
    assert on_cluster == single
    assert any(v is not None for v in on_cluster[FEATURES[0].replace(":", "__")])
    got = run_featurehouse("get", VIEW, "1151", "1031", "--json", env=cluster_env, cwd=REPO_ROOT)
    assert got.returncode == 0, got.stderr
    rows = json.loads(got.stdout)
    assert [f["status"] for row in rows for f in row["features"].values()] == ["present"] * sum(
        len(row["features"]) for row in rows
    )
    listed = run_featurehouse("list", "--json", env=cluster_env, cwd=REPO_ROOT)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) >= 4


def test_the_server_reads_the_cluster(
    cluster_env: dict[str, str], single_env: dict[str, str], tmp_path: Path
) -> None:
    body = {"features": FEATURES, "entities": {"customer_id": IDS}}
    answers = []
    for env in (cluster_env, single_env):
        url, prefix = env["FEATUREHOUSE_REDIS_URL"], env["FEATUREHOUSE_REDIS_PREFIX"]
        with serve(url, prefix, tmp_path) as server:
            response = server.post("/get-online-features", body)
            assert response.status_code == 200, response.text
            answers.append(response.json()["results"])
    assert answers[0] == answers[1]


def _reader_thread(store: RedisStore, stop: threading.Event, seen: list) -> threading.Thread:
    """Reads customers 1 and 2 until stopped; `seen` gets (when the read began, its values or
    its error)."""
    sch = schema(view="feat_failover")

    def run() -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                [res] = store.read([ReadRequest(sch.view)], [{"customer_id": i} for i in (1, 2)])
                seen.append((began, res.values))
            except OnlineStoreError as exc:
                seen.append((began, exc))

    return threading.Thread(target=run, daemon=True)


def _server_reader_thread(
    url: str, prefix: str, stop: threading.Event, seen: list, served: list
) -> threading.Thread:
    """`_reader_thread` through the server's reader (asyncio cluster client, 1 s timeouts);
    `served` gets the time of each of its reads."""
    sch = schema(view="feat_failover")

    async def run() -> None:
        reader = open_async_reader(url, prefix, 1.0)
        while not stop.is_set():
            began = time.monotonic()
            try:
                rows = [{"customer_id": i} for i in (1, 2)]
                [res] = await reader.read([ReadRequest(sch.view)], rows)
                seen.append((began, res.values))
            except Exception as exc:  # any failure is one the test reports
                seen.append((began, exc))
            served.append(began)
            await asyncio.sleep(0.005)
        reader.close()

    return threading.Thread(target=lambda: asyncio.run(run()), daemon=True)


def _readers(
    url: str, prefix: str, stop: threading.Event, seen: list, served: list
) -> list[threading.Thread]:
    """Both readers started: the Python API's (sync cluster client) and the server's."""
    both = [
        _reader_thread(RedisStore.from_url(url, prefix), stop, seen),
        _server_reader_thread(url, prefix, stop, seen, served),
    ]
    for reader in both:
        reader.start()
    return both


def _wait_for(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def cluster_store(redis_cluster: Cluster) -> Iterator[RedisStore]:
    store = RedisStore.from_url(redis_cluster.url, "fhtest:failover")
    yield store
    store.delete("feat_failover", 1)


def test_reads_survive_a_cluster_failover(
    redis_cluster: Cluster, cluster_store: RedisStore
) -> None:
    """Reads before, during and after a CLUSTER FAILOVER and a publish on the new map: every
    answer is one generation's, and none fails."""
    assert cluster_store.cluster
    sch = schema(view="feat_failover")
    full = {"as_of": AS_OF, "clock": "as_of", "mode": "full", "watermark": AS_OF}
    cluster_store.publish(sch, [simple_batch(2000, 1)], is_latest=True, **full)
    old, new = ((1.1, 1), (2.1, 1)), ((1.2, 2), (2.2, 2))
    stop, seen, served = threading.Event(), [], []
    # the readers have clients of their own, as `featurehouse serve` beside a sync does
    readers = _readers(redis_cluster.url, cluster_store.prefix, stop, seen, served)
    try:
        _wait_for(lambda: any(v == old for _, v in seen), "a read before the failover")
        began = time.monotonic()
        redis_cluster.failover(redis_cluster.role_ports("slave")[0])
        settled = time.monotonic()
        cluster_store.publish(sch, [simple_batch(2000, 2)], is_latest=True, **full)
        published = time.monotonic()
        _wait_for(lambda: any(t > published and v == new for t, v in seen), "the new generation")
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    answers = {v for _, v in seen if not isinstance(v, Exception)}
    assert answers <= {old, new}, answers - {old, new}  # never a mix of two generations
    # a read that meets the moving slots is asked again on the new slot map: no errors
    errors = [(round(t - began, 3), e) for t, e in seen if isinstance(e, Exception)]
    window = {"settled": settled - began, "published": published - began}
    assert not errors, (window, errors[:3])
    assert served and max(served) > published  # the server's reader read throughout
    [res] = cluster_store.read([ReadRequest(sch.view)], [{"customer_id": 7}])
    assert res.values == ((7.2, 2),)


def test_a_merge_into_a_replaced_generation_is_refused(cluster_store: RedisStore) -> None:
    """On a cluster the merge checks the generation's marker in its own slot: once a full
    sync replaced (and deleted) the generation, a merge into it writes nothing."""
    sch = schema(view="feat_failover")
    full = {"as_of": AS_OF, "clock": "as_of", "watermark": AS_OF, "is_latest": True}
    cluster_store.publish(sch, [simple_batch(300, 1)], mode="full", **full)
    merger = Merger(cluster_store.client, cluster_store.prefix, set())
    target = merger._current(sch)  # the generation an incremental sync would merge into
    cluster_store.publish(sch, [simple_batch(300, 2)], mode="full", **full)
    with pytest.raises(OnlineStoreError, match="changed during the incremental sync"):
        opts = Options(AS_OF, "as_of", "incremental", AS_OF, None, None, {}, True)
        merger._current = lambda _schema: target  # as if it had looked before the full sync
        merger.run(sch, [simple_batch(300, 3)], opts)
    assert not any(k.startswith(target.key_prefix.encode()) for k in _keys(cluster_store))
    [res] = cluster_store.read([ReadRequest(sch.view)], [{"customer_id": 5}])
    assert res.values == ((5.2, 2),)


def _keys(store: RedisStore) -> list[bytes]:
    return list(store.client.scan_iter(match=f"{store.prefix}:*", count=1000))


def test_a_client_unaware_of_the_cluster_gets_one_line(redis_cluster: Cluster) -> None:
    """A plain client on a cluster node (as before detection): no raw MOVED. Every node but
    the one serving the control keys' slot redirects."""
    messages = []
    for port in redis_cluster.ports:
        plain = RedisStore(redis.Redis(port=port), "fhtest:plain")
        try:
            plain.views()
        except OnlineStoreError as exc:
            messages.append(str(exc))
    assert len(messages) == len(redis_cluster.ports) - 1
    for message in messages:
        assert "is a Redis Cluster" in message and "redis://" in message, message
        assert "\n" not in message


def test_the_least_privilege_users_work_on_the_cluster(redis_cluster: Cluster) -> None:
    """`featurehouse acl`'s lines applied on every node (a cluster does not replicate ACLs):
    the writer publishes, the reader reads through the sync and the async cluster clients,
    and no node logs a refusal but CONFIG GET (the listpack advice, optional)."""
    passwords = {acl.WRITER: "cw-1", acl.READER: "cr-2"}
    env = {**os.environ, **{acl.PASSWORD_ENV[u]: p for u, p in passwords.items()}}
    lines = run_featurehouse("acl", "--prefix", "fhclacl", env=env)
    assert lines.returncode == 0, lines.stderr
    for port in redis_cluster.ports:
        node = redis_cluster.node(port)
        for line in lines.stdout.splitlines():
            node.execute_command(*shlex.split(line))
        node.acl_log_reset()
    port = redis_cluster.ports[0]
    url = {u: f"redis://{u}:{p}@127.0.0.1:{port}/0" for u, p in passwords.items()}
    writer = RedisStore.from_url(url[acl.WRITER], "fhclacl")
    sch = schema(view="feat_acl")
    writer.publish(
        sch, [simple_batch(50, 4)], as_of=AS_OF, clock="as_of", mode="full",
        watermark=AS_OF, is_latest=True,
    )  # fmt: skip
    reader = RedisStore.from_url(url[acl.READER], "fhclacl")
    assert reader.cluster
    want = ((9.4, 4),)
    assert reader.read([ReadRequest(sch.view)], [{"customer_id": 9}])[0].values == want
    aio = open_async_reader(url[acl.READER], "fhclacl", 2.0)
    got = asyncio.run(aio.read([ReadRequest(sch.view)], [{"customer_id": 9}]))
    assert got[0].values == want
    writer.delete(sch.view, 1)
    refused = {
        (e["username"], e["object"])
        for port in redis_cluster.ports
        for e in redis_cluster.node(port).acl_log()
    }
    assert refused <= {(acl.WRITER, "config|get")}, refused


def _slots(store: RedisStore, sch: Any, ids: list[int], buckets: int) -> set[int]:
    """The slots of these customers' data keys and live markers (`{customer:<tag>}`)."""
    key = keyer(sch)
    tags = {layout.bucket_of(key({"customer_id": i}), buckets) % layout.TAGS for i in ids}
    return {store.client.keyslot(f"{{{sch.entity}:{t}}}") for t in tags}


def test_reads_and_syncs_survive_a_resharding(
    redis_cluster: Cluster, cluster_store: RedisStore
) -> None:
    """Slots holding entity data, live markers and the control keys move to another master
    key by key (MIGRATING/IMPORTING, MIGRATE, SETSLOT NODE) while a reader reads them: every
    answer is one generation's and no read fails. A sync started while a slot is half-moved
    waits for the move and publishes; so does the sync after the resharding."""
    sch = schema(view="feat_failover")
    full = {"as_of": AS_OF, "clock": "as_of", "mode": "full", "watermark": AS_OF}
    cluster_store.publish(sch, [simple_batch(2000, 1)], is_latest=True, **full)
    gens = {g: ((1 + g / 10, g), (2 + g / 10, g)) for g in (1, 2, 3)}
    moving = sorted(_slots(cluster_store, sch, [1, 2], layout.choose_buckets(2000)))
    moving.append(cluster_store.client.keyslot(layout.latest_key(cluster_store.prefix)))
    stop, seen, served = threading.Event(), [], []
    readers = _readers(redis_cluster.url, cluster_store.prefix, stop, seen, served)
    try:
        _wait_for(lambda: any(v == gens[1] for _, v in seen), "a read before the resharding")
        masters = redis_cluster.role_ports("master")
        for i, slot in enumerate(moving):
            source = redis_cluster.owner(slot)
            target = next(p for p in masters if p != source)
            half_moved = threading.Event()
            mover = threading.Thread(
                target=redis_cluster.migrate,
                args=(slot, target),
                kwargs={"pause": 0.3 if i in (0, len(moving) - 1) else 0.01, "started": half_moved},
            )
            mover.start()
            if i == 0:  # a sync while the first slot is half-moved: it waits, then publishes
                assert half_moved.wait(30)
                cluster_store.publish(sch, [simple_batch(2000, 2)], is_latest=True, **full)
                # the publish began once the move had ended on both masters (the mover itself
                # still waits for the replicas to learn the new owner by gossip)
                assert redis_cluster.owner_seen(source, slot) == target
                assert redis_cluster.owner_seen(target, slot) == target
                _wait_for(lambda: any(v == gens[2] for _, v in seen), "the sync during it")
            mover.join(timeout=120)
        cluster_store.publish(sch, [simple_batch(2000, 3)], is_latest=True, **full)
        done = time.monotonic()
        _wait_for(lambda: any(t > done and v == gens[3] for t, v in seen), "the last generation")
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    answers = {v for _, v in seen if not isinstance(v, Exception)}
    assert answers <= set(gens.values()), answers - set(gens.values())
    errors = [e for _, e in seen if isinstance(e, Exception)]
    assert not errors, errors[:3]
    assert served and max(served) > done  # the server's reader read throughout
    fresh = RedisStore.from_url(redis_cluster.url, cluster_store.prefix)
    [res] = fresh.read([ReadRequest(sch.view)], [{"customer_id": i} for i in (1, 2, 1999)])
    assert res.values == (*gens[3], (1999.3, 3))
    assert {redis_cluster.owner(s) for s in moving} <= set(redis_cluster.role_ports("master"))


def test_a_publish_survives_a_slot_migration_that_starts_during_it(
    redis_cluster: Cluster, cluster_store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A slot of the view starts to move once the publish has connected to the nodes: its new
    keys are redirected (ASK, then MOVED), the publish waits for the move, sends them again to
    the new owner and completes, with every entity's new values and the right count."""
    sch = schema(view="feat_failover")
    full = {"as_of": AS_OF, "clock": "as_of", "mode": "full", "watermark": AS_OF}
    cluster_store.publish(sch, [simple_batch(3000, 1)], is_latest=True, **full)
    [slot] = _slots(cluster_store, sch, [7], layout.choose_buckets(3000))
    target = next(p for p in redis_cluster.role_ports("master") if p != redis_cluster.owner(slot))
    half_moved = threading.Event()
    mover = threading.Thread(
        target=redis_cluster.migrate,
        args=(slot, target),
        kwargs={"pause": 0.5, "started": half_moved},
    )

    def batches() -> Iterator[Any]:  # read once the publish's writers are connected
        mover.start()
        assert half_moved.wait(30)
        yield simple_batch(3000, 2)

    with caplog.at_level("INFO", logger="featurehouse.online.redis.cluster_writes"):
        result = cluster_store.publish(sch, batches(), is_latest=True, **full)
    mover.join(timeout=60)
    assert "redirected by moving slots" in caplog.text
    assert result.rows == 3000 and redis_cluster.owner(slot) == target
    ids = [7, *range(0, 3000, 37)]
    [res] = cluster_store.read([ReadRequest(sch.view)], [{"customer_id": i} for i in ids])
    assert res.values == tuple((i + 0.2, 2) for i in ids)
