"""Redis connections for long-running readers (the HTTP server): short timeouts, no backoff.

A request handler must fail fast when Redis is down (the caller answers 503 at once) and work
again as soon as Redis is back: one immediate retry covers a connection that Redis closed
while restarting, and nothing sleeps between attempts.
"""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from featurehouse.errors import ConfigError, redact
from featurehouse.online.store import OnlineStore
from featurehouse.online.wire import translated


def serving_store(url: str, prefix: str, timeout: float = 1.0) -> OnlineStore:
    """An OnlineStore whose every call gives up after `timeout` seconds (connect and read)."""
    try:
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
    except ValueError as exc:
        raise ConfigError(f"bad Redis URL {redact(url)}: {exc}") from None
    return OnlineStore(client, prefix)


def ping(store: OnlineStore) -> None:
    """Raise RedisUnavailable (or OnlineStoreError) unless Redis answers PING."""
    with translated(store.client, "checking health"):
        store.client.ping()
