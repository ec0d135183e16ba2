"""The Redis online store: the only package importing redis (and hiredis).

`RedisStore` implements `featurehouse.online.OnlineStore`; `online.store.open_store` opens it
for `redis://`, `rediss://` and `unix://` URLs. The names below load on first use (PEP 562):
a process that only needs a submodule (`embedded` for the training API's context) does not
import redis, 9 MB of its resident memory.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from featurehouse.online.redis.aio import AsyncReader
    from featurehouse.online.redis.store import RedisStore

__all__ = ["AsyncReader", "RedisStore", "open_async_reader", "open_store"]
_LAZY = {"AsyncReader": "aio", "RedisStore": "store"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_store(url: str, prefix: str, *, timeout: float | None = None) -> RedisStore:
    """A store on `url`; with `timeout`, one that fails fast (no backoff) when Redis is down."""
    from featurehouse.online.redis.connect import serving_store
    from featurehouse.online.redis.store import RedisStore

    if timeout is not None:
        return serving_store(url, prefix, timeout)
    return RedisStore.from_url(url, prefix)


def open_async_reader(
    url: str, prefix: str, timeout: float, *, busy_poll_us: int = 0
) -> AsyncReader:
    """The server's reader; a cluster reader when the URL's server is a cluster node (not
    busy-polled: redis-py's cluster client reads its sockets)."""
    from featurehouse.online.redis.aio import AsyncReader
    from featurehouse.online.redis.cluster import AsyncClusterReader, is_cluster, open_client
    from featurehouse.online.redis.connection import endpoint

    point = endpoint(url)
    client = open_client(point, socket_timeout=timeout, socket_connect_timeout=timeout)
    client.close()
    if is_cluster(client):
        return AsyncClusterReader(url, prefix, timeout)
    return AsyncReader(url, prefix, timeout, busy_poll_us)
