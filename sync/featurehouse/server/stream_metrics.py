"""Stream consumers' figures on the feature server's /metrics, from their Redis status.

Each `featurehouse stream` writes its counters, rate, lag and event-to-servable latency to a
status hash about once a second; the server reads them with the view catalog and exports
them here, so one scrape of the server covers serving and freshness.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from featurehouse.streaming.status import BUCKETS, Status


class StreamGauges:
    """A collector over the latest status of every stream consumer."""

    def __init__(self, statuses: Callable[[], Sequence[Status]]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterator[object]:
        statuses = list(self._statuses())
        labels = ["source", "topic", "broker"]
        events = CounterMetricFamily(
            "featurehouse_stream_events", "Raw events landed and applied", labels=labels
        )
        rejected = CounterMetricFamily(
            "featurehouse_stream_rejected_events",
            "Events sent to the dead letter, by reason",
            labels=[*labels, "reason"],
        )
        rate = GaugeMetricFamily(
            "featurehouse_stream_events_per_second", "Recent rate (10 s)", labels=labels
        )
        lag = GaugeMetricFamily(
            "featurehouse_stream_lag", "Events in the broker not yet consumed", labels=labels
        )
        age = GaugeMetricFamily(
            "featurehouse_stream_report_age_seconds",
            "Seconds since the consumer last reported (it reports about once a second)",
            labels=labels,
        )
        quantiles = GaugeMetricFamily(
            "featurehouse_stream_latency_quantile_seconds",
            "Event-to-servable latency of the latest events, by quantile",
            labels=[*labels, "quantile"],
        )
        latency = HistogramMetricFamily(
            "featurehouse_stream_latency_seconds",
            "Event-to-servable latency: broker received to value in Redis",
            labels=labels,
        )
        for status in statuses:
            at = [status.source, status.fields.get("topic", ""), status.fields.get("broker", "")]
            events.add_metric(at, status.number("events"))
            for reason, count in status.rejected.items():
                rejected.add_metric([*at, reason], count)
            rate.add_metric(at, status.number("events_per_second"))
            if status.fields.get("lag"):
                lag.add_metric(at, status.number("lag"))
            age.add_metric(at, time.time() - status.number("updated_at"))
            for q in (0.5, 0.99):
                value = status.quantile(q)
                if value is not None:
                    quantiles.add_metric([*at, str(q)], value)
            latency.add_metric(at, _cumulative(status.buckets), status.number("latency_sum"))
        yield from (events, rejected, rate, lag, age, quantiles, latency)


def _cumulative(counts: Sequence[int]) -> list[tuple[str, float]]:
    running, found = 0, []
    for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=False):
        running += count
        found.append((bound, float(running)))
    return found
