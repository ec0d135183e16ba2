"""Redis Cluster: the cluster client (detected at connect time from a plain redis:// URL), reads
that fetch data keys per node and then check the view's generation, and writes per node.

A view version's control keys share the hash tag `{ctl}` (one slot); its data keys are spread
over slots by `{<entity>:<bucket % tags>}`. The generation in the control slot is switched
last (the `commit` function), so a reader that reads a generation's data keys and then finds
that generation still current has read one generation only: generations only move forward
(read.ReadSteps says why).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import redis
import redis.asyncio.cluster as aiocluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    SlotNotCoveredError,
    TryAgainError,
)

from featurehouse.errors import OnlineStoreError
from featurehouse.online.records import NotPublishedError, ReadRequest, ReadResult
from featurehouse.online.redis import resp
from featurehouse.online.redis.aio import AsyncReader
from featurehouse.online.redis.connection import Endpoint, endpoint
from featurehouse.online.redis.prepare import Prepared
from featurehouse.online.redis.read import Reader, ReadSteps, Round
from featurehouse.online.redis.server import probe
from featurehouse.online.redis.wire import REDIS_ERRORS, Job, Totals, Wire, translate

log = logging.getLogger(__name__)

Client = redis.Redis | redis.RedisCluster


def cluster_kwargs(point: Endpoint, **options: Any) -> dict[str, Any]:
    """redis.RedisCluster(**these): the endpoint's address, credentials and TLS settings."""
    host, port = point.address
    kwargs = {k: v for k, v in point.options.items() if k not in ("db", "host", "port", "path")}
    kwargs |= {"host": host, "port": port, **options}
    if point.tls is not None:
        kwargs |= point.tls.redis_kwargs()
    retry = kwargs.pop("retry", None)
    if retry is not None:  # a fail-fast reader: no retries across the cluster either
        kwargs["cluster_error_retry_attempts"] = 1
    return kwargs


def open_client(point: Endpoint, **options: Any) -> Client:
    """A client of the URL's server: a redis.Redis, or a redis.RedisCluster when the server
    says (HELLO) that it is a cluster node. A server that does not answer gets the plain
    client, whose first command fails with the reason (on a cluster: the one-line redirect
    error of `wire.translate`)."""
    plain = point.client(**options)
    if point.unix_path:
        return plain
    try:
        info = probe(plain)
    except REDIS_ERRORS:
        return plain  # unreachable or refused: the first command reports it, naming its action
    if not info.cluster:
        return plain
    plain.close()
    return redis.RedisCluster(**cluster_kwargs(point, **options))


def is_cluster(client: Any) -> bool:
    return isinstance(client, redis.RedisCluster | aiocluster.RedisCluster)


# --- reads ---------------------------------------------------------------------------------
# A read's data keys are in other slots than its control keys: each round trip sends its data
# commands (pipelined per node by redis-py, which follows MOVED/ASK), and only once every data
# reply is in, its check in the control slot (read.Round: the check must run after the data).


def _pipelined(client: Any, commands: Sequence[tuple]) -> Any:
    """A cluster pipeline (sync or asyncio) of `commands`."""
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return pipe


def read_sync(client: redis.RedisCluster, trip: Round) -> tuple[list, list]:
    """A round trip's replies on a cluster: the data (per node), then the check."""
    data = _pipelined(client, trip.data).execute() if trip.data else []
    return data, _pipelined(client, trip.check).execute()


async def read_async(client: aiocluster.RedisCluster, trip: Round) -> tuple[list, list]:
    """`read_sync` on the asyncio cluster client."""
    data = await _pipelined(client, trip.data).execute() if trip.data else []
    return data, await _pipelined(client, trip.check).execute()


def async_client(url: str, timeout: float) -> aiocluster.RedisCluster:
    """The asyncio cluster client of the server's reads (fail fast: one attempt, short
    timeouts)."""
    point = endpoint(url)
    kwargs = cluster_kwargs(point, socket_timeout=timeout, socket_connect_timeout=timeout)
    kwargs.pop("driver_info", None)
    return aiocluster.RedisCluster(**kwargs)


# --- writes --------------------------------------------------------------------------------


