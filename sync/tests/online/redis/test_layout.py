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
