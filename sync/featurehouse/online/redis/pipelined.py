"""Many commands in one round trip on a redis-py connection, pooled or kept (`Lane`, the
reads'): one write, the replies read from its hiredis buffer (redis-py's Pipeline costs
~15 µs of Python a command); the commands framed by `resp`.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

import hiredis
import redis

_PUSH = getattr(hiredis, "PushNotification", ())  # a RESP3 push (hiredis >= 3.2)


def pipelined(client: redis.Redis, payload: bytes, count: int) -> list[Any]:
    """The replies of the `count` commands of `payload` (RESP: `resp`), sent in one write on
    one pooled connection (Redis runs them in order); with the client's retry policy (reads
    may be sent again)."""
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        return _round_trip(conn, payload, count)
    except redis.ResponseError:
        conn.disconnect()  # the replies after the error are unread
        raise
    finally:
        pool.release(conn)


class Lane:
    """`pipelined` on one connection taken from the client's pool once and kept: a round
    trip without the pool's checkout and return (~a fifth of a 1-entity read's instructions
    with redis-py 8: its deprecation wrapper, metrics, the poll for unread data). One
    thread uses it at a time (others take `pipelined`'s pooled path meanwhile); a round
    trip that fails or is interrupted drops its connection, so none is ever left with
    replies unread; a forked child takes its own."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        # a pool of one connection: that one is not kept (other commands need it)
        pool = getattr(client, "connection_pool", None)  # a cluster client has none
        self.keeps = getattr(pool, "max_connections", 1) > 1
        self.lock = threading.Lock()
        self.conn: Any = None
        self.pid = 0

    def exchange(self, payload: bytes, count: int) -> list[Any]:
        """`pipelined(client, payload, count)`."""
        if not (self.keeps and self.lock.acquire(blocking=False)):
            return pipelined(self.client, payload, count)
        try:
            conn = self.conn
            if conn is None or self.pid != os.getpid():
                conn = self._take()
            try:
                return _round_trip(conn, payload, count)
            except BaseException:
                conn.disconnect()  # replies may be unread: the next round trip reconnects
                raise
        finally:
            self.lock.release()

    def _take(self) -> Any:
        """A connection from the pool, given back when this lane is closed or collected."""
        pool = self.client.connection_pool
        conn = self.conn = pool.get_connection()
        self.pid = os.getpid()
        self.given_back = weakref.finalize(self, _give_back, pool, conn, self.pid)
        return conn

    def close(self) -> None:
        """Give the connection back to the pool."""
        with self.lock:
            if self.conn is not None:
                self.given_back()
            self.conn = None


def _give_back(pool: Any, conn: Any, pid: int) -> None:
    if os.getpid() == pid:  # a forked child's pool is its own
        pool.release(conn)


def _round_trip(conn: Any, payload: bytes, count: int) -> list[Any]:
    """Send `payload`, read its `count` replies, with the connection's retry policy."""

    def exchange() -> list[Any]:
        conn.send_packed_command([payload])
        return _replies(conn, count)

    return conn.retry.call_with_retry(exchange, lambda _: conn.disconnect())


_PLAIN = {bytes, type(None), list}  # the reply types of a read's commands


def _replies(conn: Any, count: int) -> list[Any]:
    """`count` replies, read by redis-py's `read_response` (timeouts, errors, a dropped
    connection: redis-py's handling) as one array: its hiredis reader is fed an array header
    of `count` first, so it parses them all in one call (a 100-entity read: 42 -> 29 µs of
    CPU in the round trip, where a loop took each from the buffer). An error among them is
    raised (the first); a RESP3 push is handled as redis-py would, the rest read after it."""
    parser = getattr(conn, "_parser", None)
    reader = getattr(parser, "_reader", None)
    if count < 2 or not isinstance(reader, hiredis.Reader):
        return _each(conn, count)
    reader.feed(b"*%d\r\n" % count)
    out = conn.read_response(disable_decoding=True)
    if set(map(type, out)) <= _PLAIN:
        return out
    replies = []
    for reply in out:
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, _PUSH):  # RESP3 out-of-band: not one of ours
            parser.handle_push_response(reply)
        else:
            replies.append(reply)
    return replies + _each(conn, count - len(replies))


def _each(conn: Any, count: int) -> list[Any]:
    """`count` replies, each by `read_response` (a push among them handled there)."""
    return [conn.read_response(disable_decoding=True) for _ in range(count)]
