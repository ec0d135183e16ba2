"""The online store seam: what every store does (`OnlineStore`, `AsyncReader`) and the factory
that opens the implementation a URL names (`open_store`, `open_async_reader`).

Callers (sync, API, server, CLI) see only these; a new store (Valkey, Redis Cluster,
DynamoDB) is a subpackage beside `redis/` and a line in SCHEMES.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import pyarrow as pa

from featurehouse.errors import ConfigError, redact
from featurehouse.online.records import (
    PublishResult,
    ReadRequest,
    ReadResult,
    ServiceRecord,
    ViewSchema,
    ViewState,
)
from featurehouse.online.usage import LoggedRow, Tally, UsageCount

# URL scheme -> the module implementing it (its `open_store` and `open_async_reader`).
SCHEMES = {
    "redis": "featurehouse.online.redis",
    "rediss": "featurehouse.online.redis",
    "unix": "featurehouse.online.redis",
}


@dataclass(frozen=True)
class Location:
    """Where a view version lives in a store, as a person would look it up there."""

    view_id: str  # the store's name for the view version
    metadata: str  # its metadata (Redis: the meta hash key)
    data: str  # its data (Redis: a key pattern of the generation's buckets)


class OnlineStore(Protocol):
    """Feature values of published view versions: one instance per process."""

    prefix: str  # the namespace of this store's keys or tables

    @classmethod
    def from_url(cls, url: str, prefix: str = "fh") -> OnlineStore:
        """`open_store(url, prefix)`; `OnlineStore.from_url` was the Redis class's, and works on."""
        return open_store(url, prefix)

    def publish(
        self,
        schema: ViewSchema,
        batches: Iterable[pa.RecordBatch],
        *,
        as_of: datetime,
        clock: Literal["wall", "as_of"],
        mode: Literal["full", "incremental"],
        watermark: datetime | None,
        expected_rows: int | None = None,
        progress: Callable[[int], None] | None = None,
        stats: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        is_latest: bool = False,
        chunk_rows: int | None = None,
    ) -> PublishResult:
        """Full: a new generation, switched to atomically; incremental: merged in, the
        greater (event_at, created_at) winning per entity (the point-in-time rule)."""
        ...

    def read(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> list[ReadResult]: ...

    def read_table(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> pa.Table: ...

    def views(self) -> list[ViewState]: ...
    def describe(self, view: str, version: int | None) -> ViewState: ...
    def entity_keys(self, view: str, version: int | None) -> Iterator[list[str]]: ...
    def delete(self, view: str, version: int | None) -> int: ...
    def cleanup(self) -> int: ...
    def locate(
        self, view: str, version: int | None, entity: str, generation: int | None
    ) -> Location: ...

    # feature services (written by sync) and usage history (counted by readers)
    def publish_services(self, services: Sequence[ServiceRecord]) -> None: ...
    def services(self) -> list[ServiceRecord]: ...
    def add_usage(
        self, tallies: Mapping[tuple[str, str], Tally], rows: Sequence[LoggedRow]
    ) -> None: ...
    def usage(self) -> list[UsageCount]: ...
    def logged_rows(self, count: int) -> list[tuple[str, LoggedRow]]: ...
    def drop_logged(self, ids: Sequence[str]) -> None: ...


class AsyncReader(Protocol):
    """`OnlineStore.read` on an event loop (the feature server's reads)."""

    async def read(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> list[ReadResult]: ...

    async def ping(self) -> None: ...
    def close(self) -> None: ...


def open_store(url: str, prefix: str, *, timeout: float | None = None) -> OnlineStore:
    """The store `url` names; with `timeout`, every call gives up after that many seconds
    (long-running readers such as the feature server)."""
    return _implementation(url).open_store(url, prefix, timeout=timeout)


def open_async_reader(
    url: str, prefix: str, timeout: float, *, busy_poll_us: int = 0
) -> AsyncReader:
    """An event-loop reader of the store `url` names; `busy_poll_us`: how long it may poll
    for a reply before the loop waits for it (0: never; where the store supports it)."""
    return _implementation(url).open_async_reader(url, prefix, timeout, busy_poll_us=busy_poll_us)


def _implementation(url: str) -> Any:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    module = SCHEMES.get(scheme)
    if module is None:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise ConfigError(f"online store URL {redact(url)}: unknown scheme; use one of {known}")
    return importlib.import_module(module)
