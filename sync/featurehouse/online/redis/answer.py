"""A read's answer from its records: the features asked (positions cached per generation),
the clock it answers at, and each entity present, expired or not found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from featurehouse.errors import OnlineStoreError
from featurehouse.online.clock import is_expired, read_clock_us, window_start_us
from featurehouse.online.encoding import (
    Codec,
    from_epoch_us,
    from_epoch_us_many,
    tombstone_length,
)
from featurehouse.online.records import ReadRequest, ReadResult, ViewSchema
from featurehouse.online.redis import layout


class ViewMeta(Protocol):
    """What an answer needs of a generation's metadata (read.ViewMeta)."""

    @property
    def vtoken(self) -> str: ...
    @property
    def generation(self) -> int: ...
    @property
    def schema(self) -> ViewSchema: ...
    @property
    def clock(self) -> str: ...
    @property
    def as_of_us(self) -> int: ...
    @property
    def picks(self) -> dict[tuple[str, ...] | None, tuple]: ...
    @property
    def codec(self) -> Codec: ...


try:  # the C decoder of the usual answer (setup.py builds it when a C compiler is there)
    from featurehouse.online.redis._speedups import present as _present
except ImportError:  # pragma: no cover - not built: the Python path alone, same answers
    _present = None

_PICKS_CACHED = 256  # feature selections remembered per view generation
_FIRST = itemgetter(0)


def where(req: ReadRequest) -> str:
    return f"{req.view} {'latest' if req.version is None else f'v{req.version}'}"


def _columns(req: ReadRequest, schema: ViewSchema) -> tuple[list[int], list[str]]:
    index = {f.name: (i + 1, f.type) for i, f in enumerate(schema.features)}
    names = req.features if req.features is not None else schema.feature_names
    unknown = [n for n in names if n not in index]
    if unknown:
        raise OnlineStoreError(
            f"{where(req)} has no feature {', '.join(unknown)}; it serves "
            f"{', '.join(schema.feature_names)}"
        )
    return [index[n][0] for n in names], [index[n][1] for n in names]


def _picker(positions: list[int], kinds: list[str]) -> Callable[[list], tuple]:
    """Record -> feature values: JSON and msgpack already give int, float, str, bool, list,
    None; only timestamps (epoch µs) need converting."""
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

    def for_view(self, meta: ViewMeta, req: ReadRequest) -> int:
        """The clock `req` is answered at (the view named only when a `now=` can fail)."""
        named = "" if self.asked_us is None else where(req)
        return read_clock_us(self.asked_us, meta.clock, meta.as_of_us, self.wall_us, named)


class Picks(NamedTuple):
    """What an answer of one feature selection of one generation reuses (cached)."""

    n: int  # features asked
    features: tuple[str, ...]
    types: tuple[str, ...]
    pick: Callable[[list], tuple]
    version: int | None
    tombstone: int  # elements of a tombstone record
    positions: tuple[int, ...] | None  # the values' record elements (None: a timestamp among them)


def _picks(req: ReadRequest, meta: ViewMeta) -> Picks:
    cached = meta.picks.get(req.features)
    if cached is None:
        positions, kinds = _columns(req, meta.schema)
        if len(meta.picks) >= _PICKS_CACHED:
            meta.picks.clear()
        cached = meta.picks[req.features] = Picks(
            len(positions),
            tuple(req.features if req.features is not None else meta.schema.feature_names),
            tuple(kinds),
            _picker(positions, kinds),
            layout.token_version(meta.vtoken),
            tombstone_length(meta.schema.created),
            None if "timestamp" in kinds else tuple(positions),
        )
    return cached


def answer(req: ReadRequest, meta: ViewMeta, records: Sequence[Any], clock: Clock) -> ReadResult:
    """The answer at the read's clock: no record, not_found; a tombstone (no features) or a
    record older than the TTL, expired; else present."""
    picks = _picks(req, meta)
    at = clock.for_view(meta, req)
    oldest = window_start_us(at, meta.schema.ttl_seconds)
    n, tombstone = picks.n, picks.tombstone
    usual = _usual(records, meta.codec, picks, oldest)
    if usual is not None:
        values, events = usual
        statuses = [("present",) * n] * len(values)
    else:
        recs = meta.codec.decode(records)
        values, statuses, events = _all_present(recs, tombstone, oldest, picks.pick, n) or _each(
            recs, tombstone, oldest, picks.pick, n
        )
    return ReadResult(
        view=req.view,
        version=picks.version,
        generation=meta.generation,
        features=picks.features,
        types=picks.types,
        values=tuple(values),
        statuses=tuple(statuses),
        event_at=tuple(events),
        clock=from_epoch_us(at),
    )


Columns = tuple[list[tuple], list[tuple[str, ...]], list[datetime | None]]


def _usual(
    records: Sequence[Any], codec: Codec, picks: Picks, oldest: int | None
) -> tuple[list[tuple], list[datetime]] | None:
    """`_all_present`'s answer straight from msgpack records, by the C extension when it is
    built (`online/redis/_speedups.c`: one pass, no Python per record); None when it is not, or
    when the answer is not the usual one (the Python path then answers, or fails, as ever)."""
    if _present is None or picks.positions is None or not codec.binary:
        return None
    if type(records) is not list:
        records = list(records)
    return _present(records, codec.base_us, picks.positions, picks.tombstone, oldest)


def _all_present(
    recs: list[Any], tombstone: int, oldest: int | None, pick: Callable, n: int
) -> Columns | None:
    """The usual answer, every record found, not a tombstone and within the TTL, in C loops
    (no Python per record); None when some record is not so (`_each` answers)."""
    if not recs or None in recs or min(map(len, recs)) <= tombstone:
        return None
    stamps = list(map(_FIRST, recs))
    if is_expired(min(stamps), oldest):
        return None
    return list(map(pick, recs)), [("present",) * n] * len(recs), from_epoch_us_many(stamps)


def _each(recs: list[Any], tombstone: int, oldest: int | None, pick: Callable, n: int) -> Columns:
    """Record by record: not found, expired (a tombstone, or older than the TTL) or present."""
    missing, present, expired = (None,) * n, ("present",) * n, ("expired",) * n
    not_found = ("not_found",) * n
    values: list[tuple] = []
    statuses: list[tuple[str, ...]] = []
    events: list[datetime | None] = []
    for rec in recs:
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
    return values, statuses, events
