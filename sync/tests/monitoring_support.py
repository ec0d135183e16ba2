"""Helpers of the monitoring tests: a plain-Python drift reference, and PNG pixels (stdlib only).

The reference follows the definitions in macros/monitoring/_macros.yml, written out the
obvious way, so the SQL's figures can be checked against it.
"""

from __future__ import annotations

import math
import shutil
import statistics
import struct
import subprocess
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

EPSILON = 0.0001


@dataclass(frozen=True)
class Reference:
    """What drift_summary should say, computed in Python."""

    n_reference: int
    n_current: int
    null_rate_reference: float
    null_rate_current: float
    psi: float | None
    mean_reference: float | None = None
    mean_current: float | None = None
    std_reference: float | None = None
    mean_shift_std: float | None = None
    p50_reference: float | None = None
    p50_current: float | None = None
    p90_reference: float | None = None
    p90_current: float | None = None


def percentile_cont(values: Sequence[float], fraction: float) -> float:
    """SQL percentile_cont: linear interpolation between the closest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def psi(reference: Sequence[Any], current: Sequence[Any], bucket: Any) -> float | None:
    """Sum over buckets of (c - r) * ln(c / r), shares floored at EPSILON; nulls left out."""
    ref = [bucket(v) for v in reference if v is not None]
    cur = [bucket(v) for v in current if v is not None]
    if not ref or not cur:
        return None
    ref_counts, cur_counts = Counter(ref), Counter(cur)
    total = 0.0
    for key in set(ref_counts) | set(cur_counts):
        r = max(ref_counts[key] / len(ref), EPSILON)
        c = max(cur_counts[key] / len(cur), EPSILON)
        total += (c - r) * math.log(c / r)
    return total


def reference_drift(
    reference: Sequence[Any], current: Sequence[Any], kind: str, buckets: int = 10
) -> Reference:
    """The drift figures of two windows' values (None = null)."""
    ref = [v for v in reference if v is not None]
    cur = [v for v in current if v is not None]
    nulls = (1 - len(ref) / len(reference), 1 - len(cur) / len(current))
    if kind == "categorical":
        return Reference(len(reference), len(current), *nulls, psi(ref, cur, str))
    edges = [percentile_cont(ref, i / buckets) for i in range(1, buckets)]

    def bucket(value: float) -> int:
        return next((i for i, edge in enumerate(edges, 1) if value <= edge), buckets)

    mean_ref, mean_cur = statistics.fmean(ref), statistics.fmean(cur)
    std_ref = statistics.stdev(ref)
    return Reference(
        len(reference),
        len(current),
        *nulls,
        psi(ref, cur, bucket),
        mean_ref,
        mean_cur,
        std_ref,
        (mean_cur - mean_ref) / std_ref,
        percentile_cont(ref, 0.5),
        percentile_cont(cur, 0.5),
        percentile_cont(ref, 0.9),
        percentile_cont(cur, 0.9),
    )


def window_values(
    duckdb_path: Path, relation: str, expression: str, timestamp: str, window: Any
) -> list[Any]:
    """The values of `expression` in rows with window.start <= timestamp < window.end."""
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        rows = connection.execute(
            f"select {expression} from {relation} where {timestamp} >= $start "
            f"and {timestamp} < $end",
            {"start": window.start, "end": window.end},
        ).fetchall()
    return [row[0] for row in rows]


# Headless Chromium without network chatter or a shared profile (screenshots, the catalog's
# browser tests).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_screenshot(page: Path, png: Path, profile: Path) -> None:
    """Open `page` in headless Chromium (no network, fresh profile) and save a 1200x1600 PNG."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium chromium-driver")
    done = subprocess.run(
        [
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            "--window-size=1200,1600",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if not png.exists():
        pytest.fail(f"chromium wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}")


def png_rgb(path: Path) -> tuple[int, int, bytes]:
    """(width, height, RGB bytes row by row) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    offset, idat, header = 8, b"", None
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    assert header is not None, f"{path} has no IHDR"
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG {header}"
    channels = 3 if colour == 2 else 4
    pixels = b"".join(_unfilter(zlib.decompress(idat), width * channels, height, channels))
    if channels == 4:
        pixels = bytes(b for i, b in enumerate(pixels) if i % 4 != 3)
    return width, height, pixels


def count_colour(rgb: bytes, colour: str, tolerance: int = 12) -> int:
    """How many pixels are within `tolerance` of `colour` (#rrggbb) in every channel."""
    buffer = pa.py_buffer(rgb)
    values = pa.Array.from_buffers(pa.uint8(), len(rgb), [None, buffer]).cast(pa.int16())
    pixels = pa.FixedSizeListArray.from_arrays(values, 3)
    matches = None
    for channel, target in enumerate(hex_rgb(colour)):
        difference = pc.abs(pc.subtract(pc.list_element(pixels, channel), target))
        close = pc.less_equal(difference, tolerance)
        matches = close if matches is None else pc.and_(matches, close)
    return int(pc.sum(matches.cast(pa.int64())).as_py() or 0)


def _unfilter(raw: bytes, stride: int, height: int, bpp: int) -> list[bytes]:
    """Undo PNG row filters (None, Sub, Up, Average, Paeth)."""
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], raw[start + 1 : start + 1 + stride]
        if kind == 2:
            line = bytes([(a + b) & 0xFF for a, b in zip(line, previous, strict=True)])
        elif kind in (1, 3, 4):
            line = _unfilter_sequential(kind, bytearray(line), previous, bpp)
        rows.append(line)
        previous = line
    return rows


def _unfilter_sequential(kind: int, line: bytearray, previous: bytes, bpp: int) -> bytes:
    for x in range(len(line)):
        left = line[x - bpp] if x >= bpp else 0
        if kind == 1:
            line[x] = (line[x] + left) & 0xFF
        elif kind == 3:
            line[x] = (line[x] + (left + previous[x]) // 2) & 0xFF
        else:
            corner = previous[x - bpp] if x >= bpp else 0
            line[x] = (line[x] + _paeth(left, previous[x], corner)) & 0xFF
    return bytes(line)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)
