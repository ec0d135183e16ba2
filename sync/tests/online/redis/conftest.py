"""Fixtures of the online store tests: a client of each engine and a store under its own prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from featurehouse.online.redis import RedisStore
from featurehouse.online.redis.cluster import open_client
from featurehouse.online.redis.connection import endpoint
from online_support import test_store as make_store


@pytest.fixture(scope="module")
def client(engine_url: str) -> redis.Redis:
    """A client of each engine (Redis, Valkey, a cluster), as the store opens it."""
    return open_client(endpoint(engine_url))


@pytest.fixture
def store(client: redis.Redis) -> Iterator[RedisStore]:
    with make_store(client) as s:
        yield s  # type: ignore[misc]
