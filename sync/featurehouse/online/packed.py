"""The msgpack record encoding (`msgpack-v1`), built column-wise with numpy and Arrow.

A record is one msgpack array `[<event>, <feature 1>, ..., <feature n>]`, then, for a view with
a created timestamp, `<load delay>` (created_at - event_at, or nil), as in the JSON encoding
(encoding.py); a tombstone is `[<event>]` (`[<event>, <load delay>]`). Elements:
- event and load delay: a *tagged time*, relative to the generation's `event_base` (epoch µs
  of a whole second, in the metadata; 0 for the load delay): `4 * n + code`, n in the largest
  unit that divides it, code 0 µs, 1 ms, 2 s, 3 minutes (UNITS). An event in whole seconds
  within 9 hours of the base takes 3 bytes, within 17 years 5, instead of 9; a load delay of
  a few minutes, 1.
- int64: the shortest msgpack int (1, 2, 3, 5 or 9 bytes); timestamp: epoch µs as such an int.
- float64: msgpack float 64 (9 bytes, the double's bits: exact, NaN and -0.0 included).
- bool: true/false; string: msgpack str (UTF-8); list<float64>: an array of float 64; null: nil.

A record's elements are written side by side into one rows x bytes numpy matrix, a block of
rows at a time (small enough to stay in the CPU's cache): each element's type byte and its
value's 8 big-endian bytes (or a short string's padded UTF-8), one strided copy per column,
then the bytes each value needs picked with a mask into the Arrow binary array of the
records; no Python object per row. Readers unpack many records with one `msgpack.unpackb` (C),
or, for the usual answer (all found and fresh), decode them in the reads' C extension
(online/redis/_speedups.c), which reads exactly these elements and leaves anything else to it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurehouse.errors import OnlineStoreError

NAME = "msgpack-v1"
NIL = b"\xc0"
_INT_TAGS = np.array([0xCC, 0xCD, 0xCE, 0xCF, 0xD0, 0xD1, 0xD2, 0xD3], np.uint8)  # [u]int 8-64
_DTYPES = {pa.int64(): np.int64, pa.float64(): np.float64}


def bytes_array(raw: bytes, kind: pa.DataType) -> pa.Array:
    """`raw` as a one-element binary or string array, made without pa.array (which imports
    pandas)."""
    bufs = [None, pa.py_buffer(struct.pack("<ii", 0, len(raw))), pa.py_buffer(raw)]
    return pa.Array.from_buffers(kind, 1, bufs)


_EMPTY = bytes_array(b"", pa.binary())[0]


def validity(values: pa.Array) -> np.ndarray | None:
    """Each value's validity as numpy (None: no nulls)."""
    return None if not values.null_count else np.asarray(pc.is_valid(values))


def _binary(lengths: np.ndarray, data: np.ndarray) -> pa.Array:
    """A binary array of rows of `lengths` bytes taken back to back from `data`."""
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    bufs = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))]
    return pa.Array.from_buffers(pa.binary(), len(lengths), bufs)


