"""What a Redis-protocol server is, asked once at connect time with HELLO (no ACL right
needed): Redis or Valkey, its version, standalone or cluster mode, per-field expiry or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

# The first version of each server with hash-field expiry (HEXPIRE, HPEXPIREAT...).
_HEXPIRE_SINCE = {"redis": (7, 4), "valkey": (9, 0)}


@dataclass(frozen=True)
class ServerInfo:
    """A server's answer to HELLO."""

    name: str  # redis | valkey
    version: tuple[int, ...]
    mode: str  # standalone | cluster | sentinel

    @property
    def cluster(self) -> bool:
        return self.mode == "cluster"

    @property
    def hexpire(self) -> bool:
        """Whether the server expires single hash fields (HEXPIRE): Redis 7.4+, Valkey 9+."""
        since = _HEXPIRE_SINCE.get(self.name)
        return since is not None and self.version[:2] >= since

    @property
    def shown(self) -> str:
        version = ".".join(map(str, self.version))
        return f"{self.name} {version}{' (cluster)' if self.cluster else ''}"


def parse_hello(reply: Any) -> ServerInfo:
    """HELLO's reply (RESP2 flat list or RESP3 map) as a ServerInfo."""
    if isinstance(reply, list):
        reply = {reply[i]: reply[i + 1] for i in range(0, len(reply) - 1, 2)}
    text = {_text(k): v for k, v in reply.items()}
    version = tuple(int(p) for p in _text(text.get("version", "0")).split(".") if p.isdigit())
    return ServerInfo(
        name=_text(text.get("server", "redis")).lower(),
        version=version or (0,),
        mode=_text(text.get("mode", "standalone")).lower(),
    )


def probe(client: redis.Redis) -> ServerInfo:
    """Ask the server behind a (single-node) client what it is."""
    return parse_hello(client.execute_command("HELLO"))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
