"""The sync Redis client of long-running readers (the HTTP server reads its view catalog with
it, in a thread): short timeouts, no backoff, so a call fails fast when Redis is down and works
again as soon as Redis is back. The server's feature reads are async (`online.aio`).
"""

from __future__ import annotations

from redis.backoff import NoBackoff
from redis.retry import Retry

from featurehouse.online.redis.connection import endpoint
from featurehouse.online.redis.store import RedisStore


def serving_store(url: str, prefix: str, timeout: float = 1.0) -> RedisStore:
    """A RedisStore whose every call gives up after `timeout` seconds (connect and read)."""
    where = endpoint(url)
    tcp = {} if where.unix_path else {"socket_keepalive": True}
    client = where.client(
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=30,
        **tcp,
    )
    return RedisStore(client, prefix)
