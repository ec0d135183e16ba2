"""Redis connections for long-running readers (the HTTP server): short timeouts, no backoff,
and a lean path for FCALL, the one command of every online read.

A request handler must fail fast when Redis is down (the caller answers 503 at once) and work
again as soon as Redis is back: one immediate retry covers a connection that Redis closed
while restarting, and nothing sleeps between attempts.
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from hiredis import pack_command
from redis.backoff import NoBackoff
from redis.retry import Retry

from featurehouse.errors import ConfigError, redact
from featurehouse.online.store import OnlineStore
from featurehouse.online.wire import translated


class LeanReadRedis(redis.Redis):
    """redis.Redis whose FCALL goes straight to a connection kept by the calling thread:
    packed by hiredis (3x faster than redis-py's packer for a 100-entity read) and parsed by
    the connection, without the client's per-command pool, retry and instrumentation layers
    (about 45 µs of CPU a call less here). Every other command is plain redis-py."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lean = threading.local()

    def fcall(self, function: str, numkeys: int, *keys_and_args: Any) -> Any:
        packed = None
        for attempt in (0, 1):
            conn = getattr(self._lean, "conn", None)
            if conn is None:
                conn = self._lean.conn = self.connection_pool.make_connection()
            packed = packed or [pack_command(("FCALL", function, numkeys, *keys_and_args))]
            try:
                conn.send_packed_command(packed, check_health=False)
                return conn.read_response()
            except redis.ConnectionError:
                conn.disconnect()  # e.g. closed by a Redis restart: reconnect once, now
                if attempt:
                    raise
            except (redis.TimeoutError, OSError):
                conn.disconnect()  # a late reply must not answer the next command
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        conn = getattr(self._lean, "conn", None)
        if conn is not None:
            conn.disconnect()
        super().close()


def serving_store(url: str, prefix: str, timeout: float = 1.0) -> OnlineStore:
    """An OnlineStore whose every call gives up after `timeout` seconds (connect and read)."""
    tcp = {} if url.startswith("unix:") else {"socket_keepalive": True}
    try:
        client = LeanReadRedis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
            **tcp,
        )
    except ValueError as exc:
        raise ConfigError(f"bad Redis URL {redact(url)}: {exc}") from None
    return OnlineStore(client, prefix)


def ping(store: OnlineStore) -> None:
    """Raise RedisUnavailable (or OnlineStoreError) unless Redis answers PING."""
    with translated(store.client, "checking health"):
        store.client.ping()
