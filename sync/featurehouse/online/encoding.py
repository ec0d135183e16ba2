"""The record encodings and who writes them: `Codec`, a generation's encoding (its metadata's
`encoding` and `event_base`), encodes a publish's rows and decodes a read's records.

A full sync writes msgpack-v1 (online/packed.py: a msgpack array per entity, built
column-wise with numpy and Arrow from the feature columns any warehouse hands over). An
incremental sync, the stream consumer and pushes write into the current generation in its
own encoding (merge.Merger reads it from the metadata), so a store written before keeps its
JSON records until a full sync replaces them. Readers dispatch on the metadata's encoding.

The JSON encodings (json-array-v1/v2), read and merged into: a record is
`[<event_at epoch µs>,<feature 1>,...]` in the schema's feature order, then, for a view with a
created timestamp (`ViewSchema.created`), `<created_at - event_at in µs, or null>` (the load
delay, shorter than a second epoch time): an incremental merge breaks ties on event_at with
it, as the point-in-time macro does. An entity whose latest row is older than the TTL at the
writer's clock is a tombstone: the record without its features, `[<event_at>]`
(`[<event_at>,<load delay>]`), read as `expired`. Floats are JSON numbers with the fewest digits
that read back as exactly the same double, always with a `.` or an exponent (`3.0`, `-0.0`,
`1e+16` or `10000000000000000.0`; NaN, Infinity, -Infinity as Python's json writes them), so
they parse back as floats; timestamps epoch microseconds; lists JSON lists; nulls `null`.

One writer produces JSON: Arrow compute (`record_items`, any warehouse), for the incremental
syncs, stream events and pushes into a JSON generation. sync/tests/online/test_encoding.py
compares the msgpack records with the JSON records bit for bit.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import repeat
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from featurehouse.errors import OnlineStoreError
from featurehouse.online import packed, packed_c

EVENT_AT = "__event_at"
CREATED_AT = "__created_at"
RECORD = "__record"  # a row's msgpack record, encoded ahead of the publish (prepare.encoded)
JSON = "json-array-v2"  # v2: tombstones; v1 stores read alike
ENCODING = packed.NAME  # what a full sync writes (an incremental one: its generation's)
ENCODINGS = ("json-array-v1", JSON, packed.NAME)  # what readers understand
_EPOCH = datetime(1970, 1, 1)
_CONTROL = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}


NULL = "null"


def _needs_escape(strings: pa.Array) -> bool:
    """Does any byte of the strings' data need a JSON escape (`"`, `\\`, controls)?"""
    data = strings.buffers()[2]
    if data is None or not data.size:
        return False
    u8 = pa.Array.from_buffers(pa.uint8(), data.size, [None, data])
    special = pc.or_(pc.less(u8, 32), pc.or_(pc.equal(u8, 34), pc.equal(u8, 92)))
    return bool(pc.any(special).as_py())


def json_escape(strings: pa.Array) -> pa.Array:
    """The body of a JSON string literal for each value, as json.dumps(ensure_ascii=False)."""
    if not _needs_escape(strings):
        return strings  # the usual case: nothing to escape, no copy
    out = pc.replace_substring(strings, "\\", "\\\\")
    out = pc.replace_substring(out, '"', '\\"')
    if pc.any(pc.match_substring_regex(out, "[\\x00-\\x1f]")).as_py():
        for code in range(32):
            out = pc.replace_substring(out, chr(code), _CONTROL.get(code, f"\\u{code:04x}"))
    return out


def _float_text(values: pa.Array) -> pa.Array:
    """Shortest round-trip text, with `.0` on integral values so that every float reads back
    as a float (`3.0`, `-0.0`; `1e+16` already does)."""
    text = pc.cast(values, pa.string())
    if not len(values):
        return text
    if pc.any(pc.invert(pc.is_finite(values))).as_py():
        for raw, js in (("^nan$", "NaN"), ("^inf$", "Infinity"), ("^-inf$", "-Infinity")):
            text = pc.replace_substring_regex(text, raw, js)
    integral = pc.and_(
        pc.and_(pc.is_finite(values), pc.equal(pc.floor(values), values)),
        pc.invert(pc.match_substring(text, "e")),
    )
    integral = pc.fill_null(integral, False)
    if not pc.any(integral).as_py():
        return text
    fixed = pc.binary_join_element_wise(pc.filter(text, integral), ".0", "")
    return pc.replace_with_mask(text, integral, fixed)


