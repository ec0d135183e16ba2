"""The C extension (online/redis/_speedups.c) does exactly what the Python path does: a read's
HGET commands (the same keys and bytes), and the usual answer, on records the encoder writes
(found or not, tombstones, expired, any feature selection) and on damaged ones, where it must
leave the answer (or the failure) to the Python path."""

from __future__ import annotations

import zlib
from datetime import datetime

import numpy as np
import pyarrow as pa
import pytest
from featurehouse.online import ReadRequest, packed, packed_c
from featurehouse.online.encoding import CREATED_AT, EVENT_AT, Codec, to_epoch_us
from featurehouse.online.redis import answer as answer_module
from featurehouse.online.redis import layout, prepare, read, restore
from featurehouse.online.redis.answer import Clock, answer
from featurehouse.online.redis.read import HGets, ViewMeta
from featurehouse.online.redis.resp import pack
from hypothesis import given, settings
from hypothesis import strategies as st
from online_support import schema

pytestmark = pytest.mark.fast


@pytest.fixture(autouse=True)
def _built() -> None:
    """`make test` needs a C compiler, as it needs Redis: these fail, naming the fix."""
    built = (read._hget_round, read._key_texts, answer_module._present, restore._restore_payload)
    if any(f is None for f in built) or packed_c._pack_records() is None:
        pytest.fail(
            "the reads' C extension (featurehouse.online.redis._speedups) is not built: install "
            "a C compiler (`make services`, or apt-get install gcc) and run `make setup` again",
            pytrace=False,
        )


KINDS = (("f", "float64"), ("i", "int64"), ("s", "string"), ("b", "bool"), ("l", "list<float64>"))
WITH_TIMESTAMP = (*KINDS, ("t", "timestamp"))  # the C path leaves these to Python
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
FLOATS = st.floats(allow_nan=False) | st.none()  # NaN != NaN: compared apart (below)
EVENTS = st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1))
ROW = st.tuples(
    EVENTS,
    FLOATS,
    st.integers(-(2**63), 2**63 - 1) | st.none(),
    TEXT | st.none(),
    st.booleans() | st.none(),
    st.lists(FLOATS, max_size=4) | st.none(),
    EVENTS | st.none(),
)
AS_OF = datetime(2026, 5, 1)


def _records(rows: list[tuple], kinds: tuple, created: bool, codec: Codec) -> list[bytes]:
    columns = list(zip(*rows, strict=True))
    types = [pa.timestamp("us"), pa.float64(), pa.int64(), pa.string(), pa.bool_()]
    types += [pa.list_(pa.float64()), pa.timestamp("us")]
    names = [EVENT_AT, "f", "i", "s", "b", "l", "t"]
    table = pa.table([pa.array(c, t) for c, t in zip(columns, types, strict=True)], names=names)
    if created:
        table = table.append_column(CREATED_AT, table.column("t"))
    [records], _ = codec.encode(table.to_batches()[0], kinds, created)
    return records.to_pylist()


def _both(req: ReadRequest, meta: ViewMeta, records: list, clock: Clock) -> tuple:
    """The answer (or the error's type and text) with the C decoder and without it."""
    out = []
    for c in (answer_module._present, None):
        saved, answer_module._present = answer_module._present, c
        meta.picks.clear()
        try:
            out.append(answer(req, meta, records, clock))
        except Exception as exc:
            out.append((type(exc), str(exc)))
        finally:
            answer_module._present = saved
    return tuple(out)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(ROW, min_size=1, max_size=30),
    base_s=st.integers(-(2**33), 2**33),
    ttl=st.none() | st.integers(1, 200 * 365 * 86400),
    created=st.booleans(),
    timestamps=st.booleans(),
    asked=st.none() | st.lists(st.sampled_from([n for n, _ in WITH_TIMESTAMP]), max_size=8),
    gone=st.sets(st.integers(0, 29), max_size=2),  # often none: the usual answer
    tomb=st.sets(st.integers(0, 29), max_size=2),
    damage=st.none() | st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
)
def test_the_c_answer_is_the_python_answer(
    rows: list[tuple],
    base_s: int,
    ttl: int | None,
    created: bool,
    timestamps: bool,
    asked: list[str] | None,
    gone: set[int],
    tomb: set[int],
    damage: tuple[int, int] | None,
) -> None:
    kinds = WITH_TIMESTAMP if timestamps else KINDS
    if asked is not None:
        asked = [n for n in asked if n in dict(kinds)]
    codec = Codec(packed.NAME, base_s * 1_000_000)
    records: list = _records(rows, kinds, created, codec)
    tombstones = _tombstones(rows, kinds, created, codec)
    for i in range(len(records)):
        if i in tomb:
            records[i] = tombstones[i]
        if i in gone:
            records[i] = None
    if damage is not None and records[damage[0] % len(records)] is not None:
        i = damage[0] % len(records)
        raw = bytearray(records[i])
        raw[damage[0] % len(raw)] = damage[1]
        records[i] = bytes(raw)
    view = schema(features=kinds, ttl=ttl, created=created)
    meta = ViewMeta("v1", 1, view, "as_of", to_epoch_us(AS_OF), "fh", 1, 1, codec)
    req = ReadRequest(view.view, view.version, tuple(asked) if asked is not None else None)
    with_c, python = _both(req, meta, records, Clock(None, 0))
    assert _comparable(with_c) == _comparable(python)


