"""The reads' kept connection (pipelined.Lane): a round trip cut off by an error leaves no
reply behind for the next one; threads reading at once and a forked child each get their
own answers.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator

import pytest
import redis
from featurehouse.online import OnlineStore, ReadRequest
from featurehouse.online.redis.pipelined import Lane
from featurehouse.online.redis.resp import pack
from online_support import AS_OF, schema, simple_batch
from online_support import test_store as make_store

VIEW = schema().view


@pytest.fixture
def store(redis_client: redis.Redis) -> Iterator[OnlineStore]:
    with make_store(redis_client) as s:
        s.publish(
            schema(), [simple_batch(50, tag=3)], as_of=AS_OF, clock="as_of", mode="full",
            watermark=AS_OF, is_latest=True,
        )  # fmt: skip
        yield s


def amount(store: OnlineStore, customer: int) -> float:
    [result] = store.read([ReadRequest(VIEW)], [{"customer_id": customer}])
    return result.values[0][0]


def test_an_error_reply_midway_leaves_no_reply_for_the_next_round_trip(
    redis_client: redis.Redis,
) -> None:
    key = "fhtest:lane:text"
    redis_client.set(key, "not a number")
    lane = Lane(redis_client)
    try:
        with pytest.raises(redis.ResponseError):
            lane.exchange(pack([("GET", key), ("INCR", key), ("ECHO", "left unread")]), 3)
        assert lane.exchange(pack([("ECHO", "next")]), 1) == [b"next"]
        assert lane.exchange(pack([("GET", key), ("ECHO", "b")]), 2) == [b"not a number", b"b"]
    finally:
        lane.close()
        redis_client.delete(key)


def test_threads_reading_at_once_each_get_their_own_entity(store: OnlineStore) -> None:
    wrong: list[tuple[int, float]] = []
    start = threading.Barrier(6)

    def reads(first: int) -> None:
        start.wait()
        for i in range(first, 50, 6):
            got = amount(store, i)
            if got != i + 0.3:
                wrong.append((i, got))

    threads = [threading.Thread(target=reads, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def _child_reads(store: OnlineStore, out: multiprocessing.Queue) -> None:
    out.put([amount(store, i) for i in range(0, 50, 7)])


def test_a_forked_child_reads_on_its_own_connection(store: OnlineStore) -> None:
    assert amount(store, 1) == 1.3  # the parent's connection is taken
    fork = multiprocessing.get_context("fork")
    out = fork.Queue()
    child = fork.Process(target=_child_reads, args=(store, out))
    child.start()
    got = out.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert got == [i + 0.3 for i in range(0, 50, 7)]
    assert [amount(store, i) for i in (2, 40)] == [2.3, 40.3]  # the parent's still answers


def test_a_pool_of_one_connection_is_not_kept_from_other_commands(store: OnlineStore) -> None:
    pool = store.client.connection_pool
    client = redis.Redis(
        connection_pool=redis.ConnectionPool(
            pool.connection_class, max_connections=1, **pool.connection_kwargs
        )
    )
    one = type(store)(client, store.prefix)
    assert amount(one, 4) == 4.3
    assert one.describe(VIEW, 1).rows == 50  # the pool's one connection is free again
    assert amount(one, 5) == 5.3
    client.close()


def test_a_resp3_push_before_the_replies_is_not_taken_for_one(redis_client: redis.Redis) -> None:
    """An out-of-band push (a tracking invalidation) that comes in ahead of a round trip's
    replies is handled as redis-py would and the replies all read, none left behind."""
    if redis_client.connection_pool.connection_kwargs.get("protocol") not in (3, "3", None):
        pytest.skip("RESP2: no pushes")
    key = "fhtest:lane:tracked"
    redis_client.set(key, "a")
    lane = Lane(redis_client)
    try:
        assert lane.exchange(pack([("CLIENT", "TRACKING", "ON"), ("GET", key)]), 2) == [
            b"OK",
            b"a",
        ]
        redis_client.set(key, "b")  # on another of the pool's connections
        got = lane.exchange(pack([("GET", key), ("ECHO", "x"), ("ECHO", "y")]), 3)
        assert got == [b"b", b"x", b"y"]
        assert lane.exchange(pack([("ECHO", "next"), ("ECHO", "z")]), 2) == [b"next", b"z"]
    finally:
        lane.close()
        redis_client.delete(key)
