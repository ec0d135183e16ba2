"""What the feature server knows, without HTTP: the catalog of published view versions (read
from Redis metadata, so no dbt project is needed) and the read plans of feature references.

A plan turns `["view:feature", "view.v1:feature", ...]` into one ReadRequest per view version
and one Column per reference; plans are cached per catalog snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from featurehouse.errors import FeaturehouseError
from featurehouse.online import ReadRequest, ServiceRecord, ViewState
from featurehouse.refs import BadReference, FeatureRef, format_view, parse_feature
from featurehouse.types import TYPES

_PLAN_CACHE_SIZE = 1024
_SHOWN = 12  # names listed in an error message at most


class RequestError(FeaturehouseError):
    """A request the server refuses: an HTTP status, a stable code and a one-line message."""

    def __init__(self, status: int, code: str, message: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.limit = limit


def bad_request(code: str, message: str) -> RequestError:
    return RequestError(400, code, message)


@dataclass(frozen=True)
class Column:
    """One requested feature: where its values are in the read results, how it is named."""

    ref: str  # as the client wrote it: "view.v1:feature"
    full_name: str  # "view__v1__feature" (the qualified name, Feast's full feature name)
    feature: str
    request: int  # index of its ReadRequest
    index: int  # index of the feature in that request
    type: str


@dataclass(frozen=True)
class Plan:
    requests: tuple[ReadRequest, ...]
    columns: tuple[Column, ...]
    keys: tuple[tuple[str, str, str], ...]  # (key column, key type, view) every view needs
    views: tuple[str, ...] = ()  # the view versions read (`view.vN`), for usage
    deprecated: tuple[str, ...] = ()  # of those, the ones past their deprecation date
    short_names: tuple[str, ...] = ()  # Feast column names: the features'
    full_names: tuple[str, ...] = ()  # with full_feature_names: `view[__vN]__feature`
    floats: tuple[bool, ...] = ()  # per column: holds doubles (NaN needs spelling in JSON)

    def __post_init__(self) -> None:
        object.__setattr__(self, "short_names", tuple(c.feature for c in self.columns))
        object.__setattr__(self, "full_names", tuple(c.full_name for c in self.columns))
        object.__setattr__(self, "floats", tuple(TYPES[c.type].floats for c in self.columns))

    def names(self, full: bool) -> tuple[str, ...]:
        return self.full_names if full else self.short_names


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "") or "none"


@dataclass
class Catalog:
    """An immutable snapshot of the published view versions (and a cache of read plans)."""

    states: tuple[ViewState, ...]
    services: tuple[ServiceRecord, ...] = ()
    loaded_at: float = field(default_factory=time.time)
    _plans: dict[tuple[str, ...], Plan] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.by_version = {(s.schema.view, s.schema.version): s for s in self.states}
        self.latest: dict[str, ViewState] = {}
        for state in sorted(self.states, key=lambda s: s.schema.version or 0):
            current = self.latest.get(state.schema.view)
            if state.is_latest or current is None or not current.is_latest:
                self.latest[state.schema.view] = state

    def version_of(self, view: str, version: int | None) -> ViewState:
        """The published state of `view.vN`, or the view's latest version when None."""
        state = self.latest.get(view) if version is None else self.by_version.get((view, version))
        if state is not None:
            return state
        if not self.states:  # the store's loss (a flush, a restart without its data), or none yet
            raise RequestError(
                503,
                "nothing_published",
                "the online store holds no published feature view: it lost its data (a "
                "restart without persistence, a flush) or nothing was synced yet; run "
                "`featurehouse sync`",
            )
        if view not in self.latest:
            raise bad_request(
                "unknown_view",
                f"unknown feature view {view!r}; published views: {_listing(sorted(self.latest))}",
            )
        versions = sorted(f"v{s.schema.version}" for s in self.states if s.schema.view == view)
        raise bad_request(
            "unknown_version",
            f"{view}.v{version} is not published; published versions of {view}: "
            f"{_listing(versions)}",
        )

    def service(self, name: str) -> ServiceRecord:
        """A published feature service (raises RequestError listing the known ones)."""
        for service in self.services:
            if service.name == name:
                return service
        names = sorted(s.name for s in self.services)
        raise bad_request(
            "unknown_feature_service",
            f"unknown feature service {name!r}; published services: {_listing(names)} "
            "(services are published by `featurehouse sync`)",
        )

    def plan(self, refs: Sequence[str]) -> Plan:
        """The read plan of feature references (cached; raises RequestError naming the ref)."""
        key = tuple(refs)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._make_plan(key)
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _make_plan(self, refs: tuple[str, ...]) -> Plan:
        wanted: dict[tuple[str, int | None], list[str]] = {}
        placed: list[tuple[str, tuple[str, int | None], str, str]] = []
        seen: set[str] = set()
        for ref in refs:
            if not isinstance(ref, str):
                raise bad_request("bad_feature_ref", f"feature reference {ref!r} is not a string")
            state, asked = self._resolve(ref)
            feature = asked.feature
            if ref in seen:
                raise bad_request("duplicate_feature", f"feature {ref} is asked for twice")
            seen.add(ref)
            at = (state.schema.view, state.schema.version)
            wanted.setdefault(at, []).append(feature)
            placed.append((ref, at, feature, asked.feast_column))
        order = list(wanted)
        requests = tuple(
            ReadRequest(view=v, version=n, features=tuple(wanted[(v, n)])) for v, n in order
        )
        columns = []
        for ref, at, feature, full in placed:
            schema = self.by_version[at].schema
            kind = next(f.type for f in schema.features if f.name == feature)
            r = order.index(at)
            columns.append(Column(ref, full, feature, r, requests[r].features.index(feature), kind))
        keys: dict[tuple[str, str], str] = {}
        for at in order:
            schema = self.by_version[at].schema
            for name, kind in zip(schema.keys, schema.key_types, strict=True):
                keys.setdefault((name, kind), format_view(*at))
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        deprecated = tuple(
            f"{format_view(*at)} is deprecated since {since}"
            for at in order
            if (since := _day(self.by_version[at].schema.extra.get("deprecation_date")))
            and since <= today
        )
        return Plan(
            requests,
            tuple(columns),
            tuple((n, k, v) for (n, k), v in keys.items()),
            views=tuple(format_view(*at) for at in order),
            deprecated=deprecated,
        )

    def _resolve(self, ref: str) -> tuple[ViewState, FeatureRef]:
        try:
            asked = parse_feature(ref)
        except BadReference as exc:
            raise bad_request("bad_feature_ref", str(exc)) from None
        state = self.version_of(asked.view.name, asked.view.version)
        feature = asked.feature
        if feature not in state.schema.feature_names:
            where = state.schema.ref
            raise bad_request(
                "unknown_feature",
                f"{where} has no feature {feature!r}; it serves "
                f"{_listing(state.schema.feature_names)}",
            )
        return state, asked


def _day(value: object) -> str | None:
    """A dbt deprecation_date (`2026-12-31`, `2026-12-31T00:00:00Z`, ...) as YYYY-MM-DD."""
    return str(value)[:10] if value else None
