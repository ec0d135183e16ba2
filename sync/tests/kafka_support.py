"""A real Apache Kafka broker for the tests (KRaft, one node, free loopback ports).

The broker comes from `dev/kafka_broker.py` on the jars `make services` fetches; a missing jar
folder or JDK fails the tests that need it, naming the fix.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka_broker import BrokerError, KafkaBroker  # dev/, on pytest's pythonpath


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """One broker for the session; tests use topics of their own."""
    try:
        broker = KafkaBroker().start()
    except BrokerError as error:
        pytest.fail(f"Kafka: {error}")
    try:
        yield broker
    finally:
        broker.close()