def _tombstones(rows: list[tuple], kinds: tuple, created: bool, codec: Codec) -> list[bytes]:
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        [pa.array(columns[0], pa.timestamp("us")), pa.array(columns[6], pa.timestamp("us"))],
        names=[EVENT_AT, CREATED_AT],
    )
    batch = table.to_batches()[0]
    records = _records(rows, kinds, created, codec)
    expired = pa.array([True] * len(rows))
    [out], _ = codec.tombstoned([pa.array(records, pa.binary())], batch, expired, created)
    return out.to_pylist()


def _comparable(result: object) -> object:
    """A result with its values' types kept (True == 1 otherwise) and NaN made comparable."""
    if isinstance(result, tuple):  # an error
        return result
    values = [[_typed(v) for v in row] for row in result.values]
    return (values, result.statuses, result.event_at, result.features, result.types)


def _typed(value: object) -> object:
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    return (type(value).__name__, value)


def test_the_usual_answer_takes_the_c_path() -> None:
    """Found, fresh records of a view without timestamp features: no msgpack.unpackb."""
    rows = [(datetime(2026, 4, 30, 12), 1.5, 7, "GB", True, [1.0, None], None)] * 3
    codec = Codec.starting(AS_OF)
    records = _records(rows, KINDS, False, codec)
    view = schema(features=KINDS, ttl=86400)
    meta = ViewMeta("v1", 1, view, "as_of", to_epoch_us(AS_OF), "fh", 1, 1, codec)
    req = ReadRequest(view.view, view.version)
    calls = []
    real = answer_module._present
    answer_module._present = lambda *a: calls.append(1) or real(*a)
    try:
        got = answer(req, meta, records, Clock(None, 0))
    finally:
        answer_module._present = real
    assert calls == [1]
    assert got.values == ((1.5, 7, "GB", True, [1.0, None]),) * 3
    assert got.statuses == (("present",) * 5,) * 3
    assert got.event_at == (datetime(2026, 4, 30, 12),) * 3
    assert answer_module._usual(records, codec, answer_module._picks(req, meta), None) is not None


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(TEXT, max_size=40),
    prefix=st.sampled_from(["fh:d:feat_customer__orders:v1:g3:", "é:d:v:", ""]),
    entity=st.sampled_from(["customer", "país"]),
    buckets_log=st.integers(0, 15),
    tags_log=st.integers(0, 6),
    keep=st.booleans(),
)
def test_the_c_commands_are_the_python_commands(
    texts: list[str], prefix: str, entity: str, buckets_log: int, tags_log: int, keep: bool
) -> None:
    """Each text's data key (its bucket by zlib's CRC-32) and `HGET <key> <text>` as hiredis
    packs it, non-ASCII text included, with the bucket keys kept or made per read."""
    tags = 2**tags_log
    buckets = tags * 2**buckets_log
    meta = ViewMeta(
        "v1", 3, schema(entity=entity), "as_of", 0, prefix, buckets, tags, Codec.starting(AS_OF)
    )
    kept = layout.all_data_keys(prefix, entity, buckets, tags) if keep and buckets <= 4096 else None
    keys, resp = read._hget_round(texts, meta._slot_prefix, buckets, tags, kept)
    assert keys == meta.data_keys(texts)
    assert keys == [
        layout.data_key(prefix, entity, layout.crc32_py(t) % buckets, tags) for t in texts
    ]
    assert resp == pack(HGets(keys, texts))


