"""The record encoding, key hashing and RESP building, column-wise against Python references."""

from __future__ import annotations

import json
import math
import struct
import zlib
from datetime import datetime

import hiredis
import msgpack
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from featurehouse.online import packed
from featurehouse.online.encoding import (
    CREATED_AT,
    EVENT_AT,
    Codec,
    decode_records,
    encode_column,
    encode_records,
    json_escape,
    record_items,
    to_epoch_us,
)
from featurehouse.online.keys import canonical_key, canonical_key_array
from featurehouse.online.redis import layout, resp
from hypothesis import given, settings
from hypothesis import strategies as st
from online_support import ALL_TYPES, schema

pytestmark = pytest.mark.fast
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(st.lists(TEXT, max_size=50))
def test_crc32_array_matches_zlib(texts: list[str]) -> None:
    got = layout.crc32_array(pa.array(texts, pa.string())).to_pylist()
    assert got == [zlib.crc32(t.encode()) for t in texts]


def test_crc32_array_of_a_sliced_array() -> None:
    texts = pa.array(["a", "bb", "42", "héllo", ""]).slice(1, 3)
    assert layout.crc32_array(texts).to_pylist() == [
        zlib.crc32(t.encode()) for t in texts.to_pylist()
    ]


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.none(), max_size=60))
def test_float_text_round_trips_exactly(values: list[float | None]) -> None:
    text = encode_column(pa.array(values, pa.float64()), "float64").to_pylist()
    back = [json.loads(t) for t in text]
    for v, b in zip(values, back, strict=True):
        if v is None:
            assert b is None
        elif math.isnan(v):
            assert math.isnan(b)
        else:
            assert isinstance(b, float)  # integral values are written `3.0`, never `3`
            assert struct.pack("<d", b) == struct.pack("<d", v)  # bit-exact, -0.0 too


@settings(max_examples=30)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=2000))
def test_random_bit_patterns_round_trip(bits: list[int]) -> None:
    values = [struct.unpack("<d", struct.pack("<Q", b))[0] for b in bits]
    text = encode_column(pa.array(values, pa.float64()), "float64").to_pylist()
    for v, t in zip(values, text, strict=True):
        b = float(json.loads(t))
        assert (math.isnan(v) and math.isnan(b)) or struct.pack("<d", b) == struct.pack("<d", v)


@given(st.lists(TEXT, max_size=30))
def test_json_escape_matches_json_dumps(texts: list[str]) -> None:
    got = json_escape(pa.array(texts, pa.string())).to_pylist()
    assert got == [json.dumps(t, ensure_ascii=False)[1:-1] for t in texts]


@given(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), TEXT), max_size=30))
def test_composite_canonical_key_column_wise_equals_row_wise(rows: list[tuple[int, str]]) -> None:
    s = schema(keys=(("shop_id", "int64"), ("country", "string")))
    b = pa.record_batch(
        {
            "shop_id": pa.array([r[0] for r in rows], pa.int64()),
            "country": pa.array([r[1] for r in rows], pa.string()),
        }
    )
    got = canonical_key_array(s, b).to_pylist()
    assert got == [canonical_key(s, {"shop_id": i, "country": c}) for i, c in rows]


def test_list_and_other_types_encode_as_json() -> None:
    lists = pa.array([[1.5, None, -0.0], [], None, [float("nan")]], pa.list_(pa.float64()))
    assert encode_column(lists.slice(1), "list<float64>").to_pylist() == ["[]", "null", "[NaN]"]
    assert encode_column(lists, "list<float64>")[0].as_py() == "[1.5,null,-0.0]"
    assert encode_column(pa.array([True, None]), "bool").to_pylist() == ["true", "null"]
    ts = pa.array([0, 1_700_000_000_123_456], pa.timestamp("us"))
    assert encode_column(ts, "timestamp").to_pylist() == ["0", "1700000000123456"]
    parsed = decode_records([b'[1,"a\\"b",NaN,3.0]', None])
    assert parsed[0][1] == 'a"b' and math.isnan(parsed[0][2]) and parsed[1] is None
    assert isinstance(parsed[0][3], float)


