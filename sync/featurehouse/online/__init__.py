"""The Redis online store (the only package importing redis): layout, encoding, publish, read.

Layout and encoding are documented in the README section "Online store"; `OnlineStore` is the
entry point.
"""

from featurehouse.errors import OnlineStoreError, RedisUnavailable
from featurehouse.online.records import (
    FeatureSpec,
    InvalidKeyError,
    NotPublishedError,
    PublishResult,
    ReadRequest,
    ReadResult,
    ViewSchema,
    ViewState,
)
from featurehouse.online.redis.store import OnlineStore

__all__ = [
    "FeatureSpec",
    "InvalidKeyError",
    "NotPublishedError",
    "OnlineStore",
    "OnlineStoreError",
    "PublishResult",
    "ReadRequest",
    "ReadResult",
    "RedisUnavailable",
    "ViewSchema",
    "ViewState",
]
