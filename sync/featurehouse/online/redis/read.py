"""Online reads: every requested view of every entity in one pipelined round trip of plain
HGETs followed by the generation check, decoded with the schema stored in Redis (cached per
generation; the check says when the cache is stale).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from itertools import repeat
from typing import Any, NamedTuple

import redis

from featurehouse.errors import OnlineStoreError
from featurehouse.online.encoding import Codec, to_epoch_us
from featurehouse.online.keys import keyer
from featurehouse.online.records import NotPublishedError, ReadRequest, ReadResult, ViewSchema
from featurehouse.online.redis import layout
from featurehouse.online.redis.answer import Clock, answer, where
from featurehouse.online.redis.pipelined import Lane
from featurehouse.online.redis.resp import Command, hgets, pack

try:  # a read's keys and HGETs in C (setup.py builds the extension when a C compiler is there)
    from featurehouse.online.redis._speedups import hget_round as _hget_round
    from featurehouse.online.redis._speedups import key_texts as _key_texts
except ImportError:  # pragma: no cover - not built: the Python path alone, same bytes
    _hget_round = _key_texts = None

_MAX_ATTEMPTS = 4
_TEXT_FROM = 8  # entities from which the HGETs are written as RESP text (hiredis below)
_CHECKS_KEPT = 256  # plans whose check commands are kept
_BUCKET_KEYS_KEPT = 16_384  # buckets from which data keys are made per read, not kept


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
    codec: Codec  # how its records are encoded
    # (positions, kinds, picker) per requested feature tuple, built on first use
    picks: dict[tuple[str, ...] | None, tuple] = field(default_factory=dict, compare=False)

    @classmethod
    def from_flat(cls, flat: Sequence[bytes] | Mapping[bytes, bytes]) -> ViewMeta:
        """From HGETALL's reply: a flat list, or a dict (RESP3, redis-py's cluster pipeline)."""
        pairs = flat.items() if isinstance(flat, Mapping) else _pairs(flat)
        d = {_text(k): _text(v) for k, v in pairs}
        where = f"{d.get('view')} {d.get('version')}"
        codec = Codec.stored(d.get("encoding"), d.get("event_base"), where)
        return cls(
            vtoken=d["version"],
            generation=int(d["gen"]),
            schema=ViewSchema.from_json(d["schema"]),
            clock=d["clock"],
            as_of_us=to_epoch_us(datetime.fromisoformat(d["as_of"])),
            key_prefix=d["key_prefix"],
            buckets=int(d["buckets"]),
            tags=int(d["tags"]),
            codec=codec,
        )

    @cached_property
    def keyer(self) -> Callable[[Mapping[str, Any]], str]:
        """Entity row -> canonical key text (built once per generation)."""
        return keyer(self.schema)

    @cached_property
    def _slot_prefix(self) -> str:
        return f"{self.key_prefix}{{{self.schema.entity}:"

    @cached_property
    def _bucket_keys(self) -> list[str] | None:
        """Every bucket's data key, made once, when there are few enough buckets to keep."""
        if self.buckets > _BUCKET_KEYS_KEPT:
            return None
        return layout.all_data_keys(self.key_prefix, self.schema.entity, self.buckets, self.tags)

    def key_texts(self, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Each entity row's canonical key text (`keyer`); in C when the extension is built
        and the rows are dicts of one plain int or str key (the usual request)."""
        keys = self.schema.keys
        if _key_texts is not None and len(keys) == 1 and type(rows) is list:
            texts = _key_texts(rows, keys[0], self.schema.key_types[0] == "int64")
            if texts is not None:
                return texts
        return list(map(self.keyer, rows))

    def data_commands(self, texts: list[str]) -> tuple[list[str], bytes | None]:
        """`data_keys(texts)`, and `HGET <key> <text>` of each as RESP (None: for `pack` to
        write, the Python path's way with non-ASCII text or few entities); in C when the
        extension is built (`online/redis/_speedups.c`, the same keys and bytes)."""
        if _hget_round is not None:
            return _hget_round(texts, self._slot_prefix, self.buckets, self.tags, self._bucket_keys)
        keys = self.data_keys(texts)
        if len(texts) < _TEXT_FROM:
            return keys, None
        text = hgets(keys, texts)
        return keys, text.encode() if text.isascii() else None

    def data_keys(self, texts: Sequence[str]) -> list[str]:
        """The data key holding each entity whose canonical key is in `texts`."""
        buckets, crc, kept = self.buckets, zlib.crc32, self._bucket_keys
        if kept is not None:
            return [kept[crc(text) % buckets] for text in map(str.encode, texts)]
        prefix, tags = self._slot_prefix, self.tags
        found = [crc(text) % buckets for text in map(str.encode, texts)]
        return [f"{prefix}{b % tags}}}:{b}" for b in found]


def _pairs(flat: Sequence[bytes]) -> Iterator[tuple[bytes, bytes]]:
    return zip(flat[::2], flat[1::2], strict=True)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _unpublished(req: ReadRequest, root: str) -> NotPublishedError:
    return NotPublishedError(
        f"{where(req)} is not published in Redis (prefix {root!r}); run "
        f"`featurehouse sync --select {req.view}`"
    )


class HGets(Sequence[Command]):
    """`HGET key field` of each pair, the command tuples made only when asked for (a
    cluster reader sends them; one node gets the round's RESP text)."""

    def __init__(self, keys: list[str], fields: list[str]) -> None:
        self.keys, self.fields = keys, fields

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return list(zip(repeat("HGET"), self.keys[i], self.fields[i]))
        return ("HGET", self.keys[i], self.fields[i])

    def __iter__(self) -> Iterator[Command]:
        return zip(repeat("HGET"), self.keys, self.fields)


@dataclass(frozen=True)
class Round:
    """One round trip of plain read commands: `data` (an HGET per entity and view, in the
    data slots), then `check` (`latest` and each view's `gen`, in the control slot). A driver
    sends both in one pipeline on one connection, where Redis runs them in order, or (on a
    cluster) the check once every data reply is in: the check always runs after the data."""

    data: Sequence[Command]
    check: list[Command]
    current: list[Any] = field(default_factory=list)  # the check's replies when nothing moved
    packed_data: bytes | None = None  # `data` as RESP, when `_round` could write it directly
    packed_check: bytes | None = None  # `check` as RESP, when kept (`ReadSteps._check`)

    def packed(self) -> bytes:
        """`data` then `check` as RESP, for one write."""
        data, check = self.packed_data, self.packed_check
        return (pack(self.data) if data is None else data) + (
            pack(self.check) if check is None else check
        )

    @property
    def count(self) -> int:
        """How many commands (and replies) `packed` holds."""
        return len(self.data) + len(self.check)


class Check(NamedTuple):
    """A plan's check commands, their replies while nothing moves, their RESP, and the
    plan's metadata objects (kept alive with it)."""

    commands: list[Command]
    current: list[Any]
    packed: bytes
    plan: tuple[ViewMeta, ...]


class ReadSteps:
    """Reads without I/O, with a cache of view metadata validated by every read: `steps`
    yields each `Round` and is sent its (data replies, check replies). The sync `Reader`, the
    server's async reader (`online.aio`) and the cluster readers drive it, so all plan, check
    and decode alike.

    Why a read never mixes generations: the data keys are named from the cached metadata of
    one generation g, which was complete before `commit` made it current. The check runs
    after the data reads; when it still finds g current (and the version still latest), g's
    keys were never retired before it (generations only move forward and are never reused;
    a generation's keys are deleted only after the switch away from it), so every record
    read is g's. Otherwise the read is asked again with fresh metadata."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.cache: dict[tuple[str, str], ViewMeta] = {}
        self.latest: dict[str, str] = {}
        self.checks: dict[tuple, Check] = {}

    def steps(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        now: datetime | None,
    ) -> Generator[Round, tuple[list, list], list[ReadResult]]:
        """Yields each round trip, is sent its replies, returns the results: one round trip,
        plus at most two to fetch metadata on first use or after a switch. `now`: the clock to
        answer at (`clock.read_clock_us`; None: the store's)."""
        clock = Clock(None if now is None else to_epoch_us(now), time.time_ns() // 1000)
        for _ in range(_MAX_ATTEMPTS):
            plan = [self._guess(r) for r in requests]
            if any(meta is None for meta in plan):  # first use, or after a switch
                yield from self._refresh(requests)
                plan = [self._guess(r) for r in requests]
                if any(meta is None for meta in plan):
                    continue  # metadata replaced meanwhile
            trip = self._round(requests, plan, entity_rows)  # type: ignore[arg-type]
            data, check = yield trip
            if check == trip.current or self._current(requests, plan, check):  # type: ignore[arg-type]
                return self._decode(requests, plan, data, len(entity_rows), clock)  # type: ignore[arg-type]
        raise OnlineStoreError(
            f"metadata of {', '.join(map(where, requests))} kept changing during the read; retry"
        )

    def _guess(self, req: ReadRequest) -> ViewMeta | None:
        if req.version is not None:
            return self.cache.get((req.view, layout.version_token(req.version)))
        vtoken = self.latest.get(req.view)
        return self.cache.get((req.view, vtoken)) if vtoken else None

    def _refresh(self, requests: Sequence[ReadRequest]) -> Generator[Round, tuple, None]:
        """Fetch what the cache lacks: the latest version of views asked without one, then
        each version's metadata (HGETALL, one hash: consistent in itself)."""
        unknown = {r.view: r for r in requests if r.version is None and r.view not in self.latest}
        if unknown:
            _, (tokens,) = yield Round([], [("HMGET", layout.latest_key(self.root), *unknown)])
            for req, vtoken in zip(unknown.values(), tokens, strict=True):
                if vtoken is None:
                    raise _unpublished(req, self.root)
                self.latest[req.view] = _text(vtoken)
        missing = {}
        for req in requests:
            if self._guess(req) is None:
                asked = req.version
                vtoken = self.latest[req.view] if asked is None else layout.version_token(asked)
                missing[(req.view, vtoken)] = req
        if missing:
            keys = [layout.meta_key(self.root, v, layout.token_version(t)) for v, t in missing]
            _, metas = yield Round([], [("HGETALL", key) for key in keys])
            for (view, vtoken), req, flat in zip(missing, missing.values(), metas, strict=True):
                if not flat:
                    raise _unpublished(req, self.root)
                self.cache[(view, vtoken)] = ViewMeta.from_flat(flat)

    def _round(
        self,
        requests: Sequence[ReadRequest],
        plan: Sequence[ViewMeta],
        entity_rows: Sequence[Mapping[str, Any]],
    ) -> Round:
        keys: list[str] = []
        fields: list[str] = []
        texts: dict[tuple, list[str]] = {}
        written: list[bytes | None] = []
        for meta in plan:
            sig = _key_sig(meta)
            if sig not in texts:
                texts[sig] = meta.key_texts(entity_rows)
            view_keys, resp = meta.data_commands(texts[sig])
            keys += view_keys
            fields += texts[sig]
            written.append(resp)
        check = self._check(requests, plan)
        packed = None if None in written else b"".join(written)  # type: ignore[arg-type]
        return Round(HGets(keys, fields), check.commands, check.current, packed, check.packed)

    def _check(self, requests: Sequence[ReadRequest], plan: Sequence[ViewMeta]) -> Check:
        """The check of a plan: `latest` of the views asked without a version, then each
        view's `gen`. The same for every read of these views until one moves, so kept, by
        the ids of the plan's metadata objects (which the entry holds: no id is reused)."""
        pairs = list(zip(requests, plan, strict=True))
        key = tuple([(id(m), r.view, r.version is None) for r, m in pairs])
        kept = self.checks.get(key)
        if kept is not None:
            return kept
        latest = [(r.view, m.vtoken.encode()) for r, m in pairs if r.version is None]
        commands: list[Command] = []
        current: list[Any] = []
        if latest:
            commands.append(("HMGET", layout.latest_key(self.root), *(v for v, _ in latest)))
            current.append([t for _, t in latest])
        for req, meta in pairs:
            version = layout.token_version(meta.vtoken)
            commands.append(("HGET", layout.meta_key(self.root, req.view, version), "gen"))
            current.append(b"%d" % meta.generation)
        if len(self.checks) >= _CHECKS_KEPT:
            self.checks.clear()
        kept = self.checks[key] = Check(commands, current, pack(commands), tuple(plan))
        return kept

    def _current(
        self, requests: Sequence[ReadRequest], plan: Sequence[ViewMeta], check: Sequence[Any]
    ) -> bool:
        """Whether every view's version and generation are still the planned ones; what is
        not drops out of the cache (so the next attempt fetches it)."""
        replies = iter(check)
        tokens = iter(next(replies) if any(r.version is None for r in requests) else ())
        current = True
        for req, meta in zip(requests, plan, strict=True):
            gen = next(replies)
            if req.version is None:
                vtoken = next(tokens)
                if vtoken is None:
                    raise _unpublished(req, self.root)
                if _text(vtoken) != meta.vtoken:
                    self.latest[req.view] = _text(vtoken)
                    current = False
                    continue
            if gen is None:
                raise _unpublished(req, self.root)
            if int(gen) != meta.generation:
                self.cache.pop((req.view, meta.vtoken), None)
                current = False
        return current

    def _decode(
        self,
        requests: Sequence[ReadRequest],
        plan: Sequence[ViewMeta],
        data: Sequence[Any],
        n: int,
        clock: Clock,
    ) -> list[ReadResult]:
        return [
            answer(req, meta, data[i * n : (i + 1) * n], clock)
            for i, (req, meta) in enumerate(zip(requests, plan, strict=True))
        ]


class Reader(ReadSteps):
    """Reads on a redis-py client: each round trip one pipelined write and its replies, on
    a connection kept between reads (`Lane`)."""

    def __init__(self, client: redis.Redis, root: str) -> None:
        super().__init__(root)
        self.client = client
        self.lane = Lane(client)

    def read(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        now: datetime | None,
    ) -> list[ReadResult]:
        steps = self.steps(requests, entity_rows, now)
        trip = next(steps)
        while True:
            try:
                trip = steps.send(self.execute(trip))
            except StopIteration as done:
                return done.value

    def execute(self, trip: Round) -> tuple[list, list]:
        """The replies of a round trip (a cluster reader sends the check after the data)."""
        replies = self.lane.exchange(trip.packed(), trip.count)
        return replies[: len(trip.data)], replies[len(trip.data) :]


def _key_sig(meta: ViewMeta) -> tuple:
    return meta.schema.keys, meta.schema.key_types
