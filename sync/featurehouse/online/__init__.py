"""The online store: a store-neutral protocol (`OnlineStore`), its records and record format,
and implementations beside it (`redis/`, the only package importing redis).

Layout and encoding of the Redis store are documented in the README section "Redis layout";
`open_store(url, prefix)` is the entry point.
"""

from featurehouse.errors import OnlineStoreError, RedisUnavailable
from featurehouse.online.records import (
    FeatureSpec,
    InvalidKeyError,
    NotPublishedError,
    PublishResult,
    ReadRequest,
    ReadResult,
    ServiceRecord,
    ViewSchema,
    ViewState,
)
from featurehouse.online.store import (
    AsyncReader,
    Location,
    OnlineStore,
    open_async_reader,
    open_store,
)

__all__ = [
    "AsyncReader",
    "FeatureSpec",
    "InvalidKeyError",
    "Location",
    "NotPublishedError",
    "OnlineStore",
    "OnlineStoreError",
    "PublishResult",
    "ReadRequest",
    "ReadResult",
    "RedisUnavailable",
    "ServiceRecord",
    "ViewSchema",
    "ViewState",
    "open_async_reader",
    "open_store",
]
