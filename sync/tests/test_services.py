"""The live services the suite needs are reachable; if not, these fail naming the service."""

from __future__ import annotations

import time
from typing import Any


def test_postgres_is_reachable(pg_connection: Any) -> None:
    with pg_connection.cursor() as cursor:
        cursor.execute("select 1")
        assert cursor.fetchone() == (1,)


def test_redis_is_reachable(redis_client: Any, redis_key_prefix: str) -> None:
    key = f"{redis_key_prefix}ping"
    redis_client.set(key, "pong", ex=60)
    assert redis_client.get(key) == b"pong"


def test_kafka_broker_round_trip(kafka_broker: Any, session_id: str) -> None:
    """One message produced to, and consumed from, the broker `make services` provides."""
    from confluent_kafka import Consumer, Producer

    topic = f"fh-smoke-{session_id}"
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap_servers})
    producer.produce(topic, key=b"42", value=b'{"customer_id": 42}')
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_broker.bootstrap_servers,
            "group.id": f"fh-smoke-{session_id}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        message = None
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.error() is None, message and message.error()
        assert (message.topic(), message.key(), message.value()) == (
            topic,
            b"42",
            b'{"customer_id": 42}',
        )
    finally:
        consumer.close()
