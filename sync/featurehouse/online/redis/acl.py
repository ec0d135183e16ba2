"""Least-privilege Redis ACL users for one key prefix: `featurehouse-writer` (sync, delete,
cleanup, the stream consumer) and `featurehouse-reader` (the server and Python API reads, and
the usage counters they add under <prefix>:usage:*), written as `ACL SETUSER` lines; the exact
commands each needs, nothing more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from featurehouse.errors import ConfigError
from featurehouse.online.redis import connection, functions
from featurehouse.online.redis.streams import DEAD_LETTER_SUFFIX
from featurehouse.online.redis.wire import translated

WRITER, READER = "featurehouse-writer", "featurehouse-reader"
PASSWORD_ENV = {
    WRITER: "FEATUREHOUSE_ACL_WRITER_PASSWORD",
    READER: "FEATUREHOUSE_ACL_READER_PASSWORD",
}
# Every connection (AUTH and HELLO need no right; our clients send no CLIENT SETINFO).
CONNECTION = ("ping", "select")
# A Redis Cluster client's start (redis-py): the slot map and the command table (key positions).
CLUSTER = ("cluster|slots", "command")
# Reads: feature reads (read.py: HGET, HMGET, HGETALL), the catalog and describe (admin.py),
# entity keys (parity).
READS = ("hget", "hmget", "hgetall", "hvals", "hkeys", "smembers")
# Writes: publish (HSET, or RESTORE of whole buckets: restore.py), merge, delete and cleanup,
# and loading the function library; on a cluster
# a publish first waits for slots being migrated (cluster_writes.settle: CLUSTER NODES).
WRITES = (
    "hset", "hdel", "incrby", "unlink", "pexpireat", "fcall", "function|load", "cluster|nodes",
    "restore",
)  # fmt: skip
# What the library's functions call (each call is checked against the caller's rights).
IN_FUNCTIONS = ("del", "hexists", "sadd", "srem", "hincrby", "pexpiretime")
# Usage history (online/redis/usage.py): readers add their counts and sampled rows under
# <prefix>:usage:* (the only keys the reader may write); `featurehouse usage` reads them.
USAGE_ADD = ("hincrby", "zadd", "expire", "xadd", "zrange")
# The writer's part of feature services and usage: publish services (MULTI), export the log.
USAGE_ADMIN = ("multi", "exec", "del", "xrange", "xdel")
# The stream consumer (issue #16): its streams (the topics given to `users`, their dead
# letters), and its lease (streams.Lease: SET NX PX, GET, DEL, and two scripts run by EVALSHA,
# loaded by SCRIPT LOAD, that call GET, SET and PEXPIRE).
STREAMS = (
    "xadd", "xreadgroup", "xack", "xautoclaim", "xclaim", "xpending", "xgroup|create",
    "xgroup|createconsumer", "xinfo|groups", "xlen", "set", "get", "pexpire", "evalsha",
    "script|load",
)  # fmt: skip


@dataclass(frozen=True)
class AclUser:
    """One Redis user: who it is for, the keys it may touch and the commands it may run."""

    name: str
    purpose: str
    keys: tuple[str, ...]  # ACL key rules: ~pattern (read and write), %R~pattern (read only)
    commands: tuple[str, ...]

    def setuser(self, password_rule: str) -> str:
        """The `ACL SETUSER` line; `password_rule` is `#<sha256>` or `>password`."""
        allowed = " ".join(f"+{c}" for c in self.commands)
        keys = " ".join(self.keys)
        return (
            f"ACL SETUSER {self.name} reset on {password_rule} {keys} resetchannels -@all {allowed}"
        )


def _pattern(prefix: str, what: str = "online store prefix") -> str:
    """The prefix as a glob of its keys: Redis's glob characters escaped."""
    if not prefix or any(c in prefix for c in "{} \t\r\n\"'"):
        raise ConfigError(f"{what} {prefix!r} must be non-empty, no braces/spaces")
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix)


def key_patterns(prefix: str) -> dict[str, str]:
    """The key patterns of a prefix: all of its keys, and its streams (within them)."""
    p = _pattern(prefix)
    return {"all": f"{p}:*", "streams": f"{p}:stream:*", "usage": f"{p}:usage:*"}


def stream_keys(streams: Sequence[str]) -> tuple[str, ...]:
    """The writer's extra key rules for stream keys outside the prefix (a topic such as
    `clickstream`) and their dead letters: exact keys, glob characters escaped."""
    keys = (k for s in streams for k in (s, s + DEAD_LETTER_SUFFIX))
    return tuple(dict.fromkeys(f"~{_pattern(k, 'stream key')}" for k in keys))


def users(prefix: str, streams: Sequence[str] = ()) -> tuple[AclUser, AclUser]:
    """The writer and the reader of `prefix`; the writer also consumes `streams`."""
    keys = key_patterns(prefix)
    writer = AclUser(
        WRITER,
        "featurehouse sync, delete, cleanup and the stream consumer: reads and writes its "
        "prefix's keys and its streams, loads the function library",
        (f"~{keys['all']}", *stream_keys(streams)),
        _unique(
            CONNECTION + CLUSTER + READS + WRITES + IN_FUNCTIONS + USAGE_ADD + USAGE_ADMIN + STREAMS
        ),
    )
    reader = AclUser(
        READER,
        "featurehouse serve and the Python API's reads: reads its prefix's keys (plain "
        "commands, no function); writes only the usage counters under <prefix>:usage:*",
        (f"%R~{keys['all']}", f"~{keys['usage']}"),
        _unique(CONNECTION + CLUSTER + READS + USAGE_ADD),
    )
    return writer, reader


def _unique(commands: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(commands))


def password_rule(user: str, password: str | None) -> str:
    """`#<sha256 hex>` of a password (Redis stores only that), else a placeholder to replace."""
    if password:
        return "#" + hashlib.sha256(password.encode()).hexdigest()
    return f">REPLACE-WITH-{user.upper()}-PASSWORD"


def load_library(url: str) -> str:
    """Load this version's function library into the Redis at `url` (the writer's right, not
    the reader's: run after an upgrade, before the servers); returns its name."""
    client = connection.client(url)
    try:
        with translated(client, "loading the function library"):
            functions.load(client)
    finally:
        client.close()
    return f"featurehouse_{functions.LIBRARY_HASH}"
