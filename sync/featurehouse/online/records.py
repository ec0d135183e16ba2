"""The online store's records: what a view version serves, what a read asks and returns.

`ViewSchema` is stored in Redis as JSON beside the data, so a reader needs nothing but Redis.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

from featurehouse.errors import OnlineStoreError
from featurehouse.online.encoding import CREATED_AT
from featurehouse.refs import ServiceRefs, format_view, parse_feature, qualified
from featurehouse.types import FEATURE_TYPES, KEY_TYPES, arrow_type

STATUSES = ("present", "not_found", "expired")


class NotPublishedError(OnlineStoreError):
    """A view version was asked for that Redis does not hold."""


class InvalidKeyError(OnlineStoreError):
    """An entity key value cannot be coerced to the view's key type."""


@dataclass(frozen=True)
class FeatureSpec:
    """One served column."""

    name: str
    type: str  # one of types.FEATURE_TYPES


@dataclass(frozen=True)
class ViewSchema:
    """What a reader needs to decode a view version; stored in Redis with every generation."""

    view: str
    version: int | None
    entity: str
    keys: tuple[str, ...]
    key_types: tuple[str, ...]
    features: tuple[FeatureSpec, ...]
    ttl_seconds: int | None
    description: str = ""
    owner: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    created: bool = False  # records end with the created timestamp (ties on event_at)

    def __post_init__(self) -> None:
        where = f"view {self.view} v{self.version}"
        if not self.keys or len(self.keys) != len(self.key_types):
            raise OnlineStoreError(f"{where}: keys and key_types must be non-empty, same length")
        for name, kind in zip(self.keys, self.key_types, strict=True):
            if kind not in KEY_TYPES:
                raise OnlineStoreError(f"{where}: key {name} has type {kind!r}, not {KEY_TYPES}")
        for spec in self.features:
            if spec.type not in FEATURE_TYPES:
                raise OnlineStoreError(
                    f"{where}: feature {spec.name} has type {spec.type!r}, not {FEATURE_TYPES}"
                )
        names = [*self.keys, *(f.name for f in self.features)]
        if len(set(names)) != len(names) or "__event_at" in names:
            raise OnlineStoreError(f"{where}: duplicate or reserved column names in {names}")
        if self.ttl_seconds is not None and self.ttl_seconds <= 0:
            raise OnlineStoreError(f"{where}: ttl_seconds must be positive or None")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def record_columns(self) -> list[str]:
        """The batch columns a record is built from besides keys and event_at: the features,
        then the created timestamp when the view has one (`online.encoding`)."""
        return [*self.feature_names, *([CREATED_AT] if self.created else [])]

    @property
    def ref(self) -> str:
        """`view` or `view.vN`."""
        return format_view(self.view, self.version)

    def to_json(self) -> str:
        return json.dumps(
            {
                "view": self.view,
                "version": self.version,
                "entity": self.entity,
                "keys": list(self.keys),
                "key_types": list(self.key_types),
                "features": [[f.name, f.type] for f in self.features],
                "ttl_seconds": self.ttl_seconds,
                "description": self.description,
                "owner": self.owner,
                "extra": dict(self.extra),
                "created": self.created,
            },
            separators=(",", ":"),
            ensure_ascii=False,
            sort_keys=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ViewSchema:
        d = json.loads(text)
        return cls(
            view=d["view"],
            version=d["version"],
            entity=d["entity"],
            keys=tuple(d["keys"]),
            key_types=tuple(d["key_types"]),
            features=tuple(FeatureSpec(n, t) for n, t in d["features"]),
            ttl_seconds=d["ttl_seconds"],
            description=d.get("description", ""),
            owner=d.get("owner", ""),
            extra=d.get("extra", {}),
            created=d.get("created", False),
        )


@dataclass(frozen=True)
class ReadRequest:
    """Features of one view version; version None = the view's latest published version."""

    view: str
    version: int | None = None
    features: tuple[str, ...] | None = None  # None = all features
    prefix: str = ""  # column prefix in `read_table`


@dataclass(frozen=True)
class ReadResult:
    """One request's answer for every entity row, in the order given.

    `values[i][j]` is feature `features[j]` of entity row i; `statuses[i][j]` is its status
    at the read's clock (`online.clock`): "present" (value served, may be None when the
    feature itself is null), "expired" (its latest row is older than the view's TTL; value
    None) or "not_found" (no row). `event_at[i]` is that row's event timestamp (naive UTC),
    None when not found. `clock` is the time the answer is for (naive UTC).
    """

    view: str
    version: int | None
    generation: int | None
    features: tuple[str, ...]
    types: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    statuses: tuple[tuple[str, ...], ...]
    event_at: tuple[datetime | None, ...]
    clock: datetime | None = None

    def rows(self) -> list[dict[str, Any]]:
        """Each entity row as {feature: value}."""
        return [dict(zip(self.features, vals, strict=True)) for vals in self.values]


@dataclass(frozen=True)
class PublishResult:
    view: str
    version: int | None
    mode: str
    generation: int
    previous_generation: int | None
    rows: int  # full: distinct entities served; incremental: records written
    rows_received: int
    new_entities: int
    skipped_older: int  # incremental: rows not written because Redis held a newer one
    dropped_null_keys: int
    buckets: int
    bytes_sent: int
    max_record_bytes: int
    seconds: float
    is_latest: bool
    warnings: tuple[str, ...] = ()
    expired: int = 0  # of the rows written (full) or sent (incremental): tombstones


@dataclass(frozen=True)
class ViewState:
    """A published view version as Redis describes it."""

    schema: ViewSchema
    generation: int
    synced_at: datetime
    as_of: datetime
    clock: str
    watermark: datetime | None
    rows: int
    buckets: int
    is_latest: bool
    mode: str
    max_record_bytes: int
    stats: Mapping[str, Any]
    syncing: tuple[int, ...] = ()  # generations being written right now (or left by dead syncs)


@dataclass(frozen=True)
class ServiceRecord:
    """A feature service as the store keeps it beside the views (`featurehouse sync` writes
    it), so readers without the dbt project serve it by name."""

    refs: ServiceRefs
    description: str = ""
    owner: str = ""
    sample_rate: float | None = None  # feature logging: the share of served rows logged
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.refs.name

    def to_json(self) -> str:
        body = {
            "name": self.name,
            "features": self.refs.refs,
            "description": self.description,
            "owner": self.owner,
            "sample_rate": self.sample_rate,
            "extra": dict(self.extra),
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ServiceRecord:
        d = json.loads(text)
        refs = ServiceRefs(d["name"], tuple(parse_feature(f) for f in d["features"]))
        return cls(refs, d.get("description", ""), d.get("owner", ""), d.get("sample_rate"),
                   d.get("extra", {}))  # fmt: skip


def to_table(
    requests: Sequence[ReadRequest],
    results: Sequence[ReadResult],
    entity_rows: Sequence[Mapping[str, Any]],
) -> pa.Table:
    """Entity rows as given, then per request `<prefix><feature>` columns and
    `<prefix><view>[__vN]__event_at` / `...__status` (status of the request's features),
    qualified as `refs.qualified` names them."""
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
        view = req.prefix + qualified(req.view, req.version, "")
        _put(columns, f"{view}event_at", pa.array(res.event_at, pa.timestamp("us")))
        _put(
            columns,
            f"{view}status",
            pa.array([s[0] if s else "not_found" for s in res.statuses], pa.string()),
        )
    return pa.table(columns)


def _put(columns: dict[str, pa.Array], name: str, values: pa.Array) -> None:
    if name in columns:
        raise OnlineStoreError(
            f"column {name} would appear twice in the result table; give the requests a prefix"
        )
    columns[name] = values
