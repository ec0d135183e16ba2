"""The Redis Streams lease on a real Redis: kept by its heartbeat through a batch longer than
its TTL, lost when the holder stops renewing, handed on when released."""

from __future__ import annotations

import time
import uuid

import redis
from featurehouse.online.redis.streams import Lease
from online_support import SHARED_URL


def _key() -> str:
    return f"fhtest:lease:{uuid.uuid4().hex[:8]}"


def test_the_heartbeat_keeps_the_lease_through_a_long_batch() -> None:
    client = redis.Redis.from_url(SHARED_URL)
    key = _key()
    lease = Lease(client, key, ttl_ms=1_000)  # renewed every 333 ms: a loaded CI stalls < 0.6 s
    try:
        assert lease.acquire(1.0)
        lease.keep_alive()
        time.sleep(3.5)  # three and a half TTLs without a poll: the heartbeat renews
        assert lease.renew()
        assert not Lease(client, key, ttl_ms=1_000).acquire(0.0)  # still held
    finally:
        lease.release()
    assert client.get(key) is None
    assert Lease(client, key, ttl_ms=300).acquire(0.0)
    client.delete(key)


def test_a_lease_nobody_renews_expires_and_its_holder_knows() -> None:
    client = redis.Redis.from_url(SHARED_URL)
    key = _key()
    lease = Lease(client, key, ttl_ms=200)
    assert lease.acquire(1.0)  # no heartbeat: as a paused process
    time.sleep(0.5)
    other = Lease(client, key, ttl_ms=5_000)
    assert other.acquire(0.0)
    assert not lease.renew() and lease.lost
    other.release()
    assert client.get(key) is None
