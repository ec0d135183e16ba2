"""`RedisStore`: the online store in Redis (publish, read, housekeeping), an `OnlineStore`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa
import redis

from featurehouse.errors import ConfigError
from featurehouse.online.encoding import ENCODING
from featurehouse.online.records import (
    PublishResult,
    ReadRequest,
    ReadResult,
    ServiceRecord,
    ViewSchema,
    ViewState,
    to_table,
)
from featurehouse.online.redis import admin, cluster, layout, usage
from featurehouse.online.redis.connection import endpoint
from featurehouse.online.redis.merge import Merger
from featurehouse.online.redis.publish import Options, Publisher
from featurehouse.online.redis.read import Reader
from featurehouse.online.redis.server import ServerInfo, probe
from featurehouse.online.redis.wire import translated
from featurehouse.online.store import Location
from featurehouse.online.usage import LoggedRow, Tally, UsageCount


class RedisStore:
    """Feature values in Redis: one instance (and one client) per process."""

    encoding: str = ENCODING  # what a full publish writes (tests: JSON, as before msgpack-v1)

    def __init__(self, client: redis.Redis, prefix: str = "fh") -> None:
        if not prefix or any(c in prefix for c in "{} \t\r\n"):
            raise ConfigError(f"online store prefix {prefix!r} must be non-empty, no braces/spaces")
        self.client = client
        self.prefix = prefix
        self._active: set[int] = set()  # generations this process is writing
        self._reader = (cluster.ClusterReader if self.cluster else Reader)(client, prefix)

    @property
    def cluster(self) -> bool:
        """Whether the store is a Redis Cluster (detected when the client was opened)."""
        return cluster.is_cluster(self.client)

    def server(self) -> ServerInfo:
        """What the server is (HELLO): Redis or Valkey, version, cluster, per-field expiry."""
        with translated(self.client, "asking the server what it is"):
            if self.cluster:
                return probe(self.client.get_redis_connection(self.client.get_default_node()))
            return probe(self.client)

    @classmethod
    def from_url(cls, url: str, prefix: str = "fh", **client_options: Any) -> RedisStore:
        """A store on the Redis `url` names (TLS and credentials: `connection.endpoint`); a
        cluster client when that server is a cluster node."""
        return cls(cluster.open_client(endpoint(url), **client_options), prefix)

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
        """Publish a view version; `progress` is called with the rows of each chunk sent.

        Full: a new generation, switched to atomically at the end; if anything fails, readers
        keep the previous one (a killed process's leftovers go at the next publish/cleanup).
        Incremental: merged into the current generation; the greater (event_at, created_at)
        wins per entity, as in the point-in-time macro (a null created_at loses).
        `is_latest`: this version becomes the view's latest once the publish completes.
        `stats` (stored in the metadata) may be a function, called once the rows are sent.
        """
        opts = Options(
            as_of,
            clock,
            mode,
            watermark,
            expected_rows,
            progress,
            stats or {},
            is_latest,
            *([chunk_rows] if chunk_rows else []),
        )
        with translated(self.client, f"publishing {schema.view} v{schema.version}"):
            admin.cleanup(self.client, self.prefix, self._active)
        kind = Publisher if mode == "full" else Merger
        publisher = kind(self.client, self.prefix, self._active, self.encoding)
        return publisher.run(schema, batches, opts)

    def read(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> list[ReadResult]:
        """Features of several views for several entities: one pipelined round trip of plain
        HGETs and the generation check (`read.Reader`), more only to fetch metadata."""
        with translated(self.client, "reading features"):
            return self._reader.read(requests, entity_rows, now)

    def read_table(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> pa.Table:
        """`read` as an Arrow table: entity columns, features, `<view>__event_at/__status`."""
        return to_table(requests, self.read(requests, entity_rows, now=now), entity_rows)

    def views(self) -> list[ViewState]:
        with translated(self.client, "listing views"):
            return admin.views(self.client, self.prefix)

    def describe(self, view: str, version: int | None) -> ViewState:
        """A view version's state; version None: the unversioned view, else the latest."""
        with translated(self.client, f"describing {view}"):
            return admin.describe(self.client, self.prefix, view, version)

    def entity_keys(self, view: str, version: int | None) -> Iterator[list[str]]:
        """Every entity key a view version serves, as canonical key text, in chunks."""
        with translated(self.client, f"listing entities of {view} v{version}"):
            yield from admin.entity_keys(self.client, self.prefix, view, version)

    def delete(self, view: str, version: int | None) -> int:
        """Unpublish a view version and delete its keys by name; returns keys deleted."""
        with translated(self.client, f"deleting {view} v{version}"):
            return admin.delete(self.client, self.prefix, view, version)

    def locate(
        self, view: str, version: int | None, entity: str, generation: int | None
    ) -> Location:
        """The view version's meta key and a pattern of its data keys (`<generation>` when
        nothing is published)."""
        gen = "<generation>" if generation is None else str(generation)
        data = layout.data_prefix(self.prefix, view, version, 0).replace(":g0:", f":g{gen}:")
        return Location(
            view_id=layout.view_id(view, version),
            metadata=layout.meta_key(self.prefix, view, version),
            data=f"{data}{{{entity}:*}}:*",
        )

    def cleanup(self) -> int:
        """Remove generations left by dead or failed syncs; returns how many."""
        with translated(self.client, "cleaning up"):
            return admin.cleanup(self.client, self.prefix, self._active)

    # --- feature services and usage history (online/redis/usage.py) ---

    def publish_services(self, services: Sequence[ServiceRecord]) -> None:
        """Replace the feature services readers serve by name."""
        with translated(self.client, "publishing feature services"):
            usage.publish_services(self.client, self.prefix, services)

    def services(self) -> list[ServiceRecord]:
        with translated(self.client, "listing feature services"):
            return usage.services(self.client, self.prefix)

    def add_usage(
        self, tallies: Mapping[tuple[str, str], Tally], rows: Sequence[LoggedRow]
    ) -> None:
        """Add reads, entities and last-read times (and logged rows) in one pipeline."""
        with translated(self.client, "recording feature usage"):
            usage.add_usage(self.client, self.prefix, tallies, rows)

    def usage(self) -> list[UsageCount]:
        with translated(self.client, "reading feature usage"):
            return usage.usage(self.client, self.prefix)

    def logged_rows(self, count: int) -> list[tuple[str, LoggedRow]]:
        with translated(self.client, "reading logged feature rows"):
            return usage.logged_rows(self.client, self.prefix, count)

    def drop_logged(self, ids: Sequence[str]) -> None:
        with translated(self.client, "trimming logged feature rows"):
            usage.drop_logged(self.client, self.prefix, ids)
