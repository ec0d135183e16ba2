"""Redis keeps small hashes in its compact listpack encoding; advice when buckets cannot."""

from __future__ import annotations

import redis

from featurehouse.online.records import ViewSchema
from featurehouse.online.redis import layout
from featurehouse.online.redis.prepare import Progress


def listpack_limits(client: redis.Redis) -> tuple[int, int] | None:
    """(hash-max-listpack-entries, hash-max-listpack-value), or None when CONFIG is denied."""
    try:
        got = client.config_get("hash-max-listpack-*")
        return int(got["hash-max-listpack-entries"]), int(got["hash-max-listpack-value"])
    except (redis.ResponseError, KeyError, ValueError):
        return None


def listpack_warning(schema: ViewSchema, prog: Progress, limits: tuple[int, int] | None) -> str:
    """Advice when buckets cannot stay in Redis's compact listpack encoding."""
    if limits is None:
        return ""
    where = f"{schema.view} v{schema.version}"
    longest = max(prog.max_record, prog.max_field)
    if longest > limits[1]:
        advice = 1 << (longest - 1).bit_length()
        return (
            f"{where}: records up to {longest} bytes exceed Redis hash-max-listpack-value "
            f"{limits[1]}, so its buckets use the larger hashtable encoding; set "
            f"`CONFIG SET hash-max-listpack-value {advice}` (and in redis.conf)"
        )
    if limits[0] < 2 * layout.TARGET_PER_BUCKET:
        return (
            f"{where}: buckets hold up to ~{2 * layout.TARGET_PER_BUCKET} entities but Redis "
            f"hash-max-listpack-entries is {limits[0]}; set it to 128 or more (and in redis.conf)"
        )
    return ""
