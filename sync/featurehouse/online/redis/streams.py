"""Redis Streams for `featurehouse stream`: a consumer group, a lease, dead letters, status.

The stream is the topic a view declares (a plain key, e.g. `clickstream`); producers `XADD`
each event as a JSON object in the field `event`. One consumer of a group holds the lease at
a time; when it dies, the next takes over the lease and, with XAUTOCLAIM, the entries it had
been delivered but not acknowledged. Part of the online package (the only redis user).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from featurehouse.errors import OnlineStoreError
from featurehouse.online.redis.admin import owner_alive
from featurehouse.online.redis.publish import pid_start
from featurehouse.online.redis.wire import translated

log = logging.getLogger(__name__)
EVENT_FIELD = b"event"
DEAD_LETTER_SUFFIX = ".dead-letter"  # a stream's (or topic's) rejected events: <stream><this>
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_STEAL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Entry:
    stream: str
    id: str
    value: bytes | None  # the `event` field


class StreamGroup:
    """One stream read through one consumer group, as one named consumer."""

    def __init__(self, client: redis.Redis, stream: str, group: str, consumer: str) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer

    def ensure_group(self) -> None:
        """Create the group at the stream's start (and the stream) unless it exists."""
        with translated(self.client, f"creating consumer group {self.group}"):
            try:
                self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def claim_all(self) -> int:
        """Take over every pending entry of the group (its previous consumer is gone: we
        hold the lease); returns how many."""
        claimed, cursor = 0, "0-0"
        with translated(self.client, f"claiming pending entries of {self.stream}"):
            while True:
                reply = self.client.xautoclaim(
                    self.stream, self.group, self.consumer, 0, cursor, count=1000
                )
                cursor, entries = reply[0], reply[1]  # (justid=True would drop the cursor)
                claimed += len(entries)
                if cursor in (b"0-0", "0-0"):
                    return claimed

    def read(self, count: int, block_ms: int, pending: bool) -> list[Entry]:
        """Up to `count` entries: this consumer's pending ones (`pending`), else new ones
        (waiting up to `block_ms`)."""
        with translated(self.client, f"reading {self.stream}"):
            reply = self.client.xreadgroup(
                self.group, self.consumer, {self.stream: "0" if pending else ">"},
                count=count, block=None if pending else block_ms,
            )  # fmt: skip
        entries = []
        for _, items in reply or ():
            for entry_id, fields in items:
                value = (fields or {}).get(EVENT_FIELD)
                entries.append(Entry(self.stream, _text(entry_id), value))
        return entries

    def ack(self, ids: Sequence[str]) -> None:
        if ids:
            with translated(self.client, f"acknowledging entries of {self.stream}"):
                pipe = self.client.pipeline(transaction=False)
                for start in range(0, len(ids), 10_000):
                    pipe.xack(self.stream, self.group, *ids[start : start + 10_000])
                pipe.execute()

    def lag(self) -> int | None:
        """Entries not yet delivered to the group (XINFO GROUPS `lag`), when Redis knows."""
        with translated(self.client, f"reading the lag of {self.stream}"):
            for info in self.client.xinfo_groups(self.stream):
                if _text(info.get("name")) == self.group:
                    lag = info.get("lag")
                    return None if lag is None else int(lag)
        return None

    def pending(self) -> int:
        with translated(self.client, f"counting pending entries of {self.stream}"):
            return int(self.client.xpending(self.stream, self.group)["pending"])


def add(
    client: redis.Redis, stream: str, fields: Sequence[Mapping[str, Any]], maxlen: int | None = None
) -> list[str]:
    """XADD each mapping (pipelined); returns the new entry ids."""
    with translated(client, f"adding to {stream}"):
        pipe = client.pipeline(transaction=False)
        for item in fields:
            pipe.xadd(stream, dict(item), maxlen=maxlen, approximate=maxlen is not None)
        return [_text(i) for i in pipe.execute()]


