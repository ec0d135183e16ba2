"""msgpack-v1 records (packed.py `records`) written by the C extension: the same bytes as the
numpy path, ~4x sooner, with the GIL released (a full sync encodes in a thread of its own,
beside the sort and the sends). For features of the kinds it knows (all but list<float64>),
when the extension is built; `encoding.Codec.encode` takes the numpy path otherwise, and
sync/tests/online/test_speedups.py compares both byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurehouse.online.packed import column_numpy, timestamp_us, validity

# The C writer (online/redis/_speedups.c `pack_records`), imported on first use (the redis
# package imports this module); None: not built, the numpy path writes the records.
_PACK: Any = ...
_C_KINDS = {"int64": 0, "timestamp": 0, "float64": 2, "bool": 3, "string": 4}
_ARROW = {"int64": pa.int64(), "float64": pa.float64()}
_TIME = 1


def _pack_records() -> Any:
    global _PACK
    if _PACK is ...:
        try:
            from featurehouse.online.redis._speedups import pack_records as found
        except ImportError:  # pragma: no cover - not built: the numpy path, same bytes
            found = None
        _PACK = found
    return _PACK


def text_buffers(values: pa.Array) -> tuple[Any, np.ndarray]:
    """A string or binary array's data buffer and its len + 1 int32 offsets, as the C
    extension reads them."""
    _, offsets, data = values.buffers()
    at = np.frombuffer(offsets, np.int32)[values.offset : values.offset + len(values) + 1]
    return (data if data is not None else b""), np.ascontiguousarray(at)


def c_encodable(kinds: Sequence[str]) -> bool:
    """Can `records_c` write records of features of these kinds (the C writer is built and
    knows them all)?"""
    return _pack_records() is not None and all(k in _C_KINDS for k in kinds)


def c_column(values: pa.Array, kind: str) -> tuple[int, Any, Any, Any]:
    """One element column as `pack_records` takes it: (kind, values, valid, extra)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if kind == "timestamp":
        values, kind = timestamp_us(values), "int64"
    if kind == "string":
        text = pc.cast(values, pa.string())
        data, offsets = text_buffers(text)
        return 4, data, validity(text), offsets
    data, valid = column_numpy(values, pa.bool_() if kind == "bool" else _ARROW[kind])
    return _C_KINDS[kind], np.ascontiguousarray(data), valid, None


def records_c(
    event_us: pa.Array,
    base_us: int,
    features: Sequence[tuple[int, Any, Any, Any]],
    delay_us: pa.Array | None,
    n: int,
) -> pa.Array:
    """`records` of the event's tagged time, the features (`c_column`s) and (not None) the
    load delay's, written by the C extension (`c_encodable` first): the same bytes, ~10x
    sooner, with the GIL released."""
    events, valid = column_numpy(event_us, pa.int64())
    columns = [(_TIME, np.ascontiguousarray(events), valid, base_us)]
    columns += features
    if delay_us is not None:
        delays, valid = column_numpy(delay_us, pa.int64())
        columns.append((_TIME, np.ascontiguousarray(delays), valid, 0))
    offsets, data = _pack_records()(n, columns)
    bufs = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.binary(), n, bufs)
