"""Housekeeping: list and describe published views, delete a view version by key names derived
from its metadata (no SCAN), and remove generations that dead or failed syncs left behind.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import redis

from featurehouse.online.records import NotPublishedError, ViewSchema, ViewState
from featurehouse.online.redis import functions, layout
from featurehouse.online.redis.publish import iso, pid_start, unlink_generation

log = logging.getLogger(__name__)

STALE_SECONDS = 600  # a sync on another host is dead when its heartbeat is this old
OWN_PID_GRACE_SECONDS = 60  # a sync of this process that another OnlineStore may be writing


def _text(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def _ts(text: str) -> datetime | None:
    return datetime.fromisoformat(text).replace(tzinfo=None) if text else None


def state_of(meta: dict[str, str], latest: dict[str, str], syncing: list[int]) -> ViewState:
    schema = ViewSchema.from_json(meta["schema"])
    return ViewState(
        schema=schema,
        generation=int(meta["gen"]),
        synced_at=_ts(meta["synced_at"]),
        as_of=_ts(meta["as_of"]),
        clock=meta["clock"],
        watermark=_ts(meta.get("watermark", "")),
        rows=int(meta["rows"]),
        buckets=int(meta["buckets"]),
        is_latest=latest.get(schema.view) == meta["version"],
        mode=meta.get("mode", "full"),
        max_record_bytes=int(meta.get("max_record_bytes", 0)),
        stats=json.loads(meta.get("stats") or "{}"),
        syncing=tuple(sorted(syncing)),
    )


def _syncing_by_view(client: redis.Redis, root: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for raw in client.hvals(layout.syncing_key(root)):
        e = json.loads(raw)
        out.setdefault(f"{e['view']}:{e['version']}", []).append(e["generation"])
    return out


def views(client: redis.Redis, root: str) -> list[ViewState]:
    ids = sorted(m.decode() for m in client.smembers(layout.views_key(root)))
    pipe = client.pipeline(transaction=False)
    for vid in ids:
        pipe.hgetall(f"{layout.ctl_prefix(root)}view:{vid}")
    metas = pipe.execute()
    latest = _text(client.hgetall(layout.latest_key(root)))
    syncing = _syncing_by_view(client, root)
    return [
        state_of(_text(m), latest, syncing.get(vid, []))
        for vid, m in zip(ids, metas, strict=True)
        if m
    ]


def describe(client: redis.Redis, root: str, view: str, version: int | None) -> ViewState:
    latest = _text(client.hgetall(layout.latest_key(root)))
    meta = _text(client.hgetall(layout.meta_key(root, view, version)))
    if not meta and version is None and view in latest:
        meta = _text(client.hgetall(f"{layout.ctl_prefix(root)}view:{view}:{latest[view]}"))
    if not meta:
        what = "any version" if version is None else f"v{version}"
        raise NotPublishedError(f"{view} {what} is not published in Redis (prefix {root!r})")
    syncing = _syncing_by_view(client, root).get(f"{view}:{meta['version']}", [])
    return state_of(meta, latest, syncing)


def entity_keys(
    client: redis.Redis, root: str, view: str, version: int | None, chunk: int = 512
) -> Iterator[list[str]]:
    """The served generation's entity keys (hash fields), `chunk` buckets per round trip."""
    fields = ("gen", "key_prefix", "entity", "buckets", "tags")
    meta = client.hmget(layout.meta_key(root, view, version), fields)
    if meta[0] is None:
        raise NotPublishedError(f"{view} v{version} is not published in Redis (prefix {root!r})")
    key_prefix, entity = meta[1].decode(), meta[2].decode()
    buckets, tags = int(meta[3]), int(meta[4])
    for start in range(0, buckets, chunk):
        pipe = client.pipeline(transaction=False)
        for bucket in range(start, min(start + chunk, buckets)):
            pipe.hkeys(layout.data_key(key_prefix, entity, bucket, tags))
        yield [key.decode() for keys in pipe.execute() for key in keys]


def delete(client: redis.Redis, root: str, view: str, version: int | None) -> int:
    """Unpublish a view version atomically, then delete its keys (and its unfinished syncs)."""
    vtoken = layout.version_token(version)
    keys = [
        layout.meta_key(root, view, version),
        layout.retired_key(root),
        layout.latest_key(root),
        layout.views_key(root),
    ]
    functions.fcall(client, "drop", keys, [view, vtoken, iso(datetime.now(UTC))])
    deleted = 0
    for which in (layout.retired_key(root), layout.syncing_key(root)):
        for field, raw in client.hgetall(which).items():
            e = json.loads(raw)
            if (e["view"], e["version"]) == (view, vtoken):
                deleted += _remove(client, which, field, e)
    return deleted


def _remove(client: redis.Redis, hash_key: str, field: bytes, e: dict[str, Any]) -> int:
    n = unlink_generation(client, e["key_prefix"], e["entity"], e["buckets"], e["tags"])
    client.hdel(hash_key, field)
    return n


def owner_alive(e: dict[str, Any], active: set[int]) -> bool:
    """Is the process that registered this in-progress generation still working on it?"""
    if e.get("host") != socket.gethostname():
        return time.time() - float(e.get("heartbeat_at", 0)) < STALE_SECONDS
    pid = int(e["pid"])
    if pid == os.getpid():  # this process: ours if active, else another store's if recent
        fresh = time.time() - float(e.get("heartbeat_at", 0)) < OWN_PID_GRACE_SECONDS
        return e["generation"] in active or fresh
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return _same_process(pid, e.get("pid_start"))


def _same_process(pid: int, started: str | None) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust the pid
    return state != "Z" and (started is None or pid_start(pid) == started)


def cleanup(client: redis.Redis, root: str, active: set[int]) -> int:
    """Delete generations of dead syncs and retired generations; return how many."""
    removed = 0
    for field, raw in client.hgetall(layout.syncing_key(root)).items():
        e = json.loads(raw)
        if not owner_alive(e, active):
            log.info(
                "removing generation %s of %s %s left by a dead sync (pid %s on %s)",
                e["generation"],
                e["view"],
                e["version"],
                e.get("pid"),
                e.get("host"),
            )
            _remove(client, layout.syncing_key(root), field, e)
            removed += 1
    for field, raw in client.hgetall(layout.retired_key(root)).items():
        _remove(client, layout.retired_key(root), field, json.loads(raw))
        removed += 1
    return removed
