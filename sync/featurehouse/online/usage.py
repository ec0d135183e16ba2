"""Usage history: per feature service and per view version, the reads and entities served and
when last, counted in memory and added to the store every few seconds (never a write per
read); with a service's `logging.sample_rate`, a sample of the rows it served (feature logging).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

SERVICE = "service"
VIEW = "view"
DEFAULT_FLUSH_SECONDS = 5.0
LOG_LIMIT = 10_000  # logged rows held in memory between flushes at most (more are dropped)


@dataclass(frozen=True)
class Tally:
    """Counts since the last flush of one service or view version."""

    reads: int
    entities: int
    last_read_at: float  # epoch seconds


@dataclass(frozen=True)
class UsageCount:
    """What the store holds about one service (`name`) or view version (`view` / `view.vN`)."""

    kind: str  # SERVICE or VIEW
    name: str
    reads: int
    entities: int
    last_read_at: datetime | None  # naive UTC
    reads_by_day: Mapping[str, int] = field(default_factory=dict)  # "YYYY-MM-DD" -> reads

    def recent_reads(self, days: int, today: datetime) -> int:
        """Reads over the last `days` days, today included."""
        first = today.toordinal() - days + 1
        return sum(
            n for day, n in self.reads_by_day.items()
            if datetime.strptime(day, "%Y-%m-%d").toordinal() >= first
        )  # fmt: skip


@dataclass(frozen=True)
class LoggedRow:
    """One served row of a service, kept for training-serving skew analysis."""

    service: str
    served_at: float  # epoch seconds
    entity: Mapping[str, Any]
    values: Mapping[str, Any]  # column name -> value, as served
    statuses: Mapping[str, str]


class UsageSink(Protocol):
    """Where counts go: the online store (`add_usage`)."""

    def add_usage(
        self, tallies: Mapping[tuple[str, str], Tally], rows: Sequence[LoggedRow]
    ) -> None: ...


class UsageRecorder:
    """Counts reads in memory; `flush` hands them to the store and starts again. Thread-safe:
    the server's event loop and its flushing thread, or an API used from several threads."""

    def __init__(
        self,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
        clock: Callable[[], float] = time.time,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.flush_seconds = flush_seconds
        self._clock = clock
        self._chance = chance
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], list[float]] = {}
        self._rows: list[LoggedRow] = []
        self._flushed_at = clock()

    def record(self, service: str | None, views: Iterable[str], entities: int) -> None:
        """One read of `entities` entities, of these view versions (`view` / `view.vN`)."""
        now = self._clock()
        keys = [(VIEW, v) for v in views]
        if service is not None:
            keys.append((SERVICE, service))
        with self._lock:
            for key in keys:
                tally = self._counts.get(key)
                if tally is None:
                    self._counts[key] = [1, entities, now]
                else:
                    tally[0] += 1
                    tally[1] += entities
                    tally[2] = now

    def sample(
        self, rate: float | None, n: int, build: Callable[[list[int]], list[LoggedRow]]
    ) -> None:
        """Keep each of `n` served rows with probability `rate`; `build` makes the kept ones
        (from their row numbers) only when there are any."""
        if not rate:
            return
        chosen = [i for i in range(n) if rate >= 1.0 or self._chance() < rate]
        if not chosen or len(self._rows) >= LOG_LIMIT:
            return
        kept = build(chosen)
        with self._lock:
            self._rows.extend(kept[: max(0, LOG_LIMIT - len(self._rows))])

    def due(self) -> bool:
        return self._clock() - self._flushed_at >= self.flush_seconds

    def take(self) -> tuple[dict[tuple[str, str], Tally], list[LoggedRow]]:
        """Everything counted since the last take, and a fresh start."""
        with self._lock:
            counts, rows = self._counts, self._rows
            self._counts, self._rows = {}, []
            self._flushed_at = self._clock()
        tallies = {k: Tally(int(r), int(e), at) for k, (r, e, at) in counts.items()}
        return tallies, rows

    def flush(self, sink: UsageSink) -> int:
        """Add what was counted to `sink`; on failure the counts are put back (kept for the
        next flush). Returns the reads flushed."""
        tallies, rows = self.take()
        if not tallies and not rows:
            return 0
        try:
            sink.add_usage(tallies, rows)
        except Exception:
            self._restore(tallies, rows)
            raise
        return sum(t.reads for (kind, _), t in tallies.items() if kind == VIEW)

    def _restore(self, tallies: Mapping[tuple[str, str], Tally], rows: list[LoggedRow]) -> None:
        with self._lock:
            for key, t in tallies.items():
                tally = self._counts.setdefault(key, [0, 0, t.last_read_at])
                tally[0] += t.reads
                tally[1] += t.entities
                tally[2] = max(tally[2], t.last_read_at)
            self._rows[:0] = rows[: max(0, LOG_LIMIT - len(self._rows))]
