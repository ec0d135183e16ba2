"""Where raw events come from: a broker consumed in micro-batches, positions and dead letters.

`Broker` is what the consumer needs of Redis Streams (`RedisBroker`, the default: the serving
Redis) and Kafka (`streaming.kafka`). Positions are resumed from the offline log's commits,
not from the broker's own bookkeeping, which is only updated after a batch fully holds.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from featurehouse.errors import FeaturehouseError, StreamError
from featurehouse.online.redis import streams
from featurehouse.streaming.events import Message, Rejected
from featurehouse.streaming.landing import Positions

log = logging.getLogger(__name__)
DEAD_LETTER_SUFFIX = ".dead-letter"
LEASE_TTL_MS = 15_000  # a consumer that stops renewing loses it after this
LEASE_WAIT_SECONDS = 600.0


class Broker(Protocol):
    kind: str  # "redis" or "kafka": how positions compare

    def start(self, committed: Positions) -> None: ...
    def poll(self, max_messages: int, timeout: float) -> list[Message]: ...
    def commit(self, messages: Sequence[Message]) -> None: ...
    def rewind(self, committed: Positions) -> None: ...
    def dead_letter(self, rejected: Sequence[Rejected]) -> None: ...
    def lag(self) -> int | None: ...
    def close(self) -> None: ...


def consumer_name() -> str:
    """This process's name in a consumer group: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


def dead_letter_record(item: Rejected, source: str) -> dict[str, Any]:
    """What a dead letter holds: the message as received, why, and where it came from."""
    return {
        "reason": item.reason,
        "source": source,
        "part": item.message.part,
        "position": item.message.position,
        "value": item.message.value or b"",
        "rejected_at": dt.datetime.now(dt.UTC).isoformat(),
    }


class RedisBroker:
    """A Redis stream read through the consumer group `featurehouse:<source>`, by the one
    consumer holding the source's lease (positions are one stream id: a second reader would
    interleave them)."""

    kind = "redis"

    def __init__(
        self, client: Any, stream: str, source: str, consumer: str, lease: streams.Lease
    ) -> None:
        self.group = streams.StreamGroup(client, stream, f"featurehouse:{source}", consumer)
        self.client = client
        self.stream = stream
        self.source = source
        self.lease = lease
        self.lease_wait = LEASE_WAIT_SECONDS
        self._pending = True  # first the entries delivered to us and never acknowledged

    def start(self, committed: Positions) -> None:
        if not self.lease.acquire(self.lease_wait, self._waiting):
            raise StreamError(
                f"{self.source}: another consumer holds {self.lease.key} and kept it for "
                f"{self.lease_wait:.0f} s; stop it, or wait for it to finish"
            )
        self.lease.keep_alive()
        self.group.ensure_group()
        claimed = self.group.claim_all()
        if claimed:
            log.info(
                "%s: took over %d pending entries of a previous consumer", self.stream, claimed
            )
        self._pending = True

    def _waiting(self, holder: str) -> None:
        log.info("%s: waiting for the lease held by %s", self.source, holder)

    def poll(self, max_messages: int, timeout: float) -> list[Message]:
        if not self.lease.renew():
            raise StreamError(
                f"{self.source}: lost the lease {self.lease.key} (the process was paused or "
                "Redis unreachable for longer than its TTL); restart this consumer"
            )
        if self._pending:
            entries = self.group.read(max_messages, 0, pending=True)
            if entries:
                return [_message(e) for e in entries]
            self._pending = False
        entries = self.group.read(max_messages, max(1, int(timeout * 1000)), pending=False)
        return [_message(e) for e in entries]

    def commit(self, messages: Sequence[Message]) -> None:
        self.group.ack([m.position for m in messages])

    def rewind(self, committed: Positions) -> None:
        """After a failed batch: read the unacknowledged entries again."""
        self._pending = True

    def dead_letter(self, rejected: Sequence[Rejected]) -> None:
        records = [dead_letter_record(r, self.source) for r in rejected]
        streams.add(self.client, self.stream + DEAD_LETTER_SUFFIX, records)

    def lag(self) -> int | None:
        return self.group.lag()

    def close(self) -> None:
        """Hand the lease on (the client belongs to the online store)."""
        try:
            self.lease.release()
        except FeaturehouseError as exc:
            log.warning("%s: lease not released (%s); it expires by itself", self.source, exc)


def _message(entry: streams.Entry) -> Message:
    return Message(entry.stream, entry.id, entry.value, int(entry.id.partition("-")[0]))


def encode_event(event: dict[str, Any]) -> bytes:
    """An event as producers send it (JSON; datetimes as ISO 8601)."""
    return orjson.dumps(event, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z)
