"""The server's reads on its event loop: one pipelined Redis connection (an asyncio protocol,
hiredis packing and parsing) driving the same I/O-free read steps as the sync store.

Requests in flight share the connection and Redis answers in order, so concurrent requests
never wait for each other's round trips; reads of the same views asked while one is in flight
are read together once it is back (`AsyncReader.read`). A call fails fast when Redis is down
(the caller answers 503) and the next one reconnects: one immediate retry covers a connection
that Redis closed while restarting, and nothing sleeps between attempts.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import repeat
from typing import Any

import hiredis
import redis

from featurehouse.errors import OnlineStoreError
from featurehouse.online.records import InvalidKeyError, ReadRequest, ReadResult
from featurehouse.online.redis.connection import endpoint
from featurehouse.online.redis.read import ReadSteps, Round
from featurehouse.online.redis.resp import pack
from featurehouse.online.redis.wire import REDIS_ERRORS, translate

_SLACK = 0.002  # seconds: a timer may fire this much early (uvloop counts milliseconds)
_BATCH_ROWS = 1000  # entity rows from which a batch takes no more reads (a new one starts)


class _Waiter:
    """A caller awaiting the replies of its `count` commands (sent together, answered in
    order) by `deadline` (loop time): resolved with the last one (a single command) or the
    list of them."""

    __slots__ = ("count", "deadline", "future", "replies")

    def __init__(self, future: asyncio.Future, deadline: float, count: int) -> None:
        self.future, self.deadline, self.count = future, deadline, count
        self.replies: list[Any] = []

    def take(self, gets: Any) -> bool:
        """Take the next replies from the reader (`gets`: its method) up to `count`, in one
        loop (a per-reply method call cost 100 replies ~30 µs); True once all are in (the
        future then resolved)."""
        replies, count = self.replies, self.count
        while len(replies) < count:
            reply = gets()
            if reply is False:
                return False
            replies.append(reply)
        if self.future.done():
            return True  # its caller gave up (cancelled)
        if any(map(isinstance, replies, repeat(hiredis.ReplyError))):  # a C loop
            error = next(r for r in replies if isinstance(r, hiredis.ReplyError))
            self.future.set_exception(redis.ResponseError(str(error)))
        else:
            self.future.set_result(replies if count > 1 else replies[0])
        return True


class _Protocol(asyncio.Protocol):
    """One connection: commands go out in order (those of one event-loop turn in one write),
    replies are matched to them in order. One timer (not one per command) watches the
    oldest unanswered command's deadline."""

    def __init__(self) -> None:
        self.transport: Any = None  # asyncio's or uvloop's transport
        self.parser = hiredis.Reader()
        self.pending: deque[_Waiter] = deque()
        self.outbox: list[bytes] = []
        self.dead = False
        self.watchdog: asyncio.TimerHandle | None = None
        self.loop: Any = None  # its event loop (asyncio.get_running_loop costs a getpid())

    def watch(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Make sure the watchdog runs by `deadline` (the latest command's)."""
        if self.watchdog is None:
            self.watchdog = loop.call_at(deadline, self.expire, loop)

    def expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """A reply later than its deadline: Redis is hung or gone; every command in flight
        fails (a late reply must never answer the next command), the next call reconnects.
        Callers that gave up (cancelled) wait for nothing."""
        self.watchdog = None
        waiting = next((w for w in self.pending if not w.future.done()), None)
        if waiting is None:
            return
        if waiting.deadline <= loop.time() + _SLACK:
            self.close(redis.TimeoutError("Timeout reading from Redis"))
        else:
            self.watchdog = loop.call_at(waiting.deadline, self.expire, loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.loop = asyncio.get_running_loop()

    def send(self, packed: bytes, loop: asyncio.AbstractEventLoop) -> None:
        """Queue commands; those of one event-loop turn go out in one write, so concurrent
        requests share a round trip (auto-pipelining)."""
        if not self.outbox:
            loop.call_soon(self.flush)
        self.outbox.append(packed)

    def flush(self) -> None:
        if self.outbox and not self.dead:
            self.transport.write(b"".join(self.outbox))
        self.outbox.clear()

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        pending, gets = self.pending, self.parser.gets
        try:
            while pending and pending[0].take(gets):
                pending.popleft()
        except hiredis.ProtocolError as exc:
            self.close(redis.ConnectionError(f"Redis protocol error: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.close(redis.ConnectionError(f"Connection closed by Redis{f': {exc}' if exc else ''}"))

    def close(self, exc: Exception) -> None:
        """Fail every command in flight with `exc` and drop the connection."""
        self.dead = True
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        while self.pending:
            waiter = self.pending.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


class AsyncRedis:
    """A minimal async Redis client for the server's reads: `call(*command)` on one
    pipelined connection, (re)connected on demand with the endpoint's credentials, database
    and TLS context (`connection.endpoint`, shared with every other client).
    A command whose connection closes is sent again once: for read-only commands only."""

    def __init__(self, url: str, timeout: float) -> None:
        self.endpoint = endpoint(url)  # address, credentials and TLS context, as every client
        self.timeout = timeout
        self.where = self.endpoint.shown
        self._proto: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    async def call(self, *command: Any) -> Any:
        return await self.call_many([command])

    async def call_many(self, commands: Sequence[tuple[Any, ...]]) -> Any:
        """The replies of `commands`, sent together (one reply: that reply, else a list)."""
        return await self.call_packed(pack(commands), len(commands))

    async def call_packed(self, packed: bytes, count: int) -> Any:
        """`call_many` of `count` commands already packed as RESP."""
        proto = self._alive()
        if proto is not None:
            try:
                return await self._send(proto, packed, count)
            except redis.ConnectionError:
                pass  # e.g. closed by a Redis restart: reconnect once, now
        return await self._send(await self._connect(), packed, count)

    def _alive(self) -> _Protocol | None:
        proto = self._proto
        if proto is None or proto.dead or self._loop is not asyncio.get_running_loop():
            return None
        return proto

    def _send(self, proto: _Protocol, packed: bytes, count: int = 1) -> asyncio.Future:
        loop = proto.loop
        future = loop.create_future()
        deadline = loop.time() + self.timeout
        proto.pending.append(_Waiter(future, deadline, count))
        proto.watch(loop, deadline)
        proto.send(packed, loop)
        return future

    async def _connect(self) -> _Protocol:
        """A new connection, or the one another request has just opened."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # first use, or a new event loop
            self._lock, self._loop, self._proto = asyncio.Lock(), loop, None
        async with self._lock:
            proto = self._alive()
            if proto is None:
                proto = self._proto = await asyncio.wait_for(self._open(loop), self.timeout)
            return proto

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        point = self.endpoint
        if point.unix_path:
            _, proto = await loop.create_unix_connection(_Protocol, point.unix_path)
        else:
            host, port = point.address
            tls = point.tls_context
            transport, proto = await loop.create_connection(
                _Protocol, host, port, ssl=tls, server_hostname=host if tls else None
            )
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        try:
            if point.password:
                auth = [point.username] if point.username else []
                await self._send(proto, pack([("AUTH", *auth, point.password)]))
            if point.db:
                await self._send(proto, pack([("SELECT", point.db)]))
        except BaseException:
            proto.close(redis.ConnectionError("handshake failed"))
            raise
        return proto

    def close(self) -> None:
        if self._proto is not None:
            self._proto.close(redis.ConnectionError("client closed"))
            self._proto = None


class Batch:
    """Reads of the same views (at the store's clock) waiting for the read of these views in
    flight: their entity rows, one after the other, and each caller's future and rows
    (start, stop)."""

    __slots__ = ("callers", "rows")

    def __init__(self) -> None:
        self.rows: list[Mapping[str, Any]] = []
        self.callers: list[tuple[asyncio.Future, int, int]] = []


class AsyncReader:
    """`OnlineStore.read` for the event loop: the same steps, each round trip awaited; reads
    of the same views batched while one is in flight (`read`)."""

    def __init__(self, url: str, prefix: str, timeout: float = 1.0) -> None:
        self.client = AsyncRedis(url, timeout)
        self.where = self.client.where
        self.steps = ReadSteps(prefix)
        self.flying: set[tuple[ReadRequest, ...]] = set()  # views with a read in flight
        self.batches: dict[tuple[ReadRequest, ...], Batch] = {}  # reads waiting for it
        self.reading: set[asyncio.Task] = set()  # batches being read (the loop holds weak refs)
        self.loop: asyncio.AbstractEventLoop | None = None  # the one flying and batches are of

    async def read(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> list[ReadResult]:
        """Features of several views for several entities, in one round trip. While a read
        of the same views is in flight, the reads asked meanwhile wait for it in a `Batch`,
        then are read together: one read of all their rows (one round trip, one check of
        the generations, one decode), each caller answered with its own rows. A batch is
        one read, so it is checked and retried as any read is (`ReadSteps`). Alone: a read
        `now=`, or one that would make the waiting batch larger than _BATCH_ROWS rows."""
        if now is not None:
            return await self.read_alone(requests, entity_rows, now)
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # first use, or a new event loop: nothing of the old one waits
            self.loop, self.flying, self.batches = loop, set(), {}
        key = tuple(requests)
        if key not in self.flying:  # nothing in flight: read now
            self.flying.add(key)
            try:
                return await self.read_alone(requests, entity_rows, None)
            finally:
                self._landed(key)
        batch = self.batches.get(key)
        if batch is None:
            batch = self.batches[key] = Batch()
        elif len(batch.rows) + len(entity_rows) > _BATCH_ROWS:
            return await self.read_alone(requests, entity_rows, None)
        future = loop.create_future()
        start = len(batch.rows)
        batch.rows += entity_rows
        batch.callers.append((future, start, len(batch.rows)))
        return await future

    def _landed(self, key: tuple[ReadRequest, ...]) -> None:
        """The read in flight of these views is done: the batch waiting for it goes next
        (its task first runs at the next turn, so this turn's reads still join it)."""
        batch = self.batches.get(key)
        if batch is None or self.loop is None or self.loop.is_closed():
            self.flying.discard(key)
            return
        task = self.loop.create_task(self._read_batch(key, batch))
        self.reading.add(task)
        task.add_done_callback(self.reading.discard)

    async def _read_batch(self, requests: tuple[ReadRequest, ...], batch: Batch) -> None:
        """Read a batch and answer its callers; when a row is at fault (a bad key), each
        caller is read alone, so only the one that sent it fails."""
        if self.batches.get(requests) is batch:
            del self.batches[requests]  # closed: later reads wait for it in another
        callers = batch.callers
        try:
            results = await self.read_alone(requests, batch.rows, None)
        except InvalidKeyError as exc:
            if len(callers) == 1:
                _settle(callers[0][0], error=exc)
                return
            await asyncio.gather(
                *(self._alone(requests, batch.rows[a:b], future) for future, a, b in callers)
            )
            return
        except Exception as exc:  # Redis down, not published...: the same for every caller
            for future, _, _ in callers:
                _settle(future, error=exc)
            return
        except BaseException:  # cancelled (the server stops): so are its callers
            for future, _, _ in callers:
                future.cancel()
            raise
        finally:
            self._landed(requests)
        if len(callers) == 1:
            _settle(callers[0][0], results)
            return
        for future, a, b in callers:
            _settle(future, [_rows(r, a, b) for r in results])

    async def _alone(
        self,
        requests: Sequence[ReadRequest],
        rows: Sequence[Mapping[str, Any]],
        future: asyncio.Future,
    ) -> None:
        try:
            _settle(future, await self.read_alone(requests, rows, None))
        except Exception as exc:
            _settle(future, error=exc)

    async def read_alone(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        now: datetime | None,
    ) -> list[ReadResult]:
        """One read, not batched: its round trips awaited one after the other."""
        steps = self.steps.steps(requests, entity_rows, now)
        trip = next(steps)
        try:
            while True:
                replies = await self.execute(trip)
                try:
                    trip = steps.send(replies)
                except StopIteration as done:
                    return done.value
        except OnlineStoreError:
            raise
        except REDIS_ERRORS as exc:
            raise translate(exc, self.where, "reading features") from exc

    async def execute(self, trip: Round) -> tuple[list, list]:
        """A round trip's replies (a cluster reader sends the check after the data)."""
        replies = await self.client.call_packed(trip.packed(), trip.count)
        replies = replies if trip.count > 1 else [replies]
        return replies[: len(trip.data)], replies[len(trip.data) :]

    async def ping(self) -> None:
        """Raise RedisUnavailable (or OnlineStoreError) unless Redis answers PING."""
        try:
            await self.client.call("PING")
        except REDIS_ERRORS as exc:
            raise translate(exc, self.where, "checking health") from exc

    def close(self) -> None:
        self.client.close()


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    """Answer a batched caller, unless it gave up (cancelled)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _rows(result: ReadResult, start: int, stop: int) -> ReadResult:
    """`result` for the entity rows start..stop only (a copy with three fields replaced:
    `dataclasses.replace` and the frozen __init__ cost a batched caller 3-4x more)."""
    part = object.__new__(ReadResult)
    part.__dict__.update(
        result.__dict__,
        values=result.values[start:stop],
        statuses=result.statuses[start:stop],
        event_at=result.event_at[start:stop],
    )
    return part