def test_resp_payload_parses_to_one_hset_per_bucket() -> None:
    buckets = pa.array([3, 3, 7], pa.uint32())
    fields = pa.array(["1", "22", "é"])
    items = [pa.array(["0", "0", "0"]), pa.array(["1", "2", None])]
    length = pa.array([5, 5, 8], pa.int32())
    header = resp.hset_header(lambda b: layout.data_key_array("p:d:v:v1:g1:", "c", b, 4))
    data, commands = resp.payload(buckets, fields, items, length, header)
    reader = hiredis.Reader()
    reader.feed(b"".join(bytes(d) for d in data))
    # hiredis parses requests like replies: both are arrays of bulk strings
    first, second = reader.gets(), reader.gets()
    assert commands == 2 and reader.gets() is False
    assert first == [b"HSET", b"p:d:v:v1:g1:{c:3}:3", b"1", b"[0,1]", b"22", b"[0,2]"]
    assert second == [b"HSET", b"p:d:v:v1:g1:{c:3}:7", "é".encode(), b"[0,null]"]


def test_resp_payload_of_binary_records() -> None:
    """msgpack records go as they are (no brackets), bytes that are not UTF-8 included."""
    buckets = pa.array([3, 3, 7], pa.uint32())
    fields = pa.array(["1", "22", "é"])
    records = pa.array([b"\x92\x01\xcb" + bytes(8), b"\x91\xff", b"\x90"], pa.binary())
    header = resp.hset_header(lambda b: layout.data_key_array("p:d:v:v1:g1:", "c", b, 4))
    lengths = pc.binary_length(records)
    data, commands = resp.payload(buckets, fields, [records], lengths, header, binary=True)
    reader = hiredis.Reader()
    reader.feed(b"".join(bytes(d) for d in data))
    first, second = reader.gets(), reader.gets()
    assert commands == 2 and reader.gets() is False
    rec = records.to_pylist()
    assert first == [b"HSET", b"p:d:v:v1:g1:{c:3}:3", b"1", rec[0], b"22", rec[1]]
    assert second == [b"HSET", b"p:d:v:v1:g1:{c:3}:7", "é".encode(), rec[2]]


def test_buckets_are_a_multiple_of_the_tag_groups() -> None:
    assert layout.choose_buckets(0) == layout.TAGS
    assert layout.choose_buckets(1_000_000) == 32_768
    assert 1_000_000 / layout.choose_buckets(1_000_000) <= layout.TARGET_PER_BUCKET
    key = layout.data_key("fh:d:feat_x:v2:g7:", "customer", 5243)
    assert key == "fh:d:feat_x:v2:g7:{customer:123}:5243"


@given(st.lists(st.tuples(TEXT | st.none(), st.floats() | st.none()), min_size=1, max_size=30))
def test_record_lengths_are_byte_lengths(rows: list[tuple[str | None, float | None]]) -> None:
    b = pa.record_batch(
        {
            "__event_at": pa.array([0] * len(rows), pa.timestamp("us")),
            "s": pa.array([r[0] for r in rows], pa.string()),
            "f": pa.array([r[1] for r in rows], pa.float64()),
        }
    )
    _, length = record_items(b, [("s", "string"), ("f", "float64")])
    records = encode_records(b, [("s", "string"), ("f", "float64")])
    assert length.to_pylist() == [len(r.encode()) for r in records.to_pylist()]
    assert [json.loads(r)[1] for r in records.to_pylist()] == [r[0] for r in rows]


def _bits(value: object) -> object:
    """A decoded value with floats as their bit patterns (NaN == NaN, -0.0 != 0.0)."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, list):
        return [_bits(v) for v in value]
    return value


def _nan(value: object) -> object:
    """`_bits`, every NaN alike."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list):
        return [_nan(v) for v in value]
    return _bits(value)


FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.none()
STAMPS = st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)) | st.none()
ROW = st.tuples(
    st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)),
    FLOATS,
    st.integers(-(2**63), 2**63 - 1) | st.none(),
    TEXT | st.none(),
    st.booleans() | st.none(),
    STAMPS,
    st.lists(FLOATS, max_size=4) | st.none(),
)
KINDS = ALL_TYPES


def _table(rows: list[tuple]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    types = [pa.timestamp("us"), pa.float64(), pa.int64(), pa.string(), pa.bool_()]
    types += [pa.timestamp("us"), pa.list_(pa.float64())]
    names = [EVENT_AT, *(name for name, _ in KINDS)]
    table = pa.table([pa.array(c, t) for c, t in zip(columns, types, strict=True)], names=names)
    return table.append_column(CREATED_AT, table.column("t"))  # any timestamps, nulls too


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=40), st.integers(-(2**33), 2**33))
def test_msgpack_records_are_msgpacks_and_decode_as_the_json_records(
    rows: list[tuple], base_s: int
) -> None:
    """Each msgpack record decodes to its row's values bit for bit (NaN payloads too), and to
    the JSON record's values (whose NaN is the canonical one), event_at (epoch µs) first;
    every element is in msgpack's shortest form."""
    table = _table(rows)
    batch = table.to_batches()[0]
    codec = Codec(packed.NAME, base_s * 1_000_000)
    [records], lengths = codec.encode(batch, KINDS, True)
    got = codec.decode(records.to_pylist())
    texts = encode_records(batch, KINDS, created=True).to_pylist()
    want = decode_records([r.encode() for r in texts])
    us = to_epoch_us
    given_rows = [[us(e), f, i, t, b, s and us(s), xs] for e, f, i, t, b, s, xs in rows]
    assert [_bits(r[:-1]) for r in got] == [_bits(r) for r in given_rows]
    assert [_nan(r[:-1]) for r in got] == [_nan(r[:-1]) for r in want]
    delays = [None if r[-1] is None else packed.untagged(r[-1]) for r in got]
    assert delays == [r[-1] for r in want]
    assert lengths.to_pylist() == [len(r) for r in records.to_pylist()]
    for raw in records.to_pylist():
        assert raw == msgpack.packb(msgpack.unpackb(raw))  # every element in its shortest form


@given(st.integers(-(2**52), 2**52), st.integers(-(2**40), 2**40))
def test_tagged_times_round_trip(us: int, base_s: int) -> None:
    """Tagged times (`4 * n + code`, n in µs, ms, s or minutes) give back the µs; whole
    seconds within 17 years of the base take 5 bytes, within 9 hours 3."""
    base = base_s * 1_000_000
    [tag] = packed.tagged(np.array([us + base]), base).tolist()
    assert packed.untagged(tag) == us
    if us % 1_000_000 == 0 and abs(us) < 2**29 * 1_000_000:
        assert len(msgpack.packb(tag)) <= (3 if abs(us) < 2**13 * 1_000_000 else 5)


def test_msgpack_tombstones() -> None:
    """Expired rows are `[<event>]`, `[<event>, <load delay>]` with a created timestamp."""
    rows = [(datetime(2026, 1, 1, 0, 0, 1), 1.5, 1, "a", True, None, [1.0])] * 2
    batch = _table(rows).to_batches()[0]
    codec = Codec.starting(datetime(2026, 1, 1))
    expired = pa.array([True, False])
    for created in (False, True):
        items, _ = codec.encode(batch, KINDS, created)
        [records], lengths = codec.tombstoned(items, batch, expired, created)
        tomb, full = codec.decode(records.to_pylist())
        assert tomb == [1_767_225_601_000_000, *([None] if created else [])]  # no created_at
        assert len(full) == 1 + len(KINDS) + created
        assert lengths[0].as_py() == len(records[0].as_py())
