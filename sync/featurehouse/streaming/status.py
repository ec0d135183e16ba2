"""What a stream consumer is doing: counters, rate, lag, event-to-servable latency.

The consumer keeps them in a `Metrics` and writes them, about once a second, to a status hash
in Redis (`<prefix>:{ctl}:stream:<source>:status`), which `featurehouse stream --status`
prints and the feature server exports on /metrics. Latency: from the broker receiving an
event to its view's recomputed value being in Redis, as a histogram of fixed buckets.
"""

from __future__ import annotations

import bisect
import json
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Upper bounds of the latency buckets, seconds (the last one is +Inf).
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
RATE_WINDOW_SECONDS = 10.0
SAMPLES = 100_000  # the latest latencies, for exact percentiles


@dataclass
class Metrics:
    """Counters since the consumer started; a window of recent batches for the rate."""

    source: str
    topic: str
    broker: str
    consumer: str
    started_at: float = field(default_factory=time.time)
    events: int = 0  # accepted and landed
    rejected: Counter[str] = field(default_factory=Counter)  # by kind
    batches: int = 0
    entities_written: int = 0
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    latency_sum: float = 0.0
    lag: int | None = None
    last_batch_seconds: float = 0.0
    last_error: str = ""
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    _recent: deque[tuple[float, int]] = field(default_factory=deque)

    def batch(self, accepted: int, rejected: Iterable[str], entities: int, seconds: float) -> None:
        now = time.monotonic()
        self.events += accepted
        self.rejected.update(rejected)
        self.batches += 1
        self.entities_written += entities
        self.last_batch_seconds = seconds
        self._recent.append((now, accepted))
        while self._recent and self._recent[0][0] < now - RATE_WINDOW_SECONDS:
            self._recent.popleft()

    def latencies(self, produced_ms: Iterable[int], servable_at: float) -> None:
        """Record each event's latency (servable_at: epoch seconds)."""
        for produced in produced_ms:
            seconds = max(0.0, servable_at - produced / 1000)
            self.latency_counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self.latency_sum += seconds
            self.samples.append(seconds)

    def percentile(self, q: float) -> float | None:
        """Exact latency percentile over the latest SAMPLES events."""
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def rate(self) -> float:
        """Events per second over the batches of the last RATE_WINDOW_SECONDS."""
        if not self._recent:
            return 0.0
        span = self._recent[-1][0] - self._recent[0][0] + self.last_batch_seconds
        return sum(n for _, n in self._recent) / max(span, 1e-3)

    def to_fields(self) -> dict[str, Any]:
        """The status hash's fields (text)."""
        return {
            "source": self.source,
            "topic": self.topic,
            "broker": self.broker,
            "consumer": self.consumer,
            "started_at": self.started_at,
            "updated_at": time.time(),
            "events": self.events,
            "rejected": json.dumps(dict(self.rejected)),
            "batches": self.batches,
            "entities_written": self.entities_written,
            "events_per_second": round(self.rate(), 1),
            "lag": "" if self.lag is None else self.lag,
            "latency_buckets": json.dumps(self.latency_counts),
            "latency_sum": round(self.latency_sum, 6),
            "latency_p50": _rounded(self.percentile(0.5)),
            "latency_p99": _rounded(self.percentile(0.99)),
            "last_batch_seconds": round(self.last_batch_seconds, 4),
            "last_error": self.last_error,
        }


@dataclass(frozen=True)
class Status:
    """A status hash read back (by `--status` or the server)."""

    source: str
    fields: Mapping[str, str]

    def number(self, name: str) -> float:
        value = self.fields.get(name, "")
        return float(value) if value not in ("", None) else 0.0

    @property
    def buckets(self) -> list[int]:
        return list(json.loads(self.fields.get("latency_buckets") or "[]"))

    @property
    def rejected(self) -> dict[str, int]:
        return dict(json.loads(self.fields.get("rejected") or "{}"))

    def quantile(self, q: float) -> float | None:
        """The latency percentile over the recent events (exact), else from the histogram
        (its bucket's upper bound)."""
        exact = self.fields.get(f"latency_p{round(q * 100)}")
        if exact not in (None, ""):
            return float(exact)
        return quantile(self.buckets, q)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "topic": self.fields.get("topic"),
            "broker": self.fields.get("broker"),
            "consumer": self.fields.get("consumer"),
            "events": int(self.number("events")),
            "rejected": self.rejected,
            "events_per_second": self.number("events_per_second"),
            "lag": None if self.fields.get("lag") in (None, "") else int(self.number("lag")),
            "latency_p50_seconds": self.quantile(0.5),
            "latency_p99_seconds": self.quantile(0.99),
            "batches": int(self.number("batches")),
            "entities_written": int(self.number("entities_written")),
            "updated_seconds_ago": round(time.time() - self.number("updated_at"), 1),
            "last_error": self.fields.get("last_error") or None,
        }


def quantile(counts: list[int], q: float) -> float | None:
    total = sum(counts)
    if not total:
        return None
    rank = q * total
    running = 0
    for bound, count in zip((*BUCKETS, float("inf")), counts, strict=False):
        running += count
        if running >= rank:
            return bound
    return float("inf")


def _rounded(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
