"""wrk's latency histogram as recorded: its coordinated-omission correction undone.

Before its `done` callback, wrk 4 "corrects" the histogram (stats_correct): every latency L
above twice the mean interval e between two requests of a connection adds synthetic samples at
L - e, L - 2e, ... down to e. With one connection and a short run, one 100 ms stall of the
machine (a neighbour's burst) adds 100 ms / e samples, about stall / run length of them all:
a single 100 ms hiccup in a 3 s run moves the p99 to ~90 ms however fast every request was.
The Lua `done` of bench_server dumps the histogram (`latency(i)`: the i-th distinct value
recorded and its count, wrk 4.1);
`recorded` inverts the correction exactly, so the percentiles are those of the requests made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# Lua for wrk's `done`: the histogram as `v:count` pairs (µs), appended to the WRK line.
DUMP_LUA = r"""
local function histogram(latency)
  local parts, i, last = {}, 1, -1
  while true do
    local v, c = latency(i)  -- past the last value: 0 and a meaningless count
    if c == 0 or v <= last then break end
    last = v
    parts[i] = string.format("%d:%d", v, c)
    i = i + 1
  end
  return table.concat(parts, " ")
end
"""


def parse(text: str) -> dict[int, int]:
    """`v:count v:count ...` -> {latency µs: count}."""
    pairs = (item.split(":") for item in text.split())
    return {int(v): int(c) for v, c in pairs}


def recorded(corrected: Mapping[int, int], duration_us: int, requests: int, conns: int) -> dict:
    """The histogram before wrk's correction: for m > e, wrk added to bucket m the counts of
    every bucket m + k*e (k >= 1), which is exactly the corrected count of bucket m + e."""
    per_conn = requests // conns
    if per_conn <= 0:
        return dict(corrected)
    e = duration_us // per_conn
    out = {}
    for m, count in corrected.items():
        original = count - corrected.get(m + e, 0) if m > e > 0 else count
        if original > 0:
            out[m] = original
    return out


def percentile(histogram: Mapping[int, int], p: float) -> int:
    """wrk's own rule (stats_percentile): the smallest value whose cumulative count reaches
    C's round(p/100 * n + 0.5), halves away from zero."""
    n = sum(histogram.values())
    if not n:
        return 0
    rank = math.floor(p / 100 * n + 1.0)
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram)
