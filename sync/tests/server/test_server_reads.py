"""The server's async read path (`online.aio`) against real Redis: the same answers as the sync
OnlineStore.read, pipelined reads matched to their requests, the function library loaded on
demand, and Redis stopping, hanging and coming back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest
import redis
from featurehouse.errors import RedisUnavailable
from featurehouse.online import NotPublishedError, OnlineStore, ReadRequest
from featurehouse.online.redis import RedisStore
from featurehouse.online.redis.aio import AsyncReader
from online_support import AS_OF, SHARED_URL, Server, free_port, own_server
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
