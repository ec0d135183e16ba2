"""The live services the suite needs are reachable; if not, these fail naming the service."""

from __future__ import annotations

from typing import Any


def test_postgres_is_reachable(pg_connection: Any) -> None:
    with pg_connection.cursor() as cursor:
        cursor.execute("select 1")
        assert cursor.fetchone() == (1,)


def test_redis_is_reachable(redis_client: Any, redis_key_prefix: str) -> None:
    key = f"{redis_key_prefix}ping"
    redis_client.set(key, "pong", ex=60)
    assert redis_client.get(key) == b"pong"
