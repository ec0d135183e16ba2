"""Feature services and usage history in Redis.

Services: one hash `<prefix>:{ctl}:services` (name -> JSON), replaced whole by each sync.
Usage, every key under `<prefix>:usage:` (the reader's ACL pattern): hashes `reads` and
`entities` (member -> count, HINCRBY), a sorted set `last` (member -> epoch seconds, ZADD GT),
hashes `day:<YYYY-MM-DD>` (member -> reads, kept 40 days) and the stream `log` of sampled
served rows. Members are `service:<name>` and `view:<view>` / `view:<view>.vN`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import redis

from featurehouse.online.records import ServiceRecord
from featurehouse.online.redis import layout
from featurehouse.online.usage import LoggedRow, Tally, UsageCount

DAY_SECONDS = 86400
KEEP_DAYS = 40
LOG_MAXLEN = 100_000  # the stream keeps about this many rows until they are exported


def services_key(prefix: str) -> str:
    return f"{layout.ctl_prefix(prefix)}services"


def usage_key(prefix: str, name: str) -> str:
    return f"{prefix}:usage:{name}"


def publish_services(client: redis.Redis, prefix: str, services: Sequence[ServiceRecord]) -> None:
    """Replace the stored services with `services`, atomically."""
    pipe = client.pipeline(transaction=True)
    pipe.delete(services_key(prefix))
    if services:
        pipe.hset(services_key(prefix), mapping={s.name: s.to_json() for s in services})
    pipe.execute()


def services(client: redis.Redis, prefix: str) -> list[ServiceRecord]:
    raw = client.hgetall(services_key(prefix))
    return sorted((ServiceRecord.from_json(v) for v in raw.values()), key=lambda s: s.name)


def add_usage(
    client: redis.Redis,
    prefix: str,
    tallies: Mapping[tuple[str, str], Tally],
    rows: Sequence[LoggedRow],
) -> None:
    """Add counts (one pipeline, a few commands per service or view version)."""
    pipe = client.pipeline(transaction=False)
    days: set[str] = set()
    for (kind, name), tally in tallies.items():
        member = f"{kind}:{name}"
        day = datetime.fromtimestamp(tally.last_read_at, UTC).strftime("%Y-%m-%d")
        days.add(day)
        pipe.hincrby(usage_key(prefix, "reads"), member, tally.reads)
        pipe.hincrby(usage_key(prefix, "entities"), member, tally.entities)
        pipe.zadd(usage_key(prefix, "last"), {member: tally.last_read_at}, gt=True)
        pipe.hincrby(usage_key(prefix, f"day:{day}"), member, tally.reads)
    for day in days:
        pipe.expire(usage_key(prefix, f"day:{day}"), KEEP_DAYS * DAY_SECONDS)
    for row in rows:
        pipe.xadd(usage_key(prefix, "log"), {"row": _row_json(row)}, maxlen=LOG_MAXLEN)
    pipe.execute()


def usage(client: redis.Redis, prefix: str, days: int = 30) -> list[UsageCount]:
    """Every service and view version read so far: totals, last read, reads per recent day."""
    today = datetime.now(UTC).toordinal()
    names = [datetime.fromordinal(today - i).strftime("%Y-%m-%d") for i in range(days)]
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(usage_key(prefix, "reads"))
    pipe.hgetall(usage_key(prefix, "entities"))
    pipe.zrange(usage_key(prefix, "last"), 0, -1, withscores=True)
    for day in names:
        pipe.hgetall(usage_key(prefix, f"day:{day}"))
    reads, entities, last, *by_day = pipe.execute()
    last_at = {m.decode(): s for m, s in last}
    counts = []
    for raw, n in sorted(reads.items()):
        member = raw.decode()
        kind, _, name = member.partition(":")
        per_day = {day: int(d[raw]) for day, d in zip(names, by_day, strict=True) if raw in d}
        at = last_at.get(member)
        counts.append(
            UsageCount(
                kind, name, int(n), int(entities.get(raw, 0)),
                None if at is None else datetime.fromtimestamp(at, UTC).replace(tzinfo=None),
                per_day,
            )
        )  # fmt: skip
    return counts


def logged_rows(client: redis.Redis, prefix: str, count: int) -> list[tuple[str, LoggedRow]]:
    """The oldest `count` logged rows with their stream ids."""
    entries = client.xrange(usage_key(prefix, "log"), count=count)
    return [(i.decode(), _row(fields[b"row"])) for i, fields in entries]


def drop_logged(client: redis.Redis, prefix: str, ids: Sequence[str]) -> None:
    if ids:
        client.xdel(usage_key(prefix, "log"), *ids)


def _row_json(row: LoggedRow) -> str:
    body = {
        "service": row.service,
        "served_at": row.served_at,
        "entity": dict(row.entity),
        "values": dict(row.values),
        "statuses": dict(row.statuses),
    }
    return json.dumps(body, separators=(",", ":"), default=str, allow_nan=True)


def _row(raw: bytes) -> LoggedRow:
    d = json.loads(raw)
    return LoggedRow(d["service"], d["served_at"], d["entity"], d["values"], d["statuses"])
