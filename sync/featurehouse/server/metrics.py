"""The feature server's Prometheus metrics (the only prometheus_client user).

Counters and histograms are recorded per request; gauges (Redis up, registry, per-view sync
state and staleness) are computed at scrape time from the server's catalog. With several
workers, PROMETHEUS_MULTIPROC_DIR is set and counters are summed over the worker processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from featurehouse.server.catalog import Catalog
from featurehouse.server.stream_metrics import StreamGauges
from featurehouse.streaming.status import Status

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0,
    2.5,
)  # fmt: skip
ENTITY_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


@dataclass(frozen=True)
class Snapshot:
    """What the gauges report: the server's view of Redis and of the catalog."""

    redis_up: bool
    catalog: Catalog | None
    streams: tuple[Status, ...] = ()  # the stream consumers' latest reports


class ViewGauges:
    """A collector: Redis/registry health and every published view version's sync state."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._snapshot()
        now = time.time()
        yield GaugeMetricFamily(
            "featurehouse_redis_up", "1 if the last Redis call succeeded", value=int(snap.redis_up)
        )
        catalog = snap.catalog
        yield GaugeMetricFamily(
            "featurehouse_registry_loaded",
            "1 once view metadata has been read from Redis",
            value=int(catalog is not None),
        )
        if catalog is None:
            return
        yield GaugeMetricFamily(
            "featurehouse_registry_age_seconds",
            "Seconds since the view metadata was read from Redis",
            value=now - catalog.loaded_at,
        )
        labels = ["view", "version"]
        families = {
            "synced": GaugeMetricFamily(
                "featurehouse_view_last_sync_timestamp_seconds",
                "When the view version's last sync finished (Unix time)",
                labels=labels,
            ),
            "as_of": GaugeMetricFamily(
                "featurehouse_view_as_of_timestamp_seconds",
                "The as-of time of the data the view version serves (Unix time)",
                labels=labels,
            ),
            "stale": GaugeMetricFamily(
                "featurehouse_view_staleness_seconds",
                "Seconds between now and the as-of time of the data served",
                labels=labels,
            ),
            "rows": GaugeMetricFamily(
                "featurehouse_view_entities", "Entities the view version serves", labels=labels
            ),
        }
        for state in catalog.states:
            version = "" if state.schema.version is None else str(state.schema.version)
            at = [state.schema.view, version]
            as_of = _unix(state.as_of)
            families["synced"].add_metric(at, _unix(state.synced_at))
            families["as_of"].add_metric(at, as_of)
            families["stale"].add_metric(at, now - as_of)
            families["rows"].add_metric(at, state.rows)
        yield from families.values()


def _unix(naive_utc: datetime) -> float:
    return naive_utc.replace(tzinfo=UTC).timestamp()


class ServerMetrics:
    """Request counts and latencies, Redis errors, registry refreshes; `render()` for /metrics."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "featurehouse_http_requests",
            "HTTP requests answered, by endpoint and status code",
            ["endpoint", "status"],
            registry=reg,
        )
        self.latency = Histogram(
            "featurehouse_http_request_duration_seconds",
            "Time from request received to answer written, by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.entities = Histogram(
            "featurehouse_request_entities",
            "Entities asked for per feature request",
            ["endpoint"],
            buckets=ENTITY_BUCKETS,
            registry=reg,
        )
        self.redis_errors = Counter(
            "featurehouse_redis_errors",
            "Redis calls that failed: unavailable (down, timeout, auth) or error",
            ["kind"],
            registry=reg,
        )
        self.refreshes = Counter(
            "featurehouse_registry_refreshes",
            "Reads of the view metadata from Redis, by result",
            ["result"],
            registry=reg,
        )
        self._gauges = ViewGauges(snapshot)
        self._streams = StreamGauges(lambda: snapshot().streams)
        if not self.multiprocess:
            reg.register(self._gauges)
            reg.register(self._streams)
        self._children: dict[tuple[str, int], tuple[Callable, Callable]] = {}
        self._asked: dict[str, Callable[[float], None]] = {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, status)
        child = self._children.get(key)
        if child is None:
            child = (
                self.requests.labels(endpoint, str(status)).inc,
                self.latency.labels(endpoint).observe,
            )
            self._children[key] = child
        child[0]()
        child[1](seconds)

    def asked(self, endpoint: str, entities: int) -> None:
        observe = self._asked.get(endpoint)
        if observe is None:
            observe = self._asked[endpoint] = self.entities.labels(endpoint).observe
        observe(entities)

    def render(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        exposition = CollectorRegistry(auto_describe=True)
        MultiProcessCollector(exposition)
        exposition.register(self._gauges)
        exposition.register(self._streams)
        return generate_latest(exposition)
