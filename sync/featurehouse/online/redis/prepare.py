"""Chunks of a publish: re-batching, dropping rows without keys, encoding, sorting by bucket."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurehouse.ahead import read_ahead
from featurehouse.errors import OnlineStoreError
from featurehouse.online.clock import expired_mask
from featurehouse.online.encoding import (
    CREATED_AT,
    EVENT_AT,
    JSON_RECORDS,
    RECORD,
    Codec,
    event_us,
    literal,
)
from featurehouse.online.keys import canonical_key_array
from featurehouse.online.records import ViewSchema
from featurehouse.online.redis import layout


@dataclass
class Prepared:
    """One chunk, encoded and sorted by bucket."""

    buckets: pa.Array
    fields: pa.Array
    items: list[pa.Array]  # each row's record: its JSON elements, or its msgpack (Codec)
    record_length: pa.Array
    rows: int
    dropped: int
    max_record: int
    max_field: int
    expired: int = 0  # rows written as tombstones
    binary: bool = False  # items are whole msgpack records (Codec.binary)


@dataclass
class Progress:
    rows_received: int = 0
    dropped: int = 0
    max_record: int = 0
    max_field: int = 0
    expired: int = 0

    def add(self, p: Prepared) -> None:
        self.rows_received += p.rows
        self.dropped += p.dropped
        self.max_record = max(self.max_record, p.max_record)
        self.max_field = max(self.max_field, p.max_field)
        self.expired += p.expired


_FIELD, _BUCKET = "__field", "__bucket"  # columns bucket_sorted adds for prepare
# Rows a full publish sorts by bucket at a time: its memory is about this many rows (with
# their records) whatever the view's size; beyond it a bucket gets one HSET per group.
GROUP_ROWS = 1_048_576
ENCODE_AHEAD = 2  # batches a full publish's encoding thread may be ahead
ENCODE_ROWS = 131_072  # rows it encodes at a time


def _checked(schema: ViewSchema, batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch's columns a publish needs: keys, EVENT_AT, then the record's other columns
    (features, created timestamp) or the msgpack record itself (RECORD, from `encoded`)."""
    encoded = RECORD in batch.schema.names
    created = [CREATED_AT] if schema.created else []  # tombstones keep the load delay
    rest = [RECORD, *created] if encoded else schema.record_columns
    need = [*schema.keys, EVENT_AT, *rest]
    missing = [c for c in need if c not in batch.schema.names]
    if missing:
        raise OnlineStoreError(
            f"{schema.view} v{schema.version}: batch lacks columns {missing}; "
            f"expected keys, {EVENT_AT} and features"
        )
    return batch.select(need)


def chunks(
    schema: ViewSchema, batches: Iterable[pa.RecordBatch], chunk_rows: int
) -> Iterator[pa.RecordBatch]:
    """Re-chunk the incoming batches to about `chunk_rows` rows, checking the columns.

    Batches carry either the features or their msgpack records (column RECORD, `encoded`)."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        pending.append(_checked(schema, batch))
        size += batch.num_rows
        if size >= chunk_rows:
            combined = _combine(pending)
            pending, size = [], 0  # only the combined copy is held while it is used
            yield combined
            del combined  # not held while the next one is gathered
    if size:
        last, pending = _combine(pending), []  # the pieces are not held beside their copy
        yield last


def bucket_sorted(
    schema: ViewSchema,
    batches: Iterable[pa.RecordBatch],
    buckets: int,
    chunk_rows: int,
    group_rows: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """The rows of `batches` in groups of about `group_rows`, each group ordered by bucket,
    in chunks of `chunk_rows`, columns checked.

    Every bucket then arrives in one HSET per group of ~TARGET_PER_BUCKET entities instead of
    one small HSET per chunk: Redis spends a quarter less CPU on a full publish and the
    chunks need no sorting of their own. Holds one group (not the source) in memory, so a
    publish's memory does not grow with the entities: the last group is let go before the
    next one is gathered."""
    groups = chunks(schema, batches, group_rows or GROUP_ROWS)
    while (group := next(groups, None)) is not None:
        ordered = _sorted_group(schema, group, buckets, chunk_rows)
        del group  # held by `ordered` until it is done, then freed before the next is read
        yield from ordered


def _sorted_group(
    schema: ViewSchema, batch: pa.RecordBatch, buckets: int, chunk_rows: int
) -> Iterator[pa.RecordBatch]:
    """One group's rows ordered by bucket, chunk by chunk."""
    fields = canonical_key_array(schema, batch.select(list(schema.keys)))
    if fields.null_count:
        fields = pc.fill_null(fields, literal(""))  # rows with null keys: dropped by `prepare`
    bucket = layout.to_numpy(layout.bucket_array(layout.crc32_array(fields), buckets))
    # A stable argsort of 16-bit values is a radix sort in numpy: ~6x pc.sort_indices.
    order = np.argsort(bucket.astype(np.uint16) if buckets <= 1 << 16 else bucket, kind="stable")
    batch = batch.append_column(_FIELD, fields).append_column(_BUCKET, layout.from_numpy(bucket))
    for start, stop in _cuts(bucket[order], chunk_rows):  # gathered chunk by chunk, while sending
        yield batch.take(layout.from_numpy(order[start:stop]))


