"""The server's async read path (`online.aio`) against real Redis: the same answers as the sync
OnlineStore.read, pipelined reads matched to their requests, reads asked while one is in flight
batched (each answered its own rows, one whole generation each under concurrent syncs), the
function library loaded on demand, and Redis stopping, hanging and coming back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis
from featurehouse.errors import RedisUnavailable
from featurehouse.online import InvalidKeyError, NotPublishedError, OnlineStore, ReadRequest
from featurehouse.online.redis import RedisStore
from featurehouse.online.redis.aio import AsyncReader
from featurehouse.online.redis.aio_client import AsyncRedis
from featurehouse.online.redis.resp import pack
from online_support import (
    AS_OF,
    SHARED_URL,
    Server,
    free_port,
    own_server,
    schema,
    shared_client,
    simple_batch,
)
from online_support import test_store as make_store
from server_support import publish_all

REQUESTS = [
    ReadRequest("feat_customer__orders", None),
    ReadRequest("feat_customer__orders", 1, features=("sum_amount_7d", "last_ordered_at")),
    ReadRequest("feat_customer_country__orders", 1),
]
ROWS = [[{"customer_id": c, "country_code": "US"} for c in ids] for ids in ([1], [2, 3], [9], [])]
NOW = datetime(2026, 5, 1)


def test_async_reads_equal_sync_reads_when_pipelined(served_store: OnlineStore) -> None:
    """Many reads in flight on the one connection: each gets its own answer."""
    reader = AsyncReader(SHARED_URL, served_store.prefix)

    async def all_at_once() -> list:
        tasks = [reader.read(REQUESTS, rows, now=NOW) for rows in ROWS * 25]
        return await asyncio.gather(*tasks)

    got = asyncio.run(all_at_once())
    for rows, results in zip(ROWS * 25, got, strict=True):
        assert results == served_store.read(REQUESTS, rows, now=NOW)
    with pytest.raises(NotPublishedError, match="feat_nothing"):
        asyncio.run(reader.read([ReadRequest("feat_nothing", None)], ROWS[0]))


def test_reads_asked_while_one_is_in_flight_are_read_together(
    served_store: OnlineStore,
) -> None:
    """100 reads at once (the store's clock): the first goes alone, the 99 asked while it is
    in flight wait for it and go as one read; each gets its own rows' answer. A bad key in a
    batch fails only the read that sent it (the others are read again, alone)."""
    reader = AsyncReader(SHARED_URL, served_store.prefix)
    trips = []
    execute = reader.execute

    async def counted(trip):  # type: ignore[no-untyped-def]
        trips.append(trip.count)
        return await execute(trip)

    reader.execute = counted  # type: ignore[method-assign]
    bad = [{"customer_id": "not a number", "country_code": "US"}]

    async def all_at_once() -> tuple[list, list, list]:
        await reader.read(REQUESTS, ROWS[0])  # the metadata, cached
        trips.clear()
        got = await asyncio.gather(*(reader.read(REQUESTS, rows) for rows in ROWS * 25))
        batched = trips.copy()
        mixed = [reader.read(REQUESTS, rows) for rows in (ROWS[1], ROWS[2], bad, ROWS[0])]
        return got, batched, await asyncio.gather(*mixed, return_exceptions=True)

    got, batched, (alone, second, refused, third) = asyncio.run(all_at_once())
    for rows, results in zip(ROWS * 25, got, strict=True):
        assert results == served_store.read(REQUESTS, rows)
    assert len(batched) == 2  # the first read alone, then the 99 others together
    assert alone == served_store.read(REQUESTS, ROWS[1])
    assert second == served_store.read(REQUESTS, ROWS[2])
    assert third == served_store.read(REQUESTS, ROWS[0])
    assert isinstance(refused, InvalidKeyError) and "not a number" in str(refused)


def test_reads_left_in_flight_by_an_event_loop_do_not_hold_the_next_one(
    served_store: OnlineStore,
) -> None:
    """An event loop closed with one read in flight and another waiting for it (never
    finished): the reader, used on a new loop, reads at once."""
    reader = AsyncReader(SHARED_URL, served_store.prefix)

    async def leave() -> list:
        await reader.read(REQUESTS, ROWS[0])
        left = [asyncio.ensure_future(reader.read(REQUESTS, rows)) for rows in ROWS[1:3]]
        await asyncio.sleep(0)  # the first in flight, the second waiting for it
        assert reader.flying and reader.batches
        return left

    loop = asyncio.new_event_loop()
    left = loop.run_until_complete(leave())
    loop.close()
    assert not any(task.done() for task in left)
    assert asyncio.run(reader.read(REQUESTS, ROWS[1])) == served_store.read(REQUESTS, ROWS[1])


def test_batched_reads_during_repeated_switches_are_one_whole_generation_each() -> None:
    """A writer switches generations (and deletes the old ones) in a loop while batches of
    concurrent reads go on: every answer is one whole generation's."""
    rows = [[{"customer_id": i} for i in ids] for ids in ([3, 41], [97], [1500, 7])]
    request = [ReadRequest(schema().view)]
    with make_store(shared_client()) as store:
        _publish(store, tag=1)
        stop, switches = threading.Event(), []

        def switch() -> None:
            writer, tag = RedisStore(redis.Redis.from_url(SHARED_URL), store.prefix), 1
            while not stop.is_set():
                tag = tag % 9 + 1
                _publish(writer, tag)
                switches.append(tag)

        async def read_on() -> tuple[int, set, list]:
            reader = AsyncReader(SHARED_URL, store.prefix)
            reads, tags, bad = 0, set(), []
            start = time.monotonic()
            while time.monotonic() - start < (3 if len(switches) >= 3 else 60):
                asked = rows * 10
                got = await asyncio.gather(*(reader.read(request, r) for r in asked))
                for r, [res] in zip(asked, got, strict=True):
                    counts = {v[1] for v in res.values}
                    whole = len(counts) == 1 and all(
                        s == ("present", "present") and v[0] == e["customer_id"] + v[1] / 10
                        for s, v, e in zip(res.statuses, res.values, r, strict=True)
                    )
                    if not whole:
                        bad.append(res)
                    tags |= counts
                reads += len(asked)
            return reads, tags, bad

        thread = threading.Thread(target=switch)
        thread.start()
        try:
            reads, tags, bad = asyncio.run(read_on())
        finally:
            stop.set()
            thread.join(timeout=60)
    assert bad == [] and reads > 50 and len(switches) >= 3 and len(tags) >= 2


def _publish(store: OnlineStore, tag: int) -> None:
    store.publish(
        schema(), [simple_batch(2000, tag=tag)], as_of=AS_OF, clock="as_of", mode="full",
        watermark=AS_OF, is_latest=True,
    )  # fmt: skip


def test_a_busy_connection_outliving_the_timeout_never_times_out(
    served_store: OnlineStore,
) -> None:
    """The one timer per connection follows the oldest unanswered call: calls answered in
    time keep the connection for longer than the timeout, and a caller that gave up
    (cancelled) fails nobody."""
    reader = AsyncReader(SHARED_URL, served_store.prefix, timeout=0.2)

    async def busy() -> int:
        done, until = 0, time.monotonic() + 0.7
        while time.monotonic() < until:
            await asyncio.gather(*(reader.read(REQUESTS, ROWS[1], now=NOW) for _ in range(3)))
            done += 3
            given_up = asyncio.ensure_future(reader.read(REQUESTS, ROWS[0], now=NOW))
            await asyncio.sleep(0)
            given_up.cancel()
        await asyncio.sleep(0.3)  # every deadline passed: the timer finds nothing waiting
        assert await reader.read(REQUESTS, ROWS[2], now=NOW)
        return done

    assert asyncio.run(busy()) > 3


def test_replies_taken_as_one_array_or_one_by_one_are_the_same() -> None:
    """A call alone on the connection has its replies parsed as one array (the reader is fed
    their count first); calls behind another take theirs one by one. Both give each caller
    its own replies, an error among them fails that caller only, and the connection stays in
    step for the next call."""
    client = AsyncRedis(SHARED_URL, timeout=5.0)
    key = f"fhtest:aio:{os.getpid()}:{time.monotonic_ns()}"
    plain = [("SET", key, "v"), ("GET", key), ("STRLEN", key)]
    wrong = [("GET", key), ("HGET", key, "field"), ("GET", key)]  # WRONGTYPE in the middle

    async def scenario() -> None:
        proto = await client._connect()
        assert await client.call_many(plain) == [b"OK", b"v", 1]  # alone: one array
        first, second = (client._send(proto, pack(plain), 3) for _ in range(2))
        assert [w.whole for w in proto.pending] == [True, False]
        assert await asyncio.gather(first, second) == [[b"OK", b"v", 1]] * 2
        taken = await asyncio.gather(*(client.call_many(c) for c in (plain, plain, plain)))
        assert taken == [[b"OK", b"v", 1]] * 3  # the first as one array, the others behind it
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            await client.call_many(wrong)
        outcomes = await asyncio.gather(
            client.call_many(wrong), client.call_many(plain), return_exceptions=True
        )
        assert isinstance(outcomes[0], redis.ResponseError) and outcomes[1] == [b"OK", b"v", 1]
        assert await client.call("DEL", key) == 1
        assert client._proto is proto and not proto.pending and not proto.parser.has_data()
        client.close()

    asyncio.run(scenario())


def test_password_database_and_function_library_loaded_on_demand() -> None:
    with own_server("--requirepass", "s3cret") as own:
        url = f"redis://:s3cret@127.0.0.1:{own.port}/3"
        client = redis.Redis.from_url(url)
        store = RedisStore(client, "fhasync")
        publish_all(store)
        expected = store.read(REQUESTS, ROWS[1], now=AS_OF)
        client.function_flush()  # e.g. a Redis restarted without its functions
        assert asyncio.run(AsyncReader(url, "fhasync").read(REQUESTS, ROWS[1], now=AS_OF)) == (
            expected
        )
        wrong = AsyncReader(url.replace("s3cret", "wrong"), "fhasync")
        with pytest.raises(RedisUnavailable, match="credentials"):
            asyncio.run(wrong.read(REQUESTS, ROWS[1]))


def test_redis_down_then_back_and_hung(tmp_path: Path) -> None:
    """One event loop throughout, like the server's: failures are RedisUnavailable at once
    (within the timeout when Redis hangs), and reads work again as soon as Redis does."""
    port = free_port()
    own = Server(port, ("--dir", str(tmp_path), "--save", "3600 1")).start()
    try:
        publish_all(RedisStore(redis.Redis.from_url(own.url), "fhasync"))
        asyncio.run(_down_back_hung(own))
    finally:
        own.stop(kill=True)


async def _down_back_hung(own: Server) -> None:
    reader = AsyncReader(own.url, "fhasync", timeout=0.3)
    before = await reader.read(REQUESTS, ROWS[1], now=AS_OF)
    own.stop()  # saves the dump: the data and functions come back with the restart
    with pytest.raises(RedisUnavailable, match=f"127.0.0.1:{own.port}"):
        await reader.read(REQUESTS, ROWS[1], now=AS_OF)
    with pytest.raises(RedisUnavailable):
        await reader.ping()
    own.start()
    assert await reader.read(REQUESTS, ROWS[1], now=AS_OF) == before
    assert own.proc is not None
    os.kill(own.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        reads = [reader.read(REQUESTS, ROWS[1], now=AS_OF) for _ in range(5)]
        failed = await asyncio.gather(*reads, return_exceptions=True)
        took = time.monotonic() - started
    finally:
        os.kill(own.proc.pid, signal.SIGCONT)
    assert all(isinstance(e, RedisUnavailable) and "Timeout" in str(e) for e in failed), failed
    assert took < 1.5
    assert await reader.read(REQUESTS, ROWS[1], now=AS_OF) == before
    await reader.ping()
