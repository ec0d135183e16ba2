"""Busy polling of the server's Redis round trips (`aio_client`, `busy_poll_us`) against real
Redis: a polled call is answered off the socket before the event loop runs again; a poll that
runs out of time leaves the reply to the loop and the next polls are skipped; reads are polled
only while they do not overlap, with the same answers either way; never over TLS (test_tls)
nor on one CPU.
"""

from __future__ import annotations

import asyncio
import os
import time

from featurehouse.online import OnlineStore, ReadRequest
from featurehouse.online.redis.aio import _POLL_COMMANDS, _QUIET, AsyncReader
from featurehouse.online.redis.aio_client import AsyncRedis
from featurehouse.online.redis.resp import pack
from online_support import SHARED_URL

REQUESTS = [ReadRequest("feat_customer__orders", None)]
NOW_ROWS = [[{"customer_id": c}] for c in range(1, 9)]
PING = pack([("PING",)])


def test_a_polled_call_is_answered_before_the_loop_runs_again() -> None:
    """The write and the poll happen in the loop's flush callback: once it returns, a
    polled call's future is resolved; an unpolled one waits for the loop's next poll."""
    client = AsyncRedis(SHARED_URL, timeout=5.0, busy_poll_us=500_000)

    async def scenario() -> None:
        proto = await client._connect()
        assert proto.fd is not None
        polled = client._send(proto, PING, 1, poll=True)
        proto.flush()  # what the loop runs next (call_soon)
        assert polled.done() and polled.result() == b"PONG"
        waited = client._send(proto, PING, 1, poll=False)
        proto.flush()
        assert not waited.done()
        assert await waited == b"PONG"
        assert (proto.skip, proto.backoff) == (0, 1)
        client.close()

    asyncio.run(scenario())


def test_a_poll_that_runs_out_leaves_the_reply_to_the_loop_and_backs_off() -> None:
    """BLPOP with a 50 ms timeout outlasts a 200 us poll: the reply still reaches its caller
    (through the loop), the next write is not polled, the one after is, and a poll that
    finds its reply resets the back-off."""
    client = AsyncRedis(SHARED_URL, timeout=5.0, busy_poll_us=200)
    key = f"fhtest:poll:{os.getpid()}:{time.monotonic_ns()}"

    async def scenario() -> None:
        proto = await client._connect()
        slow = client._send(proto, pack([("BLPOP", key, "0.05")]), 1, poll=True)
        proto.flush()
        assert not slow.done() and (proto.skip, proto.backoff) == (1, 2)
        assert await slow is None  # nothing to pop: nil after 50 ms
        skipped = client._send(proto, PING, 1, poll=True)
        proto.flush()
        assert not skipped.done() and proto.skip == 0
        assert await skipped == b"PONG"
        proto.busy_poll_ns = 5 * 10**9  # time enough on any machine: this poll finds it
        polled = client._send(proto, PING, 1, poll=True)
        proto.flush()
        assert polled.done() and polled.result() == b"PONG"
        assert proto.backoff == 1
        client.close()

    asyncio.run(scenario())


def test_reads_are_polled_while_they_do_not_overlap(served_store: OnlineStore) -> None:
    """One small read after the other: polled; a read of more than _POLL_COMMANDS commands
    or many at once (the overlap average passes _QUIET): round trips wait in the loop. The
    answers are the sync store's in all three."""
    reader = AsyncReader(SHARED_URL, served_store.prefix, 5.0, busy_poll_us=500)
    expected = [served_store.read(REQUESTS, rows) for rows in NOW_ROWS]
    many = [{"customer_id": c} for c in range(1, _POLL_COMMANDS + 2)]
    sent: list[tuple[int, bool]] = []  # (commands, polled) of each round trip
    call_packed = reader.client.call_packed

    async def recorded(packed: bytes, count: int, *, poll: bool = False) -> object:
        sent.append((count, poll))
        return await call_packed(packed, count, poll=poll)

    reader.client.call_packed = recorded  # type: ignore[method-assign]

    async def scenario() -> None:
        for rows, want in zip(NOW_ROWS * 4, expected * 4, strict=True):
            assert repr(await reader.read(REQUESTS, rows)) == repr(want)  # NaN among them
            await reader.ping()
        assert reader.overlap == 0.0 and reader.client._proto is not None
        assert reader.client._proto.fd is not None
        assert sent and all(poll and count <= _POLL_COMMANDS for count, poll in sent)
        sent.clear()
        assert repr(await reader.read(REQUESTS, many)) == repr(served_store.read(REQUESTS, many))
        assert sent == [(len(many) + 2, False)]  # an HGET per entity, the generation check
        sent.clear()
        got = await asyncio.gather(*(reader.read(REQUESTS, rows) for rows in NOW_ROWS * 8))
        assert repr(got) == repr(expected * 8)
        assert reader.overlap >= _QUIET and not sent[-1][1]
        await asyncio.gather(*(reader.ping() for _ in range(8)))
        assert reader.overlap >= _QUIET and reader.pinging == 0
        reader.close()

    asyncio.run(scenario())


def test_one_cpu_is_never_polled() -> None:
    """With one CPU to run on, a poll would only keep Redis from it."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        assert AsyncRedis(SHARED_URL, 1.0, busy_poll_us=200).busy_poll_ns == 0
    finally:
        os.sched_setaffinity(0, before)
    if len(before) > 1:
        assert AsyncRedis(SHARED_URL, 1.0, busy_poll_us=200).busy_poll_ns == 200_000
    assert AsyncRedis(SHARED_URL, 1.0).busy_poll_ns == 0