# A publish writes a new generation's keys on raw connections, one per primary, which do not
# follow ASK: a key of a slot being migrated would be refused. So it starts once no primary
# is migrating or importing a slot, waiting up to SETTLE_SECONDS (a resharding moves slot
# by slot); a migration that begins during the publish still stops it, in one line.
SETTLE_SECONDS = 120.0
_SETTLE_POLL_SECONDS = 0.1


def migrating(client: redis.RedisCluster) -> list[str]:
    """Every slot a primary is migrating or importing, as CLUSTER NODES shows it."""
    moving = []
    for node in client.get_primaries():
        text = client.get_redis_connection(node).execute_command("CLUSTER", "NODES")
        for line in (text.decode() if isinstance(text, bytes) else str(text)).splitlines():
            fields = line.split()
            if len(fields) > 2 and "myself" in fields[2]:  # `[slot->-id]`, `[slot-<-id]`
                moving += [f for f in fields[8:] if f.startswith("[")]
    return moving


def settle(client: redis.RedisCluster, seconds: float = SETTLE_SECONDS) -> None:
    """Wait (at most `seconds`) until no slot is being migrated; then the publish starts
    anyway, and fails in one line if it meets the migration."""
    deadline = time.monotonic() + seconds
    moving = migrating(client)
    if moving:
        log.warning(
            "the cluster is moving slots (%s): the publish waits up to %.0f s for them",
            " ".join(moving[:4]), seconds,
        )  # fmt: skip
    while moving and time.monotonic() < deadline:
        time.sleep(_SETTLE_POLL_SECONDS)
        moving = migrating(client)


class NodeWires:
    """One `Wire` per primary; a chunk's buckets go to the node that owns their slot (the
    slot of `{<entity>:<tag>}` depends on the entity and the tag only)."""

    def __init__(self, client: redis.RedisCluster, entity: str, tags: int) -> None:
        self.tags = tags
        settle(client)
        client.nodes_manager.initialize()  # the slot map now (a failover may have moved it)
        self.wires: list[Wire] = []
        index: dict[str, int] = {}
        owner = []
        for tag in range(tags):
            node = client.get_node_from_key(f"{{{entity}:{tag}}}")
            if node.name not in index:
                index[node.name] = len(self.wires)
                self.wires.append(Wire(client.get_redis_connection(node)))
            owner.append(index[node.name])
        self.owner = pa.array(owner, pa.int32())

    def parts(self, p: Prepared) -> list[tuple[Wire, Prepared]]:
        """The chunk split per node (each part still sorted by bucket)."""
        tag = pc.bit_wise_and(p.buckets, pa.scalar(self.tags - 1, p.buckets.type))
        node = pc.take(self.owner, tag)
        out = []
        for i, wire in enumerate(self.wires):
            mask = pc.equal(node, i)
            rows = pc.sum(mask).as_py() or 0
            if rows:
                out.append((wire, _filtered(p, mask, rows)))
        return out

    def key_wire(self, key: str) -> Wire:
        """The wire of a data key's node (by its hash tag)."""
        tag = int(key[key.index("{") : key.index("}")].rsplit(":", 1)[1])
        return self.wires[self.owner[tag].as_py()]

    def finish(self) -> Totals:
        total = Totals()
        for wire in self.wires:
            t = wire.finish()
            total.count += t.count
            total.first += t.first
            total.second += t.second
            total.commands += t.commands
            total.bytes_sent += t.bytes_sent
        return total

    def abort(self) -> None:
        for wire in self.wires:
            wire.abort()


def writer(client: Client, entity: str, tags: int) -> Wire | NodeWires:
    """The writer of a publish: one `Wire`, or one per primary of a cluster."""
    return NodeWires(client, entity, tags) if is_cluster(client) else Wire(client)


def routed(wire: Wire | NodeWires, p: Prepared) -> list[tuple[Wire, Prepared]]:
    """(wire, rows) to send: the whole chunk on one wire, or its part of each node."""
    return wire.parts(p) if isinstance(wire, NodeWires) else [(wire, p)]


def key_wire(wire: Wire | NodeWires, key: str) -> Wire:
    return wire.key_wire(key) if isinstance(wire, NodeWires) else wire


