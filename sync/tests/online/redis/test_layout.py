"""The Redis layout's key names and bucketing, and where `locate` says a view lives (pure)."""

from __future__ import annotations

import zlib

import pytest
import redis
from featurehouse.online.redis import RedisStore, layout

pytestmark = pytest.mark.fast


def test_control_keys_share_one_hash_tag() -> None:
    keys = [
        layout.meta_key("fh", "feat_x", 2),
        layout.views_key("fh"),
        layout.latest_key("fh"),
        layout.syncing_key("fh"),
        layout.retired_key("fh"),
        layout.seq_key("fh"),
    ]
    assert keys[0] == "fh:{ctl}:view:feat_x:v2"
    assert all(k.startswith("fh:{ctl}:") for k in keys)
    assert layout.meta_key("fh", "feat_x", None).endswith(":feat_x:unversioned")


def test_data_keys_are_named_from_metadata_alone() -> None:
    prefix = layout.data_prefix("fh", "feat_x", 1, 7)
    assert prefix == "fh:d:feat_x:v1:g7:"
    bucket = zlib.crc32(b"42") % 2048
    assert layout.bucket_of("42", 2048) == bucket
    assert layout.data_key(prefix, "customer", bucket) == (
        f"fh:d:feat_x:v1:g7:{{customer:{bucket % layout.TAGS}}}:{bucket}"
    )
    names = layout.all_data_keys(prefix, "customer", 2048, layout.TAGS)
    assert len(set(names)) == 2048 and layout.data_key(prefix, "customer", 5) in names


@pytest.mark.parametrize(
    ("rows", "buckets"), [(0, 1024), (32 * 1024, 1024), (32 * 1024 + 1, 2048), (10**6, 32768)]
)
def test_buckets_hold_at_most_target_entities(rows: int, buckets: int) -> None:
    assert layout.choose_buckets(rows) == buckets
    assert rows <= buckets * layout.TARGET_PER_BUCKET


def test_locate_names_the_meta_key_and_the_data_key_pattern() -> None:
    store = RedisStore(redis.Redis(port=1), "fh")  # never connects
    where = store.locate("feat_x", 1, "customer", 7)
    assert (where.view_id, where.metadata) == ("feat_x:v1", "fh:{ctl}:view:feat_x:v1")
    assert where.data == "fh:d:feat_x:v1:g7:{customer:*}:*"
    assert (
        store.locate("feat_x", None, "c", None).data
        == "fh:d:feat_x:unversioned:g<generation>:{c:*}:*"
    )


@pytest.mark.fast
def test_a_full_publish_sorts_bounded_groups_by_bucket() -> None:
    """bucket_sorted holds one group at a time: every row once, each group in bucket order."""
    from featurehouse.online.redis.prepare import _BUCKET, bucket_sorted
    from online_support import schema, simple_batch

    batches = [simple_batch(1000, tag=1).slice(i, 100) for i in range(0, 1000, 100)]
    chunks = list(bucket_sorted(schema(), batches, buckets=1024, chunk_rows=50, group_rows=300))
    ids = sorted(i for c in chunks for i in c.column("customer_id").to_pylist())
    assert ids == list(range(1000))
    buckets = [b for c in chunks for b in c.column(_BUCKET).to_pylist()]
    groups = [buckets[i : i + 300] for i in range(0, 1000, 300)]  # 300, 300, 300, 100 rows
    assert all(g == sorted(g) for g in groups) and buckets != sorted(buckets)


@pytest.mark.fast
def test_a_full_publish_holds_one_group_and_its_copy_at_most() -> None:
    """Arrow memory, sampled while a group is sent and while the next is gathered, stays
    under 1.75 groups: the last group is let go before the next is read (it was 1.9)."""
    import pyarrow as pa
    from featurehouse.online.redis.prepare import bucket_sorted
    from online_support import schema, simple_batch

    base, peak = pa.total_allocated_bytes(), [0]

    def sample() -> None:
        peak[0] = max(peak[0], pa.total_allocated_bytes() - base)

    def source():  # made on demand, as a warehouse reads: nothing held by the test
        for i in range(40):
            sample()
            yield simple_batch(5000, tag=i)

    group_bytes = simple_batch(5000, tag=1).nbytes * 10  # group_rows=50_000
    for chunk in bucket_sorted(schema(), source(), buckets=64, chunk_rows=5000, group_rows=50_000):
        sample()
        del chunk
    assert peak[0] < 1.75 * group_bytes, (peak[0], group_bytes)


def test_literals_are_the_scalars_pa_scalar_makes() -> None:
    import pyarrow as pa
    from featurehouse.online.encoding import literal, literal_array

    assert literal("]\r\n$") == pa.scalar("]\r\n$")
    assert literal("") == pa.scalar("")
    assert literal(-7) == pa.scalar(-7, pa.int64())
    assert literal(1023, pa.uint32()) == pa.scalar(1023, pa.uint32())
    assert literal_array(1, pa.bool_()).to_pylist() == [True]


def test_to_numpy_reads_slices_and_empty_arrays() -> None:
    import numpy as np

    values = layout.from_numpy(np.arange(10, dtype=np.uint32))
    assert layout.to_numpy(values.slice(3, 4)).tolist() == [3, 4, 5, 6]
    assert layout.to_numpy(values.slice(10)).dtype == np.uint32
    assert layout.to_numpy(values.slice(10)).tolist() == []


# Builds its input without pa.array (which imports pandas), then encodes its msgpack records
# ahead (prepare.encoded), sorts and sends them as a full publish does; pandas must still not
# be imported.
NO_PANDAS = """
import sys
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from featurehouse.online import packed
from featurehouse.online.encoding import EVENT_AT, Codec
from featurehouse.online.records import FeatureSpec, ViewSchema
from featurehouse.online.redis import layout, resp
from featurehouse.online.redis.prepare import bucket_sorted, encoded, prepare

n = 5000
ids = layout.from_numpy(np.arange(n, dtype=np.int64))
batch = pa.RecordBatch.from_arrays(
    [ids, layout.from_numpy(np.full(n, 1_700_000_000_000_000, np.int64)).cast(pa.timestamp("us")),
     layout.from_numpy(np.arange(n, dtype=np.float64) / 7), pc.cast(ids, pa.string())],
    names=["customer_id", EVENT_AT, "amount", "country"],
)
schema = ViewSchema(
    "feat_x", 1, "customer", ("customer_id",), ("int64",),
    (FeatureSpec("amount", "float64"), FeatureSpec("country", "string")), 86400,
)
codec = Codec(packed.NAME, 1_700_000_000_000_000)
header = resp.hset_header(lambda b: layout.data_key_array("fh:d:x:", "customer", b, 1024))
sent = 0
for chunk in bucket_sorted(schema, encoded(schema, [batch], codec), 1024, 1000):
    p = prepare(schema, chunk, 1024, 1_699_000_000_000_000, codec)
    data, commands = resp.payload(
        p.buckets, p.fields, p.items, p.record_length, header, p.binary
    )
    sent += commands
assert sent >= 1024, sent
assert "pandas" not in sys.modules, "a publish imported pandas"
"""


def test_a_publish_does_not_import_pandas() -> None:
    """pyarrow imports pandas (~0.3 s) on the first pa.scalar/pa.array/to_numpy; a DuckDB
    sync's publish path avoids them (encoding.literal, layout.from_numpy/to_numpy)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", NO_PANDAS], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
