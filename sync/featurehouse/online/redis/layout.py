"""Redis key names and bucketing: where every view version, generation and entity lives.

All names derive from metadata (prefix, view, version, generation, bucket count), so a view
version is deleted without scanning the keyspace. See the README section "Online store layout".
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurehouse.online.encoding import join, literal

try:  # the C CRC-32 of many texts (setup.py builds it when a C compiler is there)
    from featurehouse.online.redis._speedups import crc32_texts as _crc32_texts
except ImportError:  # pragma: no cover - not built: numpy's loop, the same values
    _crc32_texts = None

LAYOUT_VERSION = 1
TAGS = 1024  # hash-tag groups per entity: bucket b lives in slot group b % TAGS
TARGET_PER_BUCKET = 32  # buckets are sized for 16..32 entities (listpack-friendly)


def version_token(version: int | None) -> str:
    return "unversioned" if version is None else f"v{version}"


def token_version(token: str) -> int | None:
    return None if token == "unversioned" else int(token[1:])


def view_id(view: str, version: int | None) -> str:
    return f"{view}:{version_token(version)}"


def ctl_prefix(prefix: str) -> str:
    """Control keys share the hash tag `{ctl}`, so the multi-key functions stay in one slot."""
    return f"{prefix}:{{ctl}}:"


def meta_key(prefix: str, view: str, version: int | None) -> str:
    return f"{ctl_prefix(prefix)}view:{view_id(view, version)}"


def views_key(prefix: str) -> str:
    return f"{ctl_prefix(prefix)}views"


def latest_key(prefix: str) -> str:
    return f"{ctl_prefix(prefix)}latest"


def syncing_key(prefix: str) -> str:
    return f"{ctl_prefix(prefix)}syncing"


def retired_key(prefix: str) -> str:
    return f"{ctl_prefix(prefix)}retired"


def seq_key(prefix: str) -> str:
    return f"{ctl_prefix(prefix)}seq"


def data_prefix(prefix: str, view: str, version: int | None, generation: int) -> str:
    return f"{prefix}:d:{view_id(view, version)}:g{generation}:"


def data_key(key_prefix: str, entity: str, bucket: int, tags: int = TAGS) -> str:
    """`fh:d:<view>:<vtoken>:g<gen>:{<entity>:<bucket % tags>}:<bucket>`."""
    return f"{key_prefix}{{{entity}:{bucket % tags}}}:{bucket}"


def all_data_keys(key_prefix: str, entity: str, buckets: int, tags: int) -> list[str]:
    return [data_key(key_prefix, entity, b, tags) for b in range(buckets)]


def choose_buckets(rows: int, tags: int = TAGS) -> int:
    """The smallest tags * 2**j with at most TARGET_PER_BUCKET entities per bucket."""
    buckets = tags
    while rows > buckets * TARGET_PER_BUCKET:
        buckets *= 2
    return buckets


def crc32_py(text: str) -> int:
    return zlib.crc32(text.encode())


def bucket_of(text: str, buckets: int) -> int:
    return crc32_py(text) % buckets


_CRC_TABLE: list[int] = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (0xEDB88320 ^ (_c >> 1)) if _c & 1 else (_c >> 1)
    _CRC_TABLE.append(_c)
del _n, _c


def crc32_array(texts: pa.Array) -> pa.Array:
    """zlib.crc32 of every string's UTF-8 bytes, column-wise: the strings of each length go
    together, and numpy steps one byte position of all of them at a time (table-driven
    CRC-32, as zlib)."""
    texts = pc.cast(texts, pa.binary())
    n = len(texts)
    if texts.null_count:
        raise ValueError("crc32_array: null text")
    if not n:
        return from_numpy(np.zeros(0, np.uint32))
    bufs = texts.buffers()
    offsets = np.frombuffer(bufs[1], np.int32, n + 1, texts.offset * 4)
    if _crc32_texts is not None:  # the C loop: ~10x numpy's
        crc = _crc32_texts(bufs[2] if bufs[2] is not None else b"", np.ascontiguousarray(offsets))
        return from_numpy(np.frombuffer(crc, np.uint32))
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(1, np.uint8)
    starts = offsets[:-1].astype(np.int64)
    lengths = np.diff(offsets)
    out = np.empty(n, np.uint32)
    for length in _distinct(lengths):
        rows = np.flatnonzero(lengths == length) if len(lengths) else lengths
        at = starts[rows]
        crc = np.full(len(rows), 0xFFFFFFFF, np.uint32)
        for j in range(int(length)):
            crc = _CRC_NP[(crc ^ data[at + j]) & 0xFF] ^ (crc >> 8)
        out[rows] = crc ^ np.uint32(0xFFFFFFFF)
    return from_numpy(out)


def _distinct(values: np.ndarray) -> np.ndarray:
    """np.unique(values) without np.unique, whose masked-array check imports numpy.ma (~20 ms
    of every sync process); sorting is also faster here (1M lengths: 1 ms against 8)."""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def from_numpy(values: np.ndarray) -> pa.Array:
    """A 1-d numpy array of a fixed-width type as an Arrow array, without a copy (and without
    `pa.array`, which imports pandas, ~0.3 s, when it is installed)."""
    values = np.ascontiguousarray(values)
    kind = pa.from_numpy_dtype(values.dtype)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def to_numpy(values: pa.Array) -> np.ndarray:
    """A null-free fixed-width Arrow array as a read-only numpy view, without a copy (and
    without `np.asarray`/`to_numpy`, which import pandas, see `from_numpy`)."""
    if values.null_count:
        raise ValueError("to_numpy: null value")
    kind = np.dtype(values.type.to_pandas_dtype())
    if not len(values):
        return np.zeros(0, kind)
    return np.frombuffer(values.buffers()[1], kind, len(values), values.offset * kind.itemsize)


_CRC_NP = np.array(_CRC_TABLE, np.uint32)


def bucket_array(crc: pa.Array, buckets: int) -> pa.Array:
    return pc.bit_wise_and(crc, literal(buckets - 1, pa.uint32()))


def data_key_array(key_prefix: str, entity: str, buckets_col: pa.Array, tags: int) -> pa.Array:
    """Data key names for an array of bucket numbers (column-wise `data_key`)."""
    tag = pc.cast(pc.bit_wise_and(buckets_col, literal(tags - 1, buckets_col.type)), pa.string())
    return join([f"{key_prefix}{{{entity}:", tag, "}:", pc.cast(buckets_col, pa.string())])


def live_key(key_prefix: str, entity: str, tag: int) -> str:
    """On a cluster: the generation's marker in the slot of tag group `tag` (a hash whose
    `gen` field the merge function checks, as it checks the meta key on one Redis); it exists
    while the generation's keys do."""
    return f"{key_prefix}{{{entity}:{tag}}}:live"


def live_key_array(key_prefix: str, entity: str, buckets_col: pa.Array, tags: int) -> pa.Array:
    """`live_key` of the tag group of every bucket (column-wise)."""
    tag = pc.cast(pc.bit_wise_and(buckets_col, literal(tags - 1, buckets_col.type)), pa.string())
    return join([f"{key_prefix}{{{entity}:", tag, "}:live"])