def send_commands(wire: Wire | NodeWires, commands: Sequence[tuple]) -> None:
    """Commands on one key each (the key second), in one payload per node; replies ignored
    (a failure is raised by `finish`)."""
    per_node: dict[int, tuple[Wire, list[bytes]]] = {}
    for command in commands:
        node = key_wire(wire, command[1])
        per_node.setdefault(id(node), (node, []))[1].append(resp.command(*command))
    for node, parts in per_node.values():
        node.submit(Job([b"".join(parts)], len(parts), "ignore"))


def mark_live(wire: Wire | NodeWires, live_names: Any, generation: int) -> None:
    """On a cluster: the generation's marker in every tag group's slot (`layout.live_key`),
    written with its data, before the commit."""
    if isinstance(wire, NodeWires):
        names = live_names(pa.array(range(wire.tags), pa.int32())).to_pylist()
        send_commands(wire, [("HSET", name, "gen", generation) for name in names])


def _filtered(p: Prepared, mask: pa.Array, rows: int) -> Prepared:
    """A node's rows of a chunk (its counters stay with the whole chunk's `Progress`)."""
    return replace(
        p,
        buckets=pc.filter(p.buckets, mask),
        fields=pc.filter(p.fields, mask),
        items=[pc.filter(i, mask) for i in p.items],
        record_length=pc.filter(p.record_length, mask),
        rows=rows,
        dropped=0,
    )


# --- reads across a failover or a resharding ---------------------------------------------
# While slots move (a failover, a migration) a read may meet a redirect redis-py does not
# follow within its attempts, a node that is going away, TRYAGAIN on a slot being migrated,
# or (a script reading a control key that was just migrated) no view: the slot map is
# refreshed and the whole read is asked again, a bounded number of times. Every attempt is
# one generation's (its data keys, then its generation check), so a retry never mixes two.
READ_ATTEMPTS = 4
_BACKOFF_SECONDS = 0.02
MOVING = (
    redis.ConnectionError,
    redis.TimeoutError,
    MovedError,
    AskError,
    TryAgainError,
    ClusterDownError,
    SlotNotCoveredError,
    NotPublishedError,
)


class ClusterReader(Reader):
    """`Reader` on a cluster client: data keys per node, then the generation check; a read
    that meets moving slots is asked again on a refreshed slot map (`READ_ATTEMPTS`)."""

    def read(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        now: datetime | None,
    ) -> list[ReadResult]:
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return super().read(requests, entity_rows, now)
            except MOVING:
                if attempt == READ_ATTEMPTS:
                    raise
            time.sleep(_BACKOFF_SECONDS * attempt)
            self.client.nodes_manager.initialize()
        raise AssertionError("unreachable")

    def execute(self, trip: Round) -> tuple[list, list]:
        return read_sync(self.client, trip)


class AsyncClusterReader(AsyncReader):
    """The server's reads on a cluster: redis-py's asyncio cluster client (it follows MOVED
    and ASK after a failover or a resharding), the same read steps."""

    def __init__(self, url: str, prefix: str, timeout: float = 1.0) -> None:
        self.cluster = async_client(url, timeout)
        self.where = f"{endpoint(url).shown} (cluster)"
        self.steps = ReadSteps(prefix)

    async def read(
        self,
        requests: Sequence[ReadRequest],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        now: datetime | None = None,
    ) -> list[ReadResult]:
        """`AsyncReader.read`, asked again on a refreshed slot map while slots move."""
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                return await super().read(requests, entity_rows, now=now)
            except MOVING:
                if attempt == READ_ATTEMPTS:
                    raise
            except OnlineStoreError as exc:
                if attempt == READ_ATTEMPTS or not isinstance(exc.__cause__, MOVING):
                    raise
            await asyncio.sleep(_BACKOFF_SECONDS * attempt)
            await self.cluster.nodes_manager.initialize()
        raise AssertionError("unreachable")

    async def execute(self, trip: Round) -> tuple[list, list]:
        return await read_async(self.cluster, trip)

    async def ping(self) -> None:
        try:
            await self.cluster.ping()
        except REDIS_ERRORS as exc:
            raise translate(exc, self.where, "checking health") from exc

    def close(self) -> None:
        pass  # the event loop's end closes its connections