def _cuts(ordered: np.ndarray, chunk_rows: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of chunks of about `chunk_rows` of the bucket-ordered rows, each cut where
    the bucket changes: a bucket arrives whole in one chunk (one HSET, or one RESTORE)."""
    n, start = len(ordered), 0
    while start < n:
        stop = min(start + chunk_rows, n)
        if stop < n:  # on to the end of the bucket the cut falls in
            stop = int(np.searchsorted(ordered, ordered[stop - 1], side="right"))
        yield start, stop
        start = stop


def _combine(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches).combine_chunks()
    return table.to_batches(max_chunksize=table.num_rows)[0]


def prepare(
    schema: ViewSchema,
    batch: pa.RecordBatch,
    buckets: int,
    window_us: int | None = None,
    codec: Codec = JSON_RECORDS,
) -> Prepared:
    """Drop rows without key or event_at, sort by bucket, encode with `codec`; rows with an
    event before `window_us` (the TTL window's start at the writer's clock) become
    tombstones."""
    rows = batch.num_rows
    valid = pc.is_valid(batch.column(EVENT_AT))
    for name in schema.keys:
        valid = pc.and_(valid, pc.is_valid(batch.column(name)))
    if not pc.all(valid).as_py():
        batch = batch.filter(valid)
    if _BUCKET in batch.schema.names:  # from bucket_sorted
        fields, bucket = batch.column(_FIELD), batch.column(_BUCKET)
    else:
        fields = canonical_key_array(schema, batch)
        bucket = layout.bucket_array(layout.crc32_array(fields), buckets)
    if not _ascending(bucket):
        order = pc.sort_indices(bucket)
        batch = batch.take(order)  # sorting the inputs is cheaper than sorting the records
        bucket, fields = pc.take(bucket, order), pc.take(fields, order)
    items, length, expired = _encode(schema, batch, window_us, codec)
    n = batch.num_rows
    return Prepared(
        buckets=bucket,
        fields=fields,
        items=items,
        record_length=length,
        rows=rows,
        dropped=rows - n,
        max_record=(pc.max(length).as_py() or 0) if n else 0,
        max_field=(pc.max(pc.binary_length(fields)).as_py() or 0) if n else 0,
        expired=expired,
        binary=codec.binary,
    )


def _encode(
    schema: ViewSchema, batch: pa.RecordBatch, window_us: int | None, codec: Codec
) -> tuple[list[pa.Array], pa.Array, int]:
    """Each row's record as items, their lengths, and how many are tombstones."""
    if RECORD in batch.schema.names:  # whole msgpack records (`encoded`)
        inner = batch.column(RECORD)
        if not (codec.binary and pa.types.is_binary(inner.type)):
            raise OnlineStoreError(
                f"{schema.view} v{schema.version}: the batches carry binary records ({RECORD}) "
                f"but the generation's encoding is {codec.name}: pass the features"
            )
        items, length = [inner], pc.binary_length(inner)
    else:
        features = [(f.name, f.type) for f in schema.features]
        items, length = codec.encode(batch, features, schema.created)
    if window_us is None or not batch.num_rows:
        return items, length, 0
    expired = expired_mask(event_us(batch), window_us)
    count = pc.sum(expired).as_py() or 0
    if count:
        items, length = codec.tombstoned(items, batch, expired, schema.created)
    return items, length, count


def encoded(
    schema: ViewSchema, batches: Iterable[pa.RecordBatch], codec: Codec
) -> Iterator[pa.RecordBatch]:
    """The batches with each row's binary record (column RECORD) in place of its features,
    encoded in a thread of its own a few batches ahead (numpy and Arrow release the GIL), so
    that a full publish encodes while it sorts and sends; as they are unless `codec.binary`."""
    if not codec.binary:
        yield from batches
        return
    features = [(f.name, f.type) for f in schema.features]

    def encode() -> Iterator[pa.RecordBatch]:
        for checked in chunks(schema, batches, ENCODE_ROWS):  # numpy's calls on many rows
            [record], _ = codec.encode(checked, features, schema.created)
            framing = [*schema.keys, EVENT_AT, *([CREATED_AT] if schema.created else [])]
            yield checked.select(framing).append_column(RECORD, record)

    with contextlib.closing(read_ahead(encode(), ENCODE_AHEAD, "featurehouse-encode")) as ahead:
        yield from ahead


def _ascending(values: pa.Array) -> bool:
    """Already in order (as `bucket_sorted` hands them)?"""
    v = layout.to_numpy(values)
    return bool(np.all(v[1:] >= v[:-1]))