def _list_text(values: pa.Array) -> pa.Array:
    values = pc.cast(values, pa.list_(pa.float64()))
    offsets = values.offsets
    lo, hi = offsets[0].as_py(), offsets[len(offsets) - 1].as_py()
    flat = pc.fill_null(_float_text(values.values.slice(lo, hi - lo)), NULL)
    offsets = pc.subtract(offsets, lo)
    lists = pa.ListArray.from_arrays(offsets, flat, mask=pc.is_null(values))
    return pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")


_timestamp_us = packed.timestamp_us


def column_text(values: pa.Array, kind: str) -> pa.Array:
    """JSON text of every value of one feature column (nulls stay null: written `null`)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if kind == "int64":
        return pc.cast(pc.cast(values, pa.int64()), pa.string())
    if kind == "float64":
        return _float_text(pc.cast(values, pa.float64()))
    if kind == "string":
        return pc.binary_join_element_wise('"', json_escape(pc.cast(values, pa.string())), '"', "")
    if kind == "bool":
        return pc.cast(pc.cast(values, pa.bool_()), pa.string())
    if kind == "timestamp":
        return pc.cast(_timestamp_us(values), pa.string())
    if kind == "list<float64>":
        return _list_text(values)
    raise OnlineStoreError(f"cannot encode feature type {kind!r}")


def literal(value: str | int, kind: pa.DataType | None = None) -> pa.Scalar:
    """`value` as an Arrow string (or int64, cast to `kind`) scalar, made without `pa.scalar`.

    pa.scalar and pa.array, and pyarrow.compute when handed a plain Python value, import
    pandas the first time (~0.3 s of a sync's start, when pandas is installed); the publish
    path passes these instead."""
    return literal_array(value, kind)[0]


def literal_array(value: str | bytes | int, kind: pa.DataType | None = None) -> pa.Array:
    """The one-element array of `literal` (bytes: binary)."""
    if isinstance(value, bytes):
        return packed.bytes_array(value, pa.binary())
    if isinstance(value, str):
        return packed.bytes_array(value.encode(), pa.string())
    number = pa.Array.from_buffers(pa.int64(), 1, [None, pa.py_buffer(struct.pack("<q", value))])
    return number if kind is None else pc.cast(number, kind)


def join(
    parts: Sequence[pa.Array | pa.Scalar | str], separator: str = "", null: str | None = NULL
) -> pa.Array:
    """Concatenate pieces row by row, writing null pieces as `null` (`null=None`: a null
    piece makes a null row). Plain strings are passed as `literal`s (no pandas import)."""
    parts = [literal(p) if isinstance(p, str) else p for p in parts]
    if null is None:
        return pc.binary_join_element_wise(*parts, literal(separator))
    return pc.binary_join_element_wise(
        *parts, literal(separator), null_handling="replace", null_replacement=null
    )


def encode_column(values: pa.Array, kind: str) -> pa.Array:
    """JSON text of every value of one feature column (nulls as `null`)."""
    return pc.fill_null(column_text(values, kind), NULL)


def record_items(
    batch: pa.RecordBatch, features: Sequence[tuple[str, str]], *, created: bool = False
) -> tuple[list[pa.Array], pa.Array]:
    """The elements of `[event_at_us,f1,...]` (text columns, nulls for `null`) for every row,
    with `created` the load delay from CREATED_AT last, and each record's length in bytes
    (brackets and commas included)."""
    event = _timestamp_us(batch.column(EVENT_AT))
    items = [pc.cast(event, pa.string())]
    for name, kind in features:
        try:
            items.append(column_text(batch.column(name), kind))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise OnlineStoreError(f"feature {name} cannot be encoded as {kind}: {exc}") from None
    if created:
        delay = pc.subtract(_timestamp_us(batch.column(CREATED_AT)), event)
        items.append(pc.cast(delay, pa.string()))
    length = pa.scalar(len(items) + 1, pa.int32())  # "[", "]" and len(items) - 1 commas
    for item in items:
        length = pc.add(length, pc.fill_null(pc.binary_length(item), len(NULL)))
    return items, length


def tombstone_length(created: bool) -> int:
    """Elements of a tombstone (event_at, and the load delay when the view has a created
    timestamp); a record of a view with features always has more."""
    return 2 if created else 1


def with_tombstones(
    items: Sequence[pa.Array], batch: pa.RecordBatch, expired: pa.Array, created: bool
) -> tuple[list[pa.Array], pa.Array]:
    """The record bodies (one text item per row) with the `expired` rows' replaced by their
    tombstones, and each record's length in bytes (brackets included)."""
    body = items[0] if len(items) == 1 else join(items, ",")
    event = _timestamp_us(batch.column(EVENT_AT))
    parts = [pc.cast(event, pa.string())]
    if created:
        parts.append(pc.subtract(_timestamp_us(batch.column(CREATED_AT)), event))
    tombstone = join([pc.cast(p, pa.string()) for p in parts], ",") if created else parts[0]
    body = pc.if_else(expired, tombstone, body)
    return [body], pc.add(pc.binary_length(body), 2)


def encode_records(
    batch: pa.RecordBatch, features: Sequence[tuple[str, str]], *, created: bool = False
) -> pa.Array:
    """`[event_at_us,f1,...]` for every row of `batch` (rows with null event_at not allowed)."""
    items, _ = record_items(batch, features, created=created)
    return pc.binary_join_element_wise("[", join(items, ","), "]", "")


def event_us(batch: pa.RecordBatch) -> pa.Array:
    return _timestamp_us(batch.column(EVENT_AT))


# --- decoding (read path): one json.loads per record, then per-type conversion ---


def from_epoch_us(us: int) -> datetime:
    return _EPOCH + timedelta(0, 0, us)  # positional: 2.5x faster than microseconds=us


def from_epoch_us_many(us: Sequence[int]) -> list[datetime]:
    """`from_epoch_us` of each, in C loops (no Python call per value); from a few values on
    by numpy, whose datetime64[us] `tolist` makes the same naive datetimes 5x faster (within
    datetime's range: beyond it numpy would give ints, so those go the other way and fail)."""
    if len(us) >= _NUMPY_FROM and min(us) >= _MIN_US and max(us) <= _MAX_US:
        return np.array(us, dtype="datetime64[us]").tolist()
    return list(map(_EPOCH.__add__, map(timedelta, repeat(0), repeat(0), us)))


def to_epoch_us(ts: datetime) -> int:
    delta = naive_utc(ts) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_NUMPY_FROM = 8  # values from which numpy makes the datetimes (slower for a few)
_MIN_US, _MAX_US = -62135596800000000, 253402300799999999  # datetime.min, datetime.max


def _naive_utc(ts: datetime) -> datetime:
    offset = ts.utcoffset() or timedelta(0)
    return (ts - offset).replace(tzinfo=None)


def naive_utc(ts: datetime) -> datetime:
    """`ts` as a naive UTC datetime (naive input is taken to be UTC already)."""
    return ts if ts.tzinfo is None else _naive_utc(ts)


def decode_records(records: Sequence[bytes | None]) -> list[list[Any] | None]:
    """Parse many records (None = missing) with one parse of `[rec,rec,null,...]`: orjson
    (4-10x faster), or json when orjson refuses the text (NaN, infinities, lone surrogates)."""
    blob = b"[" + b",".join(b"null" if r is None else r for r in records) + b"]"
    try:
        return orjson.loads(blob)
    except orjson.JSONDecodeError:
        return json.loads(blob)


# --- a generation's encoding: how its records are written and read ---


@dataclass(frozen=True)
class Codec:
    """The encoding of one generation's records: `name` (the metadata's `encoding`) and, for
    msgpack, `base_us` (its `event_base`: event times are stored relative to it)."""

    name: str = JSON
    base_us: int = 0

    @classmethod
    def starting(cls, as_of: datetime, name: str = ENCODING) -> Codec:
        """A new generation's: event times relative to its as-of's second."""
        base = to_epoch_us(as_of) // 1_000_000 * 1_000_000
        return cls(name, base if name == packed.NAME else 0)

    @classmethod
    def stored(
        cls, encoding: str | bytes | None, event_base: str | bytes | None, where: str
    ) -> Codec:
        """A stored generation's, from its metadata fields as Redis returns them (no
        `encoding`: json-array-v1)."""
        if isinstance(encoding, bytes):
            encoding = encoding.decode()
        name = encoding or ENCODINGS[0]
        if name not in ENCODINGS:
            raise OnlineStoreError(
                f"{where} is stored as {name}, which this featurehouse does not read "
                f"({', '.join(ENCODINGS)}): upgrade it, or rerun `featurehouse sync` with this one"
            )
        return cls(name, int(event_base or 0))

    @property
    def binary(self) -> bool:
        """msgpack: each record is one binary item (else JSON text items, joined by `,`)."""
        return self.name == packed.NAME

    def meta(self) -> dict[str, str]:
        """The metadata fields that name it."""
        return {"encoding": self.name, "event_base": str(self.base_us)}

    def encode(
        self, batch: pa.RecordBatch, features: Sequence[tuple[str, str]], created: bool
    ) -> tuple[list[pa.Array], pa.Array]:
        """Each row's record as items (JSON: its elements; msgpack: the record), and each
        record's length in bytes."""
        if not self.binary:
            return record_items(batch, features, created=created)
        if packed_c.c_encodable([kind for _, kind in features]):
            return self._encode_c(batch, features, created)
        parts = [packed.tagged_slots(event_us(batch), self.base_us)]
        parts += _feature_parts(batch, features, packed.column_part)
        if created:
            parts.append(packed.tagged_slots(_delay_us(batch)))
        record = packed.records(parts, batch.num_rows)
        return [record], pc.binary_length(record)

    def _encode_c(
        self, batch: pa.RecordBatch, features: Sequence[tuple[str, str]], created: bool
    ) -> tuple[list[pa.Array], pa.Array]:
        """`encode`'s msgpack records, written by the C extension (packed_c.records_c)."""
        columns = _feature_parts(batch, features, packed_c.c_column)
        delay = _delay_us(batch) if created else None
        record = packed_c.records_c(event_us(batch), self.base_us, columns, delay, batch.num_rows)
        return [record], pc.binary_length(record)

    def tombstoned(
        self, items: Sequence[pa.Array], batch: pa.RecordBatch, expired: pa.Array, created: bool
    ) -> tuple[list[pa.Array], pa.Array]:
        """The records with the `expired` rows' replaced by their tombstones."""
        if not self.binary:
            return with_tombstones(items, batch, expired, created)
        parts = [packed.tagged_slots(event_us(batch), self.base_us)]
        if created:
            parts.append(packed.tagged_slots(_delay_us(batch)))
        record = pc.if_else(expired, packed.records(parts, batch.num_rows), items[0])
        return [record], pc.binary_length(record)

    def decode(self, records: Sequence[bytes | None]) -> list[list[Any] | None]:
        """Records (None = missing) as lists, each one's event_at epoch µs first."""
        if self.binary:
            return packed.unpack(records, self.base_us)
        return decode_records(records)


def _feature_parts(
    batch: pa.RecordBatch, features: Sequence[tuple[str, str]], part: Callable[[Any, str], Any]
) -> list[Any]:
    """`part(column, kind)` of each feature; a column its kind cannot take: a one-line error."""
    parts = []
    for name, kind in features:
        try:
            parts.append(part(batch.column(name), kind))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise OnlineStoreError(f"feature {name} cannot be encoded as {kind}: {exc}") from None
    return parts


def _delay_us(batch: pa.RecordBatch) -> pa.Array:
    return pc.subtract(_timestamp_us(batch.column(CREATED_AT)), event_us(batch))


JSON_RECORDS = Codec()  # json-array-v2 (what a generation without `event_base` reads as)
