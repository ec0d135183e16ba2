"""Online reads: every requested view of every entity in one FCALL, decoded with the schema
stored in Redis (cached per generation; the function says when the cache is stale).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from operator import itemgetter
from typing import Any

import redis

from featurehouse.errors import OnlineStoreError
from featurehouse.online.clock import is_expired, read_clock_us, window_start_us
from featurehouse.online.encoding import (
    ENCODINGS,
    decode_records,
    from_epoch_us,
    to_epoch_us,
    tombstone_length,
)
from featurehouse.online.keys import keyer
from featurehouse.online.records import NotPublishedError, ReadRequest, ReadResult, ViewSchema
from featurehouse.online.redis import functions, layout

_MAX_ATTEMPTS = 4
_PICKS_CACHED = 256  # feature selections remembered per view generation


@dataclass(frozen=True)
class ViewMeta:
    """The decoding context of one generation of a view version."""

    vtoken: str
    generation: int
    schema: ViewSchema
    clock: str
    as_of_us: int
    key_prefix: str
    buckets: int
    tags: int
    # (positions, kinds, picker) per requested feature tuple, built on first use
    picks: dict[tuple[str, ...] | None, tuple] = field(default_factory=dict, compare=False)

    @classmethod
    def from_flat(cls, flat: Sequence[bytes]) -> ViewMeta:
        d = {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}
        if d.get("encoding", ENCODINGS[0]) not in ENCODINGS:
            raise OnlineStoreError(
                f"{d.get('view')} {d.get('version')} is stored as {d['encoding']}, which this "
                f"featurehouse does not read ({', '.join(ENCODINGS)}): upgrade it, or rerun "
                "`featurehouse sync` with this one"
            )
        return cls(
            vtoken=d["version"],
            generation=int(d["gen"]),
            schema=ViewSchema.from_json(d["schema"]),
            clock=d["clock"],
            as_of_us=to_epoch_us(datetime.fromisoformat(d["as_of"])),
            key_prefix=d["key_prefix"],
            buckets=int(d["buckets"]),
            tags=int(d["tags"]),
        )

    @cached_property
    def keyer(self) -> Callable[[Mapping[str, Any]], str]:
        """Entity row -> canonical key text (built once per generation)."""
        return keyer(self.schema)

    @cached_property
    def _slot_prefix(self) -> str:
        return f"{self.key_prefix}{{{self.schema.entity}:"

    def locate(self, text: str) -> str:
        """The data key holding the entity whose canonical key is `text`."""
        b = zlib.crc32(text.encode()) % self.buckets
        return f"{self._slot_prefix}{b % self.tags}}}:{b}"


def _where(req: ReadRequest) -> str:
    return f"{req.view} {'latest' if req.version is None else f'v{req.version}'}"


class ReadSteps:
    """Reads without I/O, with a cache of view metadata validated by every call: `steps`
    yields each FCALL and is sent its reply. The sync `Reader` and the server's async reader
    (`online.aio`) drive it, so both plan and decode alike."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.cache: dict[tuple[str, str], ViewMeta] = {}
        self.latest: dict[str, str] = {}

    def steps(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        now: datetime | None,
    ) -> Generator[tuple[list[str], list[Any]], Any, list[ReadResult]]:
        """Yields the (keys, args) of each FCALL `read`, is sent its reply, returns the
        results (a stale metadata cache costs a second call). `now`: the clock to answer at
        (`clock.read_clock_us`; None: the store's)."""
        clock = Clock(None if now is None else to_epoch_us(now), time.time_ns() // 1000)
        for _ in range(_MAX_ATTEMPTS):
            plan = [self._guess(r) for r in requests]
            out = yield self._call(requests, plan, entity_rows)
            results = self._decode(requests, plan, out, clock)
            if results is not None:
                return results
        raise OnlineStoreError(
            f"metadata of {', '.join(map(_where, requests))} kept changing during the read; retry"
        )

    def _guess(self, req: ReadRequest) -> ViewMeta | None:
        if req.version is not None:
            return self.cache.get((req.view, layout.version_token(req.version)))
        vtoken = self.latest.get(req.view)
        return self.cache.get((req.view, vtoken)) if vtoken else None

    def _call(
        self,
        requests: Sequence[ReadRequest],
        plan: Sequence[ViewMeta | None],
        entity_rows: Sequence[Mapping[str, Any]],
    ) -> tuple[list[str], list[Any]]:
        keys: list[str] = [layout.latest_key(self.root)]
        args: list[Any] = [len(requests)]
        texts: dict[tuple, list[str]] = {}
        for req, meta in zip(requests, plan, strict=True):
            asked = "" if req.version is None else layout.version_token(req.version)
            if meta is None:
                keys.append(layout.meta_key(self.root, req.view, req.version))
                args += [req.view, asked, "", "", 0]
                continue
            sig = _key_sig(meta)
            if sig not in texts:
                key = meta.keyer
                texts[sig] = [key(row) for row in entity_rows]
            keys.append(layout.meta_key(self.root, req.view, layout.token_version(meta.vtoken)))
            keys += [meta.locate(t) for t in texts[sig]]
            args += [req.view, asked, meta.vtoken, meta.generation, len(entity_rows), *texts[sig]]
        return keys, args

    def _decode(
        self,
        requests: Sequence[ReadRequest],
        plan: Sequence[ViewMeta | None],
        out: Sequence[Any],
        clock: Clock,
    ) -> list[ReadResult] | None:
        results, complete = [], True
        for req, meta, res in zip(requests, plan, out, strict=True):
            vtoken, gen, flat, records = res[0], res[1], res[2], res[3:]
            if vtoken is None or gen is None:
                raise NotPublishedError(
                    f"{_where(req)} is not published in Redis (prefix {self.root!r}); run "
                    f"`featurehouse sync --select {req.view}`"
                )
            if flat:
                fresh = ViewMeta.from_flat(flat)
                self.cache[(req.view, fresh.vtoken)] = fresh
                if req.version is None:
                    self.latest[req.view] = fresh.vtoken
                complete = False
                continue
            results.append(_result(req, meta, records, clock))
        return results if complete else None


class Reader(ReadSteps):
    """Reads on a redis-py client: one blocking FCALL per step."""

    def __init__(self, client: redis.Redis, root: str) -> None:
        super().__init__(root)
        self.client = client

    def read(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        now: datetime | None,
    ) -> list[ReadResult]:
        steps = self.steps(requests, entity_rows, now)
        call = next(steps)
        while True:
            try:
                call = steps.send(functions.fcall(self.client, "read", *call))
            except StopIteration as done:
                return done.value


def _key_sig(meta: ViewMeta) -> tuple:
    return meta.schema.keys, meta.schema.key_types


def _columns(req: ReadRequest, schema: ViewSchema) -> tuple[list[int], list[str]]:
    index = {f.name: (i + 1, f.type) for i, f in enumerate(schema.features)}
    names = req.features if req.features is not None else schema.feature_names
    unknown = [n for n in names if n not in index]
    if unknown:
        raise OnlineStoreError(
            f"{_where(req)} has no feature {', '.join(unknown)}; it serves "
            f"{', '.join(schema.feature_names)}"
        )
    return [index[n][0] for n in names], [index[n][1] for n in names]


def _picker(positions: list[int], kinds: list[str]) -> Callable[[list], tuple]:
    """Record -> feature values: JSON already gives int, float, str, bool, list, None; only
    timestamps (epoch µs) need converting."""
    if not positions:
        return lambda rec: ()
    get = itemgetter(*positions)
    single = len(positions) == 1
    stamps = [j for j, k in enumerate(kinds) if k == "timestamp"]
    if not stamps:
        return (lambda rec: (get(rec),)) if single else get

    def pick(rec: list) -> tuple:
        vals = [get(rec)] if single else list(get(rec))
        for j in stamps:
            if vals[j] is not None:
                vals[j] = from_epoch_us(vals[j])
        return tuple(vals)

    return pick


@dataclass(frozen=True)
class Clock:
    """A read's clocks: the one asked for (`now=`, epoch µs) and the wall clock's."""

    asked_us: int | None
    wall_us: int

    def for_view(self, meta: ViewMeta, where: str) -> int:
        return read_clock_us(self.asked_us, meta.clock, meta.as_of_us, self.wall_us, where)


def _picks(req: ReadRequest, meta: ViewMeta) -> tuple[list[int], list[str], Callable]:
    cached = meta.picks.get(req.features)
    if cached is None:
        positions, kinds = _columns(req, meta.schema)
        if len(meta.picks) >= _PICKS_CACHED:
            meta.picks.clear()
        cached = meta.picks[req.features] = (positions, kinds, _picker(positions, kinds))
    return cached


def _result(req: ReadRequest, meta: ViewMeta, records: Sequence[Any], clock: Clock) -> ReadResult:
    """The answer at the read's clock: no record, not_found; a tombstone (no features) or a
    record older than the TTL, expired; else present."""
    positions, kinds, pick = _picks(req, meta)
    at = clock.for_view(meta, _where(req))
    oldest = window_start_us(at, meta.schema.ttl_seconds)
    tombstone = tombstone_length(meta.schema.created)
    n = len(positions)
    missing, present, expired = (None,) * n, ("present",) * n, ("expired",) * n
    not_found = ("not_found",) * n
    values, statuses, events = [], [], []
    for rec in decode_records(records):
        if rec is None:
            values.append(missing)
            statuses.append(not_found)
            events.append(None)
            continue
        events.append(from_epoch_us(rec[0]))
        if len(rec) <= tombstone or is_expired(rec[0], oldest):
            values.append(missing)
            statuses.append(expired)
        else:
            values.append(pick(rec))
            statuses.append(present)
    return ReadResult(
        view=req.view,
        version=layout.token_version(meta.vtoken),
        generation=meta.generation,
        features=tuple(req.features if req.features is not None else meta.schema.feature_names),
        types=tuple(kinds),
        values=tuple(values),
        statuses=tuple(statuses),
        event_at=tuple(events),
        clock=from_epoch_us(at),
    )
