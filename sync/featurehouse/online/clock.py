"""The online answer's clock: the time a read is answered at, and the TTL boundary that makes a
row expired at that time (Python's copy of the macro's `_pit_within_ttl`, inclusive).

For an entity at clock T: `present` when its latest row at or before T has event_at >= T - ttl,
`expired` (that row's event_at, no values) when older, `not_found` when it has no row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from featurehouse.errors import OnlineStoreError
from featurehouse.online.encoding import literal

US = 1_000_000


class ClockError(OnlineStoreError):
    """A read asked for a clock before what the store was synced as of."""


def window_start_us(clock_us: int, ttl_seconds: int | None) -> int | None:
    """The oldest event time still served at `clock_us` (None: no TTL, nothing expires)."""
    return None if ttl_seconds is None else clock_us - ttl_seconds * US


def window_start(clock: datetime, ttl_seconds: int | None) -> datetime | None:
    """`window_start_us` on datetimes (the warehouse's bind parameters)."""
    return None if ttl_seconds is None else clock - timedelta(seconds=ttl_seconds)


def is_expired(event_us: int, window_us: int | None) -> bool:
    """Is a row of this event time older than the TTL window (`window_start_us`)? A row
    exactly at the window's start is served: the boundary is inclusive, as in the macro."""
    return window_us is not None and event_us < window_us


def expired_mask(events_us: pa.Array, window_us: int) -> pa.Array:
    """`is_expired` for an array of event times (epoch µs)."""
    return pc.less(events_us, literal(window_us))


def read_clock_us(
    asked_us: int | None, store_clock: str, as_of_us: int, wall_us: int, where: str
) -> int:
    """The clock a read of one view version is answered at.

    An explicit `now=` wins (it may be later than the sync: values age; not earlier: the
    store holds only the latest rows as of its sync). Without it, the store's clock: its
    sync's as-of for a replay (`as_of`), else the wall clock, never before that as-of."""
    if asked_us is not None:
        if asked_us < as_of_us:
            raise ClockError(
                f"{where}: a read at now={_text(asked_us)} is before its sync's as-of "
                f"{_text(as_of_us)}; the store holds the latest rows as of then: read at or "
                "after it, or sync with `featurehouse sync --as-of` an earlier time"
            )
        return asked_us
    if store_clock == "as_of":
        return as_of_us
    return max(wall_us, as_of_us)


def _text(us: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(microseconds=us)).isoformat(sep=" ")
