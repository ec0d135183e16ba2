"""Exact, column-wise comparison of two Arrow arrays of one online type (parity's core).

Exact means: floats bit for bit (so 0.0 and -0.0 differ, any NaN equals any NaN), timestamps to
the microsecond, arrays element-wise with the same rule, null equal only to null.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from featurehouse.types import arrow_type


def differs(ours: pa.Array, theirs: pa.Array, kind: str) -> pa.BooleanArray:
    """Per row: do the two values differ (one null and not the other, or unequal)?"""
    ours, theirs = _conform(ours, kind), _conform(theirs, kind)
    one_null = pc.xor(pc.is_null(ours), pc.is_null(theirs))
    both = pc.and_(pc.is_valid(ours), pc.is_valid(theirs))
    if kind == "list<float64>":
        unequal = pa.array(
            [not same_list(a, b) for a, b in zip(ours.to_pylist(), theirs.to_pylist(), strict=True)]
        )
    elif kind == "float64":
        unequal = _floats_differ(ours, theirs)
    elif kind == "timestamp":
        unequal = pc.not_equal(pc.cast(ours, pa.int64()), pc.cast(theirs, pa.int64()))
    else:
        unequal = pc.not_equal(ours, theirs)
    return pc.or_(one_null, pc.fill_null(pc.and_(both, unequal), False))


def _conform(values: pa.Array | pa.ChunkedArray, kind: str) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(arrow_type(kind)) if values.type != arrow_type(kind) else values


def _floats_differ(ours: pa.Array, theirs: pa.Array) -> pa.Array:
    """Bit patterns differ and not both NaN (null slots are masked by the caller)."""
    bits = pc.not_equal(_bits(ours), _bits(theirs))
    both_nan = pc.and_(pc.is_nan(ours), pc.is_nan(theirs))
    return pc.and_(bits, pc.invert(pc.fill_null(both_nan, False)))


def _bits(values: pa.Array) -> pa.Array:
    filled = pc.fill_null(values, 0.0) if values.null_count else values
    return filled.view(pa.int64())


def same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) and math.isnan(b):
        return True
    return struct.pack("<d", a) == struct.pack("<d", b)


def same_list(a: list[float | None] | None, b: list[float | None] | None) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(same_float(x, y) for x, y in zip(a, b, strict=True))


def to_python(value: pa.Scalar) -> Any:
    """A scalar for reports: the Python value (floats stay floats, NaN included; JSON
    output spells them with `types.json_safe`)."""
    return value.as_py()
