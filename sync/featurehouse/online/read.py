"""Online reads: every requested view of every entity in one FCALL, decoded with the schema
stored in Redis (cached per generation; the function says when the cache is stale).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import redis

from featurehouse.errors import OnlineStoreError
from featurehouse.online import functions, layout
from featurehouse.online.encoding import (
    DECODERS,
    arrow_type,
    decode_record,
    from_epoch_us,
    to_epoch_us,
)
from featurehouse.online.schema import NotPublishedError, ReadRequest, ReadResult, ViewSchema

_MAX_ATTEMPTS = 4


@dataclass(frozen=True)
class ViewMeta:
    """The decoding context of one generation of a view version."""

    vtoken: str
    generation: int
    schema: ViewSchema
    clock: str
    as_of_us: int

    @classmethod
    def from_flat(cls, flat: Sequence[bytes]) -> ViewMeta:
        d = {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}
        as_of = datetime.fromisoformat(d["as_of"].decode()).replace(tzinfo=None)
        return cls(
            vtoken=d["version"].decode(),
            generation=int(d["gen"]),
            schema=ViewSchema.from_json(d["schema"]),
            clock=d["clock"].decode(),
            as_of_us=to_epoch_us(as_of),
        )

    @property
    def known(self) -> str:
        return f"{self.vtoken}:{self.generation}"


def _where(req: ReadRequest) -> str:
    return f"{req.view} {'latest' if req.version is None else f'v{req.version}'}"


class Reader:
    """Reads with a per-store cache of view metadata, validated on every call."""

    def __init__(self, client: redis.Redis, root: str) -> None:
        self.client = client
        self.root = root
        self.cache: dict[tuple[str, str], ViewMeta] = {}
        self.latest: dict[str, str] = {}

    def read(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        now: datetime | None,
    ) -> list[ReadResult]:
        now_us = to_epoch_us(now) if now is not None else time.time_ns() // 1000
        for _ in range(_MAX_ATTEMPTS):
            plan = [self._guess(r) for r in requests]
            args = self._args(requests, plan, entity_rows)
            out = functions.fcall(self.client, "read", [layout.latest_key(self.root)], args)
            results = self._decode(requests, plan, out, now_us)
            if results is not None:
                return results
        raise OnlineStoreError(
            f"metadata of {', '.join(map(_where, requests))} kept changing during the read; retry"
        )

    def _guess(self, req: ReadRequest) -> ViewMeta | None:
        vtoken = layout.version_token(req.version) if req.version is not None else None
        vtoken = vtoken or self.latest.get(req.view)
        return self.cache.get((req.view, vtoken)) if vtoken else None

    def _args(
        self,
        requests: Sequence[ReadRequest],
        plan: Sequence[ViewMeta | None],
        entity_rows: Sequence[Mapping[str, Any]],
    ) -> list[Any]:
        args: list[Any] = [layout.ctl_prefix(self.root), len(requests)]
        keyed: dict[tuple, list[Any]] = {}
        for req, meta in zip(requests, plan, strict=True):
            asked = "" if req.version is None else layout.version_token(req.version)
            if meta is None:
                args += [req.view, asked, "", 0]
                continue
            sig = (meta.schema.keys, meta.schema.key_types)
            if sig not in keyed:
                keyed[sig] = _hash_fields(meta.schema, entity_rows)
            args += [req.view, asked, meta.known, len(entity_rows), *keyed[sig]]
        return args

    def _decode(
        self,
        requests: Sequence[ReadRequest],
        plan: Sequence[ViewMeta | None],
        out: Sequence[Any],
        now_us: int,
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
                if meta is None or _key_sig(meta) != _key_sig(fresh):
                    complete = False
                    continue
                meta = fresh
            results.append(_result(req, meta, records, now_us))
        return results if complete else None


def _key_sig(meta: ViewMeta) -> tuple:
    return meta.schema.keys, meta.schema.key_types


def _hash_fields(schema: ViewSchema, entity_rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    args: list[Any] = []
    for row in entity_rows:
        text = layout.canonical_key(schema, row)
        args += [zlib.crc32(text.encode()), text]
    return args


def _columns(req: ReadRequest, schema: ViewSchema) -> list[tuple[str, int, Callable, str]]:
    index = {f.name: (i + 1, f.type) for i, f in enumerate(schema.features)}
    names = req.features if req.features is not None else schema.feature_names
    unknown = [n for n in names if n not in index]
    if unknown:
        raise OnlineStoreError(
            f"{_where(req)} has no feature {', '.join(unknown)}; it serves "
            f"{', '.join(schema.feature_names)}"
        )
    return [(n, index[n][0], DECODERS[index[n][1]], index[n][1]) for n in names]


def _result(req: ReadRequest, meta: ViewMeta, records: Sequence[Any], now_us: int) -> ReadResult:
    cols = _columns(req, meta.schema)
    ttl = meta.schema.ttl_seconds
    ref = meta.as_of_us if meta.clock == "as_of" else now_us
    oldest = None if ttl is None else ref - ttl * 1_000_000
    n = len(cols)
    missing, present, expired = (None,) * n, ("present",) * n, ("expired",) * n
    values, statuses, events = [], [], []
    for raw in records:
        if raw is None:
            values.append(missing)
            statuses.append(("not_found",) * n)
            events.append(None)
            continue
        rec = decode_record(raw)
        events.append(from_epoch_us(rec[0]))
        if oldest is not None and rec[0] < oldest:
            values.append(missing)
            statuses.append(expired)
        else:
            values.append(tuple(dec(rec[i]) for _, i, dec, _ in cols))
            statuses.append(present)
    return ReadResult(
        view=req.view,
        version=layout.token_version(meta.vtoken),
        generation=meta.generation,
        features=tuple(c[0] for c in cols),
        types=tuple(c[3] for c in cols),
        values=tuple(values),
        statuses=tuple(statuses),
        event_at=tuple(events),
    )


def to_table(
    requests: Sequence[ReadRequest],
    results: Sequence[ReadResult],
    entity_rows: Sequence[Mapping[str, Any]],
) -> pa.Table:
    """Entity rows as given, then per request `<prefix><feature>` columns and
    `<prefix><view>__event_at` / `<prefix><view>__status` (status of the request's features)."""
    columns: dict[str, pa.Array] = {}
    for name in dict.fromkeys(k for row in entity_rows for k in row):
        columns[name] = pa.array([row.get(name) for row in entity_rows])
    for req, res in zip(requests, results, strict=True):
        for j, (feature, kind) in enumerate(zip(res.features, res.types, strict=True)):
            _put(
                columns,
                req.prefix + feature,
                pa.array([v[j] for v in res.values], arrow_type(kind)),
            )
        _put(
            columns, f"{req.prefix}{req.view}__event_at", pa.array(res.event_at, pa.timestamp("us"))
        )
        _put(
            columns,
            f"{req.prefix}{req.view}__status",
            pa.array([s[0] if s else "not_found" for s in res.statuses], pa.string()),
        )
    return pa.table(columns)


def _put(columns: dict[str, pa.Array], name: str, values: pa.Array) -> None:
    if name in columns:
        raise OnlineStoreError(
            f"column {name} would appear twice in the result table; give the requests a prefix"
        )
    columns[name] = values
