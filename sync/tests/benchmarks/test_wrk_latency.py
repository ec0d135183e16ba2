"""benchmarks.wrk_latency: wrk's coordinated-omission correction is undone exactly."""

from __future__ import annotations

import random

import pytest

from benchmarks import wrk_latency

pytestmark = pytest.mark.fast


def wrk_correct(data: dict[int, int], expected: int) -> dict[int, int]:
    """wrk 4's stats_correct (stats.c), transcribed: the histogram wrk hands to `done`."""
    out = dict(data)
    top = max(data)
    for n in range(expected * 2, top + 1):
        count = data.get(n, 0)  # ascending n: bucket n has only been added to from above
        m = n - expected
        while count and m > expected:
            out[m] = out.get(m, 0) + count
            m -= expected
    return out


@pytest.mark.parametrize("seed", range(5))
def test_recorded_inverts_wrk_correction(seed: int) -> None:
    rng = random.Random(seed)
    requests, conns = 3000, rng.choice([1, 4])
    samples = [rng.randint(150, 400) for _ in range(requests - 3)] + [90_000, 40_000, 2_500]
    original: dict[int, int] = {}
    for s in samples:
        original[s] = original.get(s, 0) + 1
    duration = sum(samples) // conns
    expected = duration // (requests // conns)
    corrected = wrk_correct(original, expected)
    assert wrk_latency.percentile(corrected, 99) > 10_000  # one stall ruins wrk's own p99
    assert wrk_latency.recorded(corrected, duration, requests, conns) == original
    assert wrk_latency.percentile(original, 99) <= 400


def test_parse_and_percentile() -> None:
    hist = wrk_latency.parse("100:985 200:10 5000:5")
    assert hist == {100: 985, 200: 10, 5000: 5}
    assert wrk_latency.percentile(hist, 50) == 100
    assert wrk_latency.percentile(hist, 99) == 200
    assert wrk_latency.percentile(hist, 99.9) == 5000
    assert wrk_latency.percentile({}, 99) == 0