KEY_VALUES = (
    st.integers(-(2**70), 2**70)
    | TEXT
    | st.booleans()
    | st.floats(allow_nan=False)
    | st.none()
    | st.binary(max_size=4)
)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(KEY_VALUES, max_size=30),
    kind=st.sampled_from(["int64", "string"]),
    missing=st.sets(st.integers(0, 29), max_size=2),
)
def test_the_c_key_texts_are_the_keyers(values: list, kind: str, missing: set[int]) -> None:
    """Each row's canonical key text as `keys.keyer` makes it (and the same refusal), the
    rows' values of any type, a row without the key among them."""
    meta = ViewMeta(
        "v1",
        1,
        schema(keys=(("customer_id", kind),)),
        "as_of",
        0,
        "fh",
        64,
        16,
        Codec.starting(AS_OF),
    )
    rows = [{} if i in missing else {"customer_id": v} for i, v in enumerate(values)]
    outcomes = []
    for c in (read._key_texts, None):
        saved, read._key_texts = read._key_texts, c
        try:
            outcomes.append(meta.key_texts(rows))
        except Exception as exc:
            outcomes.append((type(exc), str(exc)))
        finally:
            read._key_texts = saved
    assert outcomes[0] == outcomes[1]
    plain = [{"customer_id": 7 if kind == "int64" else "7"}] * 3
    assert read._key_texts(plain, "customer_id", kind == "int64") == ["7"] * 3  # the C path


C_KINDS = (*KINDS[:4], ("t", "timestamp"))  # what the C writer takes (lists: numpy's path)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(ROW, min_size=1, max_size=30),
    base_s=st.integers(-(2**33), 2**33),
    created=st.booleans(),
    offset=st.integers(0, 3),
)
def test_the_c_records_are_the_numpy_records(
    rows: list[tuple], base_s: int, created: bool, offset: int
) -> None:
    """The write path's C encoder (packed_c.records_c) writes every record byte for byte as
    the numpy path does: every type, nulls, extreme ints, any event base, sliced batches."""
    codec = Codec(packed.NAME, base_s * 1_000_000)
    columns = list(zip(*rows, strict=True))
    types = [pa.timestamp("us"), pa.float64(), pa.int64(), pa.string(), pa.bool_()]
    names = [EVENT_AT, "f", "i", "s", "b"]
    arrays = [pa.array(c, t) for c, t in zip(columns[:5], types, strict=True)]
    table = pa.table([*arrays, pa.array(columns[6], pa.timestamp("us"))], names=[*names, "t"])
    if created:
        table = table.append_column(CREATED_AT, table.column("t"))
    batch = table.to_batches()[0].slice(min(offset, len(rows) - 1))
    assert packed_c.c_encodable([k for _, k in C_KINDS])
    [with_c], length_c = codec.encode(batch, C_KINDS, created)
    saved, packed_c._PACK = packed_c._PACK, None
    try:
        [numpy], length = codec.encode(batch, C_KINDS, created)
    finally:
        packed_c._PACK = saved
    assert with_c.to_pylist() == numpy.to_pylist()
    assert length_c.to_pylist() == length.to_pylist()


def test_the_c_records_leave_lists_to_numpy() -> None:
    assert not packed_c.c_encodable(["float64", "list<float64>"])
    assert packed_c.c_encodable(["float64", "int64", "string", "bool", "timestamp"])


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(TEXT, max_size=60), start=st.integers(0, 5))
def test_the_c_crc32_is_zlibs(texts: list[str], start: int) -> None:
    array = pa.array(texts, pa.string()).slice(min(start, len(texts)))
    assert layout.crc32_array(array).to_pylist() == [
        zlib.crc32(t.encode()) for t in array.to_pylist()
    ]


@settings(max_examples=200, deadline=None)
@given(runs=st.lists(st.integers(1, 40), max_size=30), chunk=st.integers(1, 64))
def test_chunks_are_cut_between_buckets(runs: list[int], chunk: int) -> None:
    """Every row in one chunk, in order, and a bucket never split between two chunks."""
    ordered = np.repeat(np.arange(len(runs)), runs)
    cuts = list(prepare._cuts(ordered, chunk))
    assert [i for a, b in cuts for i in range(a, b)] == list(range(len(ordered)))
    for a, b in cuts:
        assert b > a
        assert b == len(ordered) or ordered[b - 1] != ordered[b]
        assert b - a < chunk + max(runs, default=0)


def test_a_run_holding_a_field_twice_is_left_to_hset() -> None:
    """HSET keeps a field's last value; a listpack must not hold it twice."""
    fields, records = pa.array(["1", "2", "1"], pa.binary()), pa.array(["a", "b", "c"], pa.binary())
    keys, texts = pa.array(["k"], pa.binary()), packed_c.text_buffers
    args = [np.array([3], np.int32), *texts(keys), *texts(fields)]
    assert restore._restore_payload(*args, *texts(records), 10) is None
    fine = pa.array(["1", "2", "3"], pa.binary())
    args = [np.array([3], np.int32), *texts(keys), *texts(fine)]
    assert restore._restore_payload(*args, *texts(records), 10).startswith(b"*4\r\n")