class Lease:
    """One holder at a time per key: SET NX PX, renewed while held. A holder on this host
    whose process is gone (killed) is taken over at once; elsewhere, when the TTL runs out."""

    def __init__(self, client: redis.Redis, key: str, ttl_ms: int) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        pid = os.getpid()
        self.holder = json.dumps(
            {
                "host": socket.gethostname(),
                "pid": pid,
                "pid_start": pid_start(pid),
                "token": uuid.uuid4().hex[:12],  # two consumers of one process differ
            }
        )
        self._renew = client.register_script(_RENEW)
        self._steal = client.register_script(_STEAL)
        self._stop = threading.Event()
        self.lost = False  # the heartbeat found the lease gone or taken

    def acquire(self, wait_seconds: float, on_wait: Callable[[str], Any] | None = None) -> bool:
        deadline = time.monotonic() + wait_seconds
        while True:
            with translated(self.client, f"taking the lease {self.key}"):
                if self.client.set(self.key, self.holder, nx=True, px=self.ttl_ms):
                    return True
                current = self.client.get(self.key)
                if current is not None and _text(current) == self.holder:
                    return self.renew()
                if current is not None and self._take_from_dead(current):
                    return True
            if time.monotonic() >= deadline:
                return False
            if on_wait is not None and current is not None:
                on_wait(_text(current))
            time.sleep(min(1.0, self.ttl_ms / 4000))

    def _take_from_dead(self, current: bytes) -> bool:
        """Take the lease of a holder whose process is gone (compare and set)."""
        if _alive(_text(current)):
            return False
        return bool(self._steal(keys=[self.key], args=[current, self.holder, self.ttl_ms]))

    def renew(self) -> bool:
        with translated(self.client, f"renewing the lease {self.key}"):
            held = bool(self._renew(keys=[self.key], args=[self.holder, self.ttl_ms]))
        self.lost = self.lost or not held
        return held and not self.lost

    def keep_alive(self) -> None:
        """Renew every third of the TTL from a thread, so a long batch keeps the lease; a
        paused or killed process still loses it (its thread stops too)."""
        self._stop.clear()
        threading.Thread(target=self._beat, name=f"lease {self.key}", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                if not self.renew():
                    return
            except OnlineStoreError as exc:  # Redis down: the consumer's retries say so too
                log.warning("renewing the lease %s failed (%s); retrying", self.key, exc)

    def release(self) -> None:
        self._stop.set()
        with translated(self.client, f"releasing the lease {self.key}"):
            if self.client.get(self.key) == self.holder.encode():
                self.client.delete(self.key)


def _alive(holder: str) -> bool:
    """Whether a lease holder may still be running (any holder on another host may)."""
    try:
        found = json.loads(holder)
        entry = {**found, "heartbeat_at": time.time(), "generation": -1}
        return owner_alive(entry, set())
    except (ValueError, KeyError, TypeError):
        return True


def write_status(
    client: redis.Redis, key: str, fields: Mapping[str, Any], ttl_s: int, index: str | None = None
) -> None:
    """The status hash, and its key in the set `index` (how readers find it: SMEMBERS and
    HGETALL of known keys, no SCAN, which neither ACL user may run)."""
    with translated(client, f"writing {key}"):
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
        pipe.expire(key, ttl_s)
        if index is not None:
            pipe.sadd(index, key)
            pipe.expire(index, ttl_s)
        pipe.execute()


def read_status(client: redis.Redis, index: str) -> dict[str, dict[str, str]]:
    """Every status hash listed in the set `index` that still exists, as text."""
    found: dict[str, dict[str, str]] = {}
    with translated(client, "reading stream status"):
        keys = sorted(_text(k) for k in client.smembers(index))
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        for key, fields in zip(keys, pipe.execute() if keys else [], strict=True):
            if fields:  # expired since (a consumer gone for a day)
                found[key] = {_text(k): _text(v) for k, v in fields.items()}
    return found


def get_field(client: redis.Redis, key: str, field: str) -> str | None:
    with translated(client, f"reading {key}"):
        value = client.hget(key, field)
    return None if value is None else _text(value)


def set_field(client: redis.Redis, key: str, field: str, value: str) -> None:
    with translated(client, f"writing {key}"):
        client.hset(key, field, value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def status_index(prefix: str) -> str:
    """The set of every stream consumer's status key under `prefix`."""
    return f"{prefix}:{{ctl}}:streams"


def control_key(prefix: str, source: str, what: str) -> str:
    """A stream's control key: `<prefix>:{ctl}:stream:<source>:<what>` (lease, status)."""
    return f"{prefix}:{{ctl}}:stream:{source}:{what}"
