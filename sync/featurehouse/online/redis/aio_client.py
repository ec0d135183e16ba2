"""A minimal async Redis client for the server's reads: one pipelined connection (an asyncio
protocol, hiredis packing and parsing), (re)connected on demand (`AsyncRedis`; aio.py reads
with it).

Commands of one event-loop turn go out in one write and replies are matched to them in order;
one timer per connection watches the oldest unanswered command's deadline; a call fails fast
when Redis is down and the next one reconnects.

Busy polling (`busy_poll_us`, for calls made with `poll=True`: the reader asks for it while
reads do not overlap): after the write, the loop polls the socket for the replies for up to
that long instead of going back to sleep in the event loop's poll, and so saves the sleep and
the wake-up on Redis's reply (~50 us of a 1-entity request here: docs/feature-server.md,
"Busy polling").
A poll that runs out of time hands the wait back to the loop and the next polls are skipped,
doubling up to _BACKOFF_MAX writes, so a slow or distant Redis costs one short poll now and
then. Plain TCP and unix sockets only (TLS decrypts in the transport).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import deque
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import hiredis
import redis

from featurehouse.online.redis.connection import endpoint
from featurehouse.online.redis.resp import pack

_SLACK = 0.002  # seconds: a timer may fire this much early (uvloop counts milliseconds)
_BACKOFF_MAX = 1024  # writes not polled after polls that ran out of time, at most
_READ = 1 << 16  # bytes a poll reads at once


class _Waiter:
    """A caller awaiting the replies of its `count` commands (sent together, answered in
    order) by `deadline` (loop time): resolved with the last one (a single command) or the
    list of them."""

    __slots__ = ("count", "deadline", "future", "poll", "replies", "whole")

    def __init__(
        self, future: asyncio.Future, deadline: float, count: int, poll: bool = False
    ) -> None:
        self.future, self.deadline, self.count, self.poll = future, deadline, count, poll
        self.replies: list[Any] = []
        self.whole = False  # its replies come as one array (`_Protocol.send`)

    def take(self, gets: Any) -> bool:
        """Take the next replies from the reader (`gets`: its method) up to `count`, in one
        loop, or all at once (`whole`: one array); True once all are in (the future then
        resolved). A per-reply method call cost 100 replies ~30 µs."""
        replies, count = self.replies, self.count
        while len(replies) < count:
            reply = gets()
            if reply is False:
                return False
            if self.whole:
                replies = self.replies = reply
            else:
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

    def __init__(self, busy_poll_ns: int = 0) -> None:
        self.transport: Any = None  # asyncio's or uvloop's transport
        self.parser = hiredis.Reader()
        self.pending: deque[_Waiter] = deque()
        self.outbox: list[bytes] = []
        self.dead = False
        self.watchdog: asyncio.TimerHandle | None = None
        self.loop: Any = None  # its event loop (asyncio.get_running_loop costs a getpid())
        self.busy_poll_ns = busy_poll_ns
        self.fd: int | None = None  # the socket polled after a write (None: not polled)
        self.skip = 0  # writes left not polled (after a poll that ran out of time)
        self.backoff = 1  # the next `skip`

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
        sock = transport.get_extra_info("socket")
        if self.busy_poll_ns and sock is not None and not transport.get_extra_info("sslcontext"):
            self.fd = sock.fileno()

    def send(self, packed: bytes, loop: asyncio.AbstractEventLoop, waiter: _Waiter) -> None:
        """Queue commands; those of one event-loop turn go out in one write (auto-pipelining).
        Alone in flight, the waiter's replies are the next ones: the reader is fed an array
        header of their count first, so one `gets` parses them all."""
        if not self.pending and waiter.count > 1 and not self.parser.has_data():
            self.parser.feed(b"*%d\r\n" % waiter.count)
            waiter.whole = True
        self.pending.append(waiter)
        if not self.outbox:
            loop.call_soon(self.flush)
        self.outbox.append(packed)

    def flush(self) -> None:
        if self.outbox and not self.dead:
            self.transport.write(b"".join(self.outbox))
            if self.fd is not None and self.polled():
                self.poll(self.fd)
        self.outbox.clear()

    def polled(self) -> bool:
        """Whether to poll after this write: every call in flight asked for it, and all of
        the write went out."""
        return all(w.poll for w in self.pending) and not self.transport.get_write_buffer_size()

    def poll(self, fd: int) -> None:
        """Read the replies in flight off the socket until all are in or `busy_poll_ns`
        has passed (then the loop waits for the rest, and the next polls are skipped).
        The transport reads the same socket in the loop's callbacks, never meanwhile, and
        all that is read goes to the one parser in order, so it sees nothing missing."""
        if self.skip:
            self.skip -= 1
            return
        clock = time.perf_counter_ns
        deadline, pending = clock() + self.busy_poll_ns, self.pending
        while pending:
            try:
                data = os.read(fd, _READ)
            except BlockingIOError:
                if clock() < deadline:
                    continue
                self.skip, self.backoff = self.backoff, min(2 * self.backoff, _BACKOFF_MAX)
                return
            except OSError as exc:
                self.close(redis.ConnectionError(f"Error reading from Redis: {exc}"))
                return
            if not data:
                return  # closed by Redis: the transport finds it too (connection_lost)
            self.data_received(data)
        self.backoff = 1

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

    def __init__(self, url: str, timeout: float, busy_poll_us: int = 0) -> None:
        self.endpoint = endpoint(url)  # address, credentials and TLS context, as every client
        self.timeout = timeout
        self.busy_poll_ns = busy_poll_us * 1000 if busy_poll_us > 0 and _cpus() > 1 else 0
        self.where = self.endpoint.shown
        self._proto: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    async def call(self, *command: Any, poll: bool = False) -> Any:
        return await self.call_many([command], poll=poll)

    async def call_many(self, commands: Sequence[tuple[Any, ...]], *, poll: bool = False) -> Any:
        """The replies of `commands`, sent together (one reply: that reply, else a list);
        `poll`: busy-poll for them (module docstring)."""
        return await self.call_packed(pack(commands), len(commands), poll=poll)

    async def call_packed(self, packed: bytes, count: int, *, poll: bool = False) -> Any:
        """`call_many` of `count` commands already packed as RESP."""
        proto = self._alive()
        if proto is not None:
            try:
                return await self._send(proto, packed, count, poll)
            except redis.ConnectionError:
                pass  # e.g. closed by a Redis restart: reconnect once, now
        return await self._send(await self._connect(), packed, count, poll)

    def _alive(self) -> _Protocol | None:
        proto = self._proto
        if proto is None or proto.dead or self._loop is not asyncio.get_running_loop():
            return None
        return proto

    def _send(
        self, proto: _Protocol, packed: bytes, count: int = 1, poll: bool = False
    ) -> asyncio.Future:
        loop = proto.loop
        future = loop.create_future()
        deadline = loop.time() + self.timeout
        proto.send(packed, loop, _Waiter(future, deadline, count, poll))
        proto.watch(loop, deadline)
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

        def protocol() -> _Protocol:
            return _Protocol(self.busy_poll_ns)

        if point.unix_path:
            _, proto = await loop.create_unix_connection(protocol, point.unix_path)
        else:
            host, port = point.address
            tls = point.tls_context
            transport, proto = await loop.create_connection(
                protocol, host, port, ssl=tls, server_hostname=host if tls else None
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


def _cpus() -> int:
    """CPUs this process may run on: with one, a busy poll only keeps Redis off it."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1
