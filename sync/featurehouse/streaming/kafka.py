"""Kafka for `featurehouse stream` (confluent-kafka, librdkafka); the only confluent_kafka user.

The consumer group `featurehouse.<source>` splits the topic's partitions among consumers; on
assignment each partition starts after the last offset the offline log holds for it (from
its start when it holds none), never from the group's committed offset, which is only
bookkeeping (lag, tools). Any librdkafka setting passes through (`-X`, a properties file):
SASL, TLS, timeouts. Dead letters go to `<topic>.dead-letter`: the original bytes, with the
reason and origin in headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from featurehouse.errors import StreamError
from featurehouse.streaming.brokers import DEAD_LETTER_SUFFIX, dead_letter_record
from featurehouse.streaming.events import Message, Rejected
from featurehouse.streaming.landing import Positions

log = logging.getLogger(__name__)


def _client() -> Any:
    try:
        import confluent_kafka
    except ImportError:
        raise StreamError(
            "Kafka needs the confluent-kafka client: pip install 'featurehouse[kafka]'"
        ) from None
    return confluent_kafka


def _settings(settings: Mapping[str, str]) -> dict[str, Any]:
    if not settings.get("bootstrap.servers"):
        raise StreamError(
            "no Kafka brokers: pass --bootstrap-servers (or FEATUREHOUSE_KAFKA_BOOTSTRAP_SERVERS "
            "or var featurehouse_kafka_bootstrap_servers)"
        )
    # librdkafka's own lines (a broker that went away, ...) go through Python logging.
    return {"logger": logging.getLogger("featurehouse.kafka"), **settings}


class KafkaBroker:
    """A topic read through a consumer group; positions resumed from the offline log."""

    kind = "kafka"

    def __init__(self, settings: Mapping[str, str], topic: str, source: str, consumer: str) -> None:
        kafka = _client()
        self.kafka = kafka
        self.topic = topic
        self.source = source
        config = {
            "group.id": f"featurehouse.{source}",
            "client.id": consumer,
            **_settings(settings),
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
        }
        self.settings = dict(settings)
        self.consumer = kafka.Consumer(config)
        self.producer: Any = None
        self.committed = Positions(self.kind)
        self._warned = 0.0

    def start(self, committed: Positions) -> None:
        self.committed = committed
        self.consumer.subscribe([self.topic], on_assign=self._on_assign)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        for partition in partitions:
            partition.offset = self._resume_offset(partition.topic, partition.partition)
        consumer.assign(partitions)

    def _resume_offset(self, topic: str, partition: int) -> int:
        last = self.committed.last.get(f"{topic}:{partition}")
        return int(last) + 1 if last is not None else self.kafka.OFFSET_BEGINNING

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        found = []
        for message in self.consumer.consume(max_messages, timeout):
            error = message.error()
            if error is not None:
                if error.code() != self.kafka.KafkaError._PARTITION_EOF:
                    self._warn(f"Kafka: {error.str()} (librdkafka retries)")
                    if error.fatal():
                        raise StreamError(f"Kafka consumer failed: {error.str()}")
                continue
            kind, stamp = message.timestamp()
            produced = stamp if kind != self.kafka.TIMESTAMP_NOT_AVAILABLE else _now_ms()
            part = f"{message.topic()}:{message.partition()}"
            found.append(Message(part, str(message.offset()), message.value(), produced))
        return found

    def commit(self, messages: Sequence[Message]) -> None:
        """Tell the group how far it got (lag and tools read it; resuming does not)."""
        last: dict[str, int] = {}
        for message in messages:
            last[message.part] = max(last.get(message.part, -1), int(message.position))
        offsets = [
            self.kafka.TopicPartition(*_split(part), offset + 1) for part, offset in last.items()
        ]
        self.committed = self.committed.merged(
            Positions(self.kind, {p: str(o) for p, o in last.items()})
        )
        try:
            self.consumer.commit(offsets=offsets, asynchronous=True)
        except self.kafka.KafkaException as exc:
            self._warn(f"Kafka: offsets not committed to the group ({exc})")

    def rewind(self, committed: Positions) -> None:
        """After a failed batch: read from after the landed positions again."""
        self.committed = committed
        for partition in self.consumer.assignment():
            offset = self._resume_offset(partition.topic, partition.partition)
            self.consumer.seek(
                self.kafka.TopicPartition(partition.topic, partition.partition, offset)
            )

    def dead_letter(self, rejected: Sequence[Rejected]) -> None:
        if self.producer is None:
            self.producer = self.kafka.Producer(_settings(self.settings))
        for item in rejected:
            record = dead_letter_record(item, self.source)
            value = record.pop("value")
            headers = [(k, str(v).encode()) for k, v in record.items()]
            self.producer.produce(self.topic + DEAD_LETTER_SUFFIX, value=value, headers=headers)
        left = self.producer.flush(30)
        if left:
            raise StreamError(f"Kafka: {left} dead letter(s) not delivered to {self.topic}")

    def lag(self) -> int | None:
        try:
            assigned = self.consumer.assignment()
            positions = self.consumer.position(assigned)
        except self.kafka.KafkaException:
            return None
        total = 0
        for partition in positions:
            _, high = self.consumer.get_watermark_offsets(partition, cached=True)
            if high < 0:
                return None
            total += max(0, high - max(partition.offset, 0))
        return total

    def close(self) -> None:
        self.consumer.close()
        if self.producer is not None:
            self.producer.flush(10)

    def _warn(self, text: str) -> None:
        if time.monotonic() - self._warned > 5:  # one line per 5 s while it lasts
            self._warned = time.monotonic()
            log.warning("%s", text)


class KafkaSink:
    """Produces replayed events (keyed by entity, so an entity stays on one partition)."""

    def __init__(self, settings: Mapping[str, str], topic: str) -> None:
        self.kafka = _client()
        self.producer = self.kafka.Producer(_settings(settings))
        self.topic = topic

    def send(self, events: Sequence[tuple[bytes | None, bytes]]) -> None:
        for key, value in events:
            while True:
                try:
                    self.producer.produce(self.topic, value=value, key=key)
                    break
                except BufferError:
                    self.producer.poll(0.1)
        self.producer.poll(0)

    def close(self) -> None:
        left = self.producer.flush(60)
        if left:
            raise StreamError(f"Kafka: {left} event(s) not delivered to {self.topic}")


def _split(part: str) -> tuple[str, int]:
    topic, _, partition = part.rpartition(":")
    return topic, int(partition)


def _now_ms() -> int:
    return int(time.time() * 1000)
