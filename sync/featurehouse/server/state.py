"""The feature server's state without HTTP: settings, API keys, the Redis store, the view
catalog (refreshed from Redis), health, and the answers to feature requests.

Feature reads and health checks run on the event loop (`online.aio`); reading the catalog
(a few Redis calls and JSON per view) runs in a thread with the sync store.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from featurehouse.errors import OnlineStoreError, RedisUnavailable
from featurehouse.online import (
    InvalidKeyError,
    NotPublishedError,
    OnlineStore,
    ViewState,
    open_async_reader,
    open_store,
)
from featurehouse.online.redis import streams
from featurehouse.online.usage import LoggedRow, UsageRecorder
from featurehouse.project.settings import DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_URL
from featurehouse.server.catalog import Catalog, Plan, RequestError, bad_request
from featurehouse.server.metrics import ServerMetrics, Snapshot
from featurehouse.server.payloads import (
    Asked,
    Limits,
    check_keys,
    check_names,
    feast_body,
    json_body,
    native_answer,
)
from featurehouse.streaming.status import Status

log = logging.getLogger(__name__)

CONFIG_ENV = "FEATUREHOUSE_SERVER_CONFIG"
KEYS_ENV = "FEATUREHOUSE_API_KEYS"
_FORCED_REFRESH_GAP = 0.1  # unknown features re-read the catalog at most 10 times a second
_UNKNOWN = (
    "unknown_view", "unknown_version", "unknown_feature", "unknown_feature_service",
    "nothing_published",
)  # fmt: skip
_WARN_EVERY = 600.0  # seconds between two log lines about one deprecated version


@dataclass(frozen=True)
class ServerConfig:
    redis_url: str = DEFAULT_REDIS_URL
    prefix: str = DEFAULT_REDIS_PREFIX
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    max_entities: int = 1000
    max_features: int = 500
    max_body_bytes: int = 1 << 20
    refresh_seconds: float = 10.0
    redis_timeout: float = 1.0
    redis_busy_poll_us: int = 200  # aio_client: poll for a reply this long before sleeping
    usage: bool = True  # count reads per service and view version (usage history)
    usage_flush_seconds: float = 5.0
    push_dir: str | None = None  # where POST /push lands offline rows (None: online only)

    def to_env(self) -> dict[str, str]:
        """The config for worker processes (API keys travel in their own variable)."""
        settings = {k: v for k, v in asdict(self).items() if k != "api_keys"}
        return {CONFIG_ENV: json.dumps(settings), KEYS_ENV: ",".join(self.api_keys)}

    @classmethod
    def from_env(cls) -> ServerConfig:
        settings = json.loads(os.environ.get(CONFIG_ENV, "{}"))
        return cls(**settings, api_keys=parse_keys(os.environ.get(KEYS_ENV, "")))


def parse_keys(text: str) -> tuple[str, ...]:
    """API keys from a file's text or the environment: separated by newlines, commas or
    spaces; `#` starts a comment."""
    keys = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        keys += [k for k in line.replace(",", " ").split() if k]
    return tuple(dict.fromkeys(keys))


class Service:
    """The server's state: the Redis store (sync for the catalog, async for reads), the
    catalog of published views, metrics."""

    def __init__(self, config: ServerConfig, store: OnlineStore | None = None) -> None:
        self.config = config
        timeout = config.redis_timeout
        self.store = store or open_store(config.redis_url, config.prefix, timeout=timeout)
        self.reads = open_async_reader(
            config.redis_url, self.store.prefix, timeout, busy_poll_us=config.redis_busy_poll_us
        )
        self.limits = Limits(config.max_entities, config.max_features)
        self.catalog: Catalog | None = None
        self.redis_up: bool | None = None  # unknown until the first Redis call
        self.streams: tuple[Status, ...] = ()
        self.metrics = ServerMetrics(
            lambda: Snapshot(bool(self.redis_up), self.catalog, self.streams)
        )
        self._keys = tuple(hashlib.sha256(k.encode()).digest() for k in config.api_keys)
        self._refreshed_at = -1e9
        self.usage = UsageRecorder(config.usage_flush_seconds)
        self._warned: dict[str, float] = {}

    # --- security ---

    def authorized(self, headers: Any) -> bool:
        """Constant time in the key's content: every configured key is compared, always."""
        if not self._keys:
            return True
        given = headers.get("authorization", "")
        token = given[7:].strip() if given[:7].lower() == "bearer " else headers.get("x-api-key")
        if not token:
            return False
        digest = hashlib.sha256(token.encode()).digest()
        ok = False
        for key in self._keys:
            ok |= hmac.compare_digest(digest, key)
        return ok

    # --- Redis ---

    def failed(self, exc: OnlineStoreError) -> RequestError:
        unavailable = isinstance(exc, RedisUnavailable)
        self.metrics.redis_errors.labels("unavailable" if unavailable else "error").inc()
        if self.redis_up is not False or not unavailable:  # an outage is logged once
            log.warning("%s", exc)
        if unavailable:
            self.redis_up = False
        return RequestError(503, "redis_unavailable" if unavailable else "redis_error", str(exc))

    def refresh(self) -> Catalog:
        """Read the view metadata from Redis (raises RequestError 503 when it cannot)."""
        self._refreshed_at = time.monotonic()
        try:
            states = self.store.views()
        except OnlineStoreError as exc:
            self.metrics.refreshes.labels("failed").inc()
            raise self.failed(exc) from None
        self.redis_up = True
        try:
            services = self.store.services()
        except OnlineStoreError as exc:
            self.metrics.refreshes.labels("failed").inc()
            raise self._failed(exc) from None
        self.metrics.refreshes.labels("ok").inc()
        self.catalog = Catalog(tuple(states), tuple(services))
        self.streams = self._stream_statuses()
        return self.catalog

    def _stream_statuses(self) -> tuple[Status, ...]:
        """The stream consumers' reports (best effort: /metrics must not fail over them)."""
        client = getattr(self.store, "client", None)  # stream reports live in Redis
        if client is None:
            return ()
        try:
            found = streams.read_status(client, streams.status_index(self.store.prefix))
        except OnlineStoreError:
            return self.streams
        return tuple(Status(f.get("source", k), f) for k, f in sorted(found.items()))

    async def refreshed(self) -> Catalog:
        """`refresh` in a thread: the event loop keeps serving meanwhile."""
        return await asyncio.to_thread(self.refresh)

    async def current(self) -> Catalog:
        return self.catalog if self.catalog is not None else await self.refreshed()

    async def health(self) -> tuple[int, dict[str, Any]]:
        redis: dict[str, Any] = {"ok": True}
        try:
            await self.reads.ping()
            self.redis_up = True
            if self.catalog is None:
                await self.refreshed()
        except OnlineStoreError as exc:
            redis = {"ok": False, "detail": str(self.failed(exc))}
        except RequestError as exc:
            redis = {"ok": False, "detail": exc.message}
        catalog = self.catalog
        registry: dict[str, Any] = {"loaded": catalog is not None}
        if catalog is not None:
            registry |= {
                "views": len(catalog.states),
                "age_seconds": round(time.time() - catalog.loaded_at, 3),
            }
        ok = redis["ok"] and catalog is not None
        body = {"status": "ok" if ok else "unavailable", "redis": redis, "registry": registry}
        return (200 if ok else 503), body

    # --- features ---

    async def answer_with_warnings(
        self, asked: Asked, feast: bool
    ) -> tuple[bytes, tuple[str, ...]]:
        """Plan, check and read: the answer's JSON; a reference the catalog does not know (or
        Redis no longer has) re-reads the catalog once and tries again. Also: the deprecated
        view versions read (for a warning header)."""
        catalog = await self.current()
        for attempt in range(2):
            try:
                service = catalog.service(asked.service) if asked.service else None
                plan = catalog.plan(service.refs.refs if service else asked.features)
                check_keys(plan, asked)
                if feast:
                    check_names(plan, asked)
                results = await self.reads.read(plan.requests, asked.rows)
                break
            except RequestError as exc:
                if exc.code not in _UNKNOWN or attempt or not self._may_refresh():
                    raise
            except NotPublishedError as exc:
                if attempt or not self._may_refresh():
                    raise RequestError(404, "not_published", str(exc)) from None
            except InvalidKeyError as exc:
                raise bad_request("bad_entity_key", str(exc)) from None
            except OnlineStoreError as exc:  # e.g. a feature gone from a republished view
                if isinstance(exc, RedisUnavailable) or attempt or not self._may_refresh():
                    raise self.failed(exc) from None
            catalog = await self.refreshed()
        self.redis_up = True
        if self.config.usage:
            self._count(plan, asked, results, service)
        if plan.deprecated:
            self._warn(plan.deprecated, asked.service)
        if feast:
            return feast_body(plan, asked, results), plan.deprecated
        return json_body(native_answer(plan, asked, results)), plan.deprecated

    def _count(self, plan: Plan, asked: Asked, results: Any, service: Any) -> None:
        """Usage history (in memory; flushed by `flush_usage`) and the feature log sample."""
        self.usage.record(asked.service, plan.views, len(asked.rows))
        if service is not None and service.sample_rate:
            names = service.refs.columns()
            now = time.time()

            def rows(chosen: list[int]) -> list[LoggedRow]:
                return [
                    LoggedRow(
                        service.name,
                        now,
                        asked.rows[i],
                        {n: results[c.request].values[i][c.index]
                         for n, c in zip(names, plan.columns, strict=True)},
                        {n: results[c.request].statuses[i][c.index]
                         for n, c in zip(names, plan.columns, strict=True)},
                    )
                    for i in chosen
                ]  # fmt: skip

            self.usage.sample(service.sample_rate, len(asked.rows), rows)

    def _warn(self, deprecated: tuple[str, ...], service: str | None) -> None:
        now = time.monotonic()
        for message in deprecated:
            if now - self._warned.get(message, -_WARN_EVERY) >= _WARN_EVERY:
                self._warned[message] = now
                by = f" (feature service {service})" if service else ""
                log.warning("read of a deprecated version%s: %s", by, message)

    def flush_usage(self) -> None:
        """Add the counted usage to Redis (in a thread: the sync client)."""
        try:
            self.usage.flush(self.store)
        except OnlineStoreError as exc:
            log.warning("usage not recorded yet (kept for the next flush): %s", exc)

    def _may_refresh(self) -> bool:
        return time.monotonic() - self._refreshed_at >= _FORCED_REFRESH_GAP

    async def views(self) -> dict[str, Any]:
        return {"views": [_view_dict(s) for s in (await self.current()).states]}


def _view_dict(state: ViewState) -> dict[str, Any]:
    schema = state.schema
    return {
        "view": schema.view,
        "version": schema.version,
        "latest": state.is_latest,
        "entity": schema.entity,
        "keys": [
            {"name": n, "type": t} for n, t in zip(schema.keys, schema.key_types, strict=True)
        ],
        "features": [{"name": f.name, "type": f.type} for f in schema.features],
        "ttl_seconds": schema.ttl_seconds,
        "description": schema.description,
        "owner": schema.owner,
        "synced_at": state.synced_at,
        "as_of": state.as_of,
        "entities": state.rows,
    }