def _strided(buffer: np.ndarray, dtype: Any, at: int, stride: int) -> np.ndarray:
    """The `dtype` values at byte `at` of each `stride`-byte row of `buffer` (a view)."""
    return np.ndarray((len(buffer) // stride,), dtype, buffer, at, (stride,))


# Which of 8 bytes are the last `w`, by `w` (0-8): one uint64 of 8 bools each.
_KEEP_LAST = (np.arange(8) >= 8 - np.arange(9)[:, None]).view(np.uint64).reshape(9)


@dataclass
class Slots:
    """One column's elements, before they are compacted: each row's type byte `tag` (kept
    where `tagged`; None: everywhere), then the last `width` (an int: every row's) of the 8
    big-endian bytes of its value in `raw` (int64 or float64; None: no value bytes), or with
    `text` the first `width` bytes of its row of `raw` (rows x bytes: its padded UTF-8)."""

    tag: np.ndarray | int
    raw: np.ndarray | None = None
    tagged: np.ndarray | None = None
    width: np.ndarray | int = 8
    text: bool = False

    @property
    def size(self) -> int:
        return 1 if self.raw is None else 1 + (self.raw.shape[1] if self.text else 8)

    @property
    def full(self) -> bool:
        """Every row keeps all its bytes."""
        fixed = isinstance(self.width, int) and self.width == self.size - 1
        return self.tagged is None and (self.raw is None or fixed)

    def kept(self) -> np.ndarray | int:
        """Each row's bytes (an int: every row's)."""
        tag = 1 if self.tagged is None else self.tagged.astype(np.int32)
        return tag if self.raw is None else tag + self.width

    def fill_fixed(self, matrix: np.ndarray, keep: np.ndarray | None, at: int, stride: int) -> None:
        """Write what is the same in every row (a constant tag, the kept bytes of a constant
        width) at byte `at` of each `stride`-byte row of `matrix` (and `keep`): once for all
        the blocks that reuse them."""
        if not isinstance(self.tag, np.ndarray):
            _strided(matrix, np.uint8, at, stride)[:] = self.tag
        if keep is None:
            return
        if self.tagged is None:
            _strided(keep, bool, at, stride)[:] = True
        if self.raw is not None and not self.text and isinstance(self.width, int):
            _strided(keep, np.uint64, at + 1, stride)[:] = _KEEP_LAST[self.width]

    def fill(
        self, matrix: np.ndarray, keep: np.ndarray | None, at: int, stride: int, rows: slice
    ) -> None:
        """Write the rest for `rows` (each piece one strided copy, values swapped to
        big-endian on the way)."""
        if isinstance(self.tag, np.ndarray):
            _strided(matrix, np.uint8, at, stride)[:] = self.tag[rows]
        if self.raw is not None:
            kind = np.dtype(f"V{self.size - 1}") if self.text else self.raw.dtype.newbyteorder(">")
            raw = self.raw[rows]
            _strided(matrix, kind, at + 1, stride)[:] = (
                raw.view(kind).reshape(-1) if self.text else raw
            )
        if keep is None:
            return
        if self.tagged is not None:
            _strided(keep, bool, at, stride)[:] = self.tagged[rows]
        if self.raw is None:
            return
        if self.text:
            size = self.size - 1
            first = np.arange(size) < np.arange(size + 1)[:, None]  # first w of `size` bytes
            kind = np.dtype(f"V{size}")
            _strided(keep, kind, at + 1, stride)[:] = first.view(kind).reshape(-1)[self.width[rows]]
        elif not isinstance(self.width, int):
            _strided(keep, np.uint64, at + 1, stride)[:] = _KEEP_LAST[self.width[rows]]


# Rows written at a time: their matrix (~0.7 MB) stays in cache, where strided copies are cheap.
BLOCK_ROWS = 8192


def _compact(slots: Sequence[Slots], n: int) -> pa.Array:
    """One binary array of the rows' kept bytes of several columns side by side: written
    block by block into a rows x bytes matrix, each block's kept bytes compacted into place."""
    starts = np.cumsum([0, *(s.size for s in slots)]).tolist()  # each one's byte in a row
    width = starts[-1]
    lengths = sum((s.kept() for s in slots), np.zeros(n, np.int32))
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    data = np.empty(int(offsets[-1]), np.uint8)
    block = max(1, min(n, BLOCK_ROWS))
    matrix = np.empty(block * width, np.uint8)
    keep = None if all(s.full for s in slots) else np.empty(block * width, bool)
    for s, at in zip(slots, starts, strict=False):
        s.fill_fixed(matrix, keep, at, width)
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        m = matrix[: (hi - lo) * width]
        k = None if keep is None else keep[: (hi - lo) * width]
        for s, at in zip(slots, starts, strict=False):
            s.fill(m, k, at, width, slice(lo, hi))
        out = data[offsets[lo] : offsets[hi]]
        if k is None:
            out[:] = m
        else:
            np.compress(k, m, out=out)
    return _binary(lengths, data)


def _packed(tag: np.ndarray, tagged: np.ndarray, raw: np.ndarray, width: np.ndarray) -> pa.Array:
    return _compact([Slots(tag, raw, tagged, width)], len(tag))


def int_slots(values: np.ndarray, valid: np.ndarray | None = None) -> Slots:
    """The shortest msgpack int of each int64 (`valid` False: nil), as slots."""
    v = values.astype(np.int64, copy=False)
    sign = v >> 63  # -1 for a negative value, else 0
    # The bits a two's complement value needs, halved for a non-negative one (whose uint 8,
    # 16, 32 holds twice an int's range): compared with the int limits, the width's index.
    bits = (v ^ sign) >> (sign + 1)
    k = (bits > 0x7F).astype(np.int8)
    k += bits > 0x7FFF
    k += bits > 0x7FFFFFFF
    tag = _INT_TAGS[k - 4 * sign]  # uint 8/16/32/64, then int 8/16/32/64
    width = np.left_shift(1, k, dtype=np.int32)
    tagged = (v + 32).view(np.uint64) > 159  # outside -32..127 (a fixint)
    if valid is not None and not valid.all():
        tag[~valid], tagged[~valid], width[~valid] = 0xC0, True, 0
    return Slots(tag, v, tagged, width)


def float_array(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """msgpack float 64 of each double, its bits as they are (`valid` False: nil)."""
    return _compact([float_slots(values, valid)], len(values))


def float_slots(values: np.ndarray, valid: np.ndarray | None = None) -> Slots:
    """`float_array`'s bytes as slots."""
    raw = values.astype(np.float64, copy=False)
    if valid is None or valid.all():
        return Slots(0xCB, raw)
    tag = np.where(valid, 0xCB, 0xC0).astype(np.uint8)
    return Slots(tag, raw, None, np.where(valid, 8, 0).astype(np.int32))


def _header(lengths: np.ndarray, fix: int, fix_max: int, tags: Sequence[tuple[int, int, int]]):
    """Type bytes of a str or array of each length: the fix form up to `fix_max`, else the
    first of `tags` (tag, width, limit) whose limit holds it."""
    n = len(lengths)
    tag = (fix + np.minimum(lengths, fix_max)).astype(np.uint8)
    width = np.zeros(n, np.int32)
    for code, size, low in tags:
        wider = lengths > low
        tag[wider], width[wider] = code, size
    return tag, width


def _nil_where(mask: np.ndarray, tag: np.ndarray, width: np.ndarray) -> None:
    tag[mask], width[mask] = 0xC0, 0


def column_numpy(values: pa.Array, kind: pa.DataType) -> tuple[np.ndarray, np.ndarray | None]:
    """The values' data buffer as numpy (a null's slot holds anything) and their validity
    (None: no nulls). Read from the buffers: pa.scalar would import pandas."""
    values = pc.cast(values, kind)
    n, start = len(values), values.offset
    valid = validity(values)
    data = values.buffers()[1]
    if kind == pa.bool_():
        bits = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
        return np.unpackbits(bits, bitorder="little")[start : start + n].astype(bool), valid
    if data is None:
        return np.zeros(n, _DTYPES[kind]), valid
    return np.frombuffer(data, _DTYPES[kind])[start : start + n], valid


def _byte_lengths(text: pa.Array) -> np.ndarray:
    """Each string's bytes (0 for null) from its offsets (pc.fill_null with a Python value
    would import pandas)."""
    offsets = np.frombuffer(text.buffers()[1], np.int32)[text.offset : text.offset + len(text) + 1]
    lengths = np.diff(offsets).astype(np.int64)
    if text.null_count:
        lengths[~np.asarray(pc.is_valid(text))] = 0
    return lengths


SHORT = 16  # strings of at most this many bytes go in a record's matrix (`short_strings`)


def short_strings(values: pa.Array) -> Slots | None:
    """fixstr slots of a column whose strings have at most SHORT bytes (None: longer ones)."""
    text = pc.cast(values, pa.string())
    lengths = _byte_lengths(text)
    longest = int(lengths.max()) if len(lengths) else 0
    if longest > SHORT:
        return None
    _, offsets, data = text.buffers()
    starts = np.frombuffer(offsets, np.int32)[text.offset : text.offset + len(text)]
    bytes_ = (
        np.frombuffer(data, np.uint8) if data is not None and data.size else np.zeros(1, np.uint8)
    )
    at = np.minimum(starts[:, None] + np.arange(max(longest, 1)), len(bytes_) - 1)
    tag = (0xA0 + lengths).astype(np.uint8)
    if text.null_count:
        tag[~np.asarray(pc.is_valid(text))] = 0xC0
    return Slots(tag, bytes_[at], None, lengths, text=True)


def string_array(values: pa.Array) -> pa.Array:
    """msgpack str of each string (nil for null)."""
    text = pc.cast(pc.cast(values, pa.string()), pa.binary())
    lengths = _byte_lengths(text)
    tag, width = _header(lengths, 0xA0, 31, [(0xD9, 1, 31), (0xDA, 2, 0xFF), (0xDB, 4, 0xFFFF)])
    if text.null_count:
        _nil_where(~np.asarray(pc.is_valid(text)), tag, width)
        text = pc.fill_null(text, _EMPTY)
    head = _packed(tag, np.ones(len(tag), bool), lengths.astype(np.int64), width)
    return pc.binary_join_element_wise(head, text, _EMPTY)


def float_list_array(values: pa.Array) -> pa.Array:
    """msgpack array of float 64 of each list (nil for a null list or element)."""
    values = pc.cast(values, pa.list_(pa.float64()))
    offsets = np.asarray(values.offsets)
    lo, hi = offsets[0], offsets[-1]
    flat, valid = column_numpy(values.values.slice(lo, hi - lo), pa.float64())
    elements = float_array(flat, valid)
    lists = pa.ListArray.from_arrays(pa.array(offsets - lo, pa.int32()), elements)
    body = pc.fill_null(pc.binary_join(lists, _EMPTY), _EMPTY)
    lengths = np.diff(offsets)
    tag, width = _header(lengths, 0x90, 15, [(0xDC, 2, 15), (0xDD, 4, 0xFFFF)])
    if values.null_count:
        _nil_where(~np.asarray(pc.is_valid(values)), tag, width)
    head = _packed(tag, np.ones(len(tag), bool), lengths.astype(np.int64), width)
    return pc.binary_join_element_wise(head, body, _EMPTY)


def bool_slots(values: pa.Array) -> Slots:
    flags, valid = column_numpy(values, pa.bool_())
    tag = np.where(flags, 0xC3, 0xC2).astype(np.uint8)
    if valid is not None:
        tag[~valid] = 0xC0
    return Slots(tag)


def timestamp_us(values: pa.Array) -> pa.Array:
    """Epoch µs (int64) of each timestamp."""
    tz = values.type.tz if pa.types.is_timestamp(values.type) else None
    return pc.cast(pc.cast(values, pa.timestamp("us", tz=tz)), pa.int64())


def column_part(values: pa.Array, kind: str) -> Slots | pa.Array:
    """msgpack of every value of one feature column (nulls as nil): as slots where the
    values have at most 9 bytes (a record's matrix takes them, `records`), else as a binary
    array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if kind in ("int64", "timestamp"):
        ints = timestamp_us(values) if kind == "timestamp" else values
        return int_slots(*column_numpy(ints, pa.int64()))
    if kind == "float64":
        return float_slots(*column_numpy(values, pa.float64()))
    if kind == "string":
        return short_strings(values) or string_array(values)
    if kind == "bool":
        return bool_slots(values)
    if kind == "list<float64>":
        return float_list_array(values)
    raise OnlineStoreError(f"cannot encode feature type {kind!r}")


UNITS = (1, 1_000, 1_000_000, 60_000_000)  # µs of a tagged time's unit, by its code


def tagged(us: np.ndarray, base_us: int = 0) -> np.ndarray:
    """The tagged time of each µs value relative to `base_us`: `4 * n + code`, n in the
    largest of UNITS (µs, ms, s, minutes; `code` its index) that divides it."""
    delta = us.astype(np.int64, copy=False) - base_us
    code = np.zeros(len(delta), np.int64)
    for i, unit in enumerate(UNITS[1:], 1):
        code[delta % unit == 0] = i
    return (delta // np.take(UNITS, code)) * 4 + code


def untagged(value: int) -> int:
    """µs of a tagged time (relative to its base)."""
    return (value >> 2) * UNITS[value & 3]


def tagged_slots(us: pa.Array, base_us: int = 0) -> Slots:
    """The tagged times as msgpack ints (nil for null)."""
    values, valid = column_numpy(us, pa.int64())
    return int_slots(tagged(values, base_us), valid)


def records(parts: Sequence[Slots | pa.Array], n: int) -> pa.Array:
    """One msgpack array per row of the `n` rows' elements `parts`: each run of slots compacted
    in one matrix, the runs and binary columns joined (when there are several)."""
    count = len(parts)
    if count < 16:
        head = Slots(0x90 + count)
    else:
        head = Slots(0xDC, np.broadcast_to(np.array([count], np.int64), (n,)), None, 2)
    runs: list[pa.Array] = []
    pending: list[Slots] = [head]
    for part in parts:
        if isinstance(part, Slots):
            pending.append(part)
            continue
        if pending:
            runs.append(_compact(pending, n))
        runs.append(part)
        pending = []
    if pending:
        runs.append(_compact(pending, n))
    return runs[0] if len(runs) == 1 else pc.binary_join_element_wise(*runs, _EMPTY)


def unpack(records: Sequence[bytes | None], base_us: int) -> list[Any]:
    """Many records (None = missing: None) with one unpack; each record's event as epoch µs."""
    n = len(records)
    head = bytes([0x90 + n]) if n < 16 else b"\xdd" + struct.pack(">I", n)
    found = records if None not in records else [NIL if r is None else r for r in records]
    out = msgpack.unpackb(head + b"".join(found))  # joined in C when all are found
    for rec in out:
        if rec is not None:
            v = rec[0]
            rec[0] = base_us + (v >> 2) * UNITS[v & 3]
    return out
