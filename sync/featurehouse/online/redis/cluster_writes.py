"""Writes on a Redis Cluster: one pipelined `Wire` per primary, each chunk split by the slot
owner of its buckets; a publish waits for slots being moved, and payloads that a move begun
during it redirected are sent again to the slots' new owners."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import redis

from featurehouse.online.redis import resp
from featurehouse.online.redis.cluster import Client, is_cluster
from featurehouse.online.redis.prepare import Prepared
from featurehouse.online.redis.wire import Job, Totals, Wire

log = logging.getLogger(__name__)

# A publish writes a new generation's keys on raw connections, one per primary, which do not
# follow redirects. So it starts once no primary is migrating or importing a slot, waiting up
# to SETTLE_SECONDS (a resharding moves slot by slot). A migration that begins during the
# publish redirects some of its commands (ASK: a new key of a slot being moved; MOVED: a slot
# moved): those payloads are kept, and at the next chunk (or the end) the writer waits for the
# move to end, refreshes the slot map and sends them again to the slots' new owners; only a
# move still under way after SETTLE_SECONDS stops the publish, in one line.
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
    slot of `{<entity>:<tag>}` depends on the entity and the tag only). Jobs that a node
    redirected are sent again once the slots stop moving (`_resend`)."""

    def __init__(self, client: redis.RedisCluster, entity: str, tags: int) -> None:
        self.client, self.entity, self.tags = client, entity, tags
        self.totals = Totals()  # of the wires finished so far (before a resend)
        self._deadline: float | None = None  # of the wait for moving slots, once redirected
        settle(client)
        self._connect()

    def _connect(self) -> None:
        """A wire per primary of the slot map now (a failover or a move may have changed it)."""
        self.client.nodes_manager.initialize()
        self.wires: list[Wire] = []
        index: dict[str, int] = {}
        owner = []
        for tag in range(self.tags):
            node = self.client.get_node_from_key(f"{{{self.entity}:{tag}}}")
            if node.name not in index:
                index[node.name] = len(self.wires)
                self.wires.append(Wire(self.client.get_redis_connection(node)))
            owner.append(index[node.name])
        self.owner = pa.array(owner, pa.int32())

    def parts(self, p: Prepared) -> list[tuple[Wire, Prepared]]:
        """The chunk split per node (each part still sorted by bucket)."""
        if any(wire.redirected for wire in self.wires):
            self._resend(self._drain())
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
        while redirected := self._drain():
            self._resend(redirected)
        return self.totals

    def _drain(self) -> list[Job]:
        """Finish every wire (its totals added); the jobs they had redirected."""
        redirected: list[Job] = []
        for wire in self.wires:
            t = wire.finish()
            self.totals.count += t.count
            self.totals.first += t.first
            self.totals.second += t.second
            self.totals.commands += t.commands
            self.totals.bytes_sent += t.bytes_sent
            redirected += wire.redirected
        return redirected

    def _resend(self, redirected: list[Job]) -> None:
        """Slots began to move during the publish: wait until they stop (up to
        SETTLE_SECONDS from the first redirect), then send the `redirected` jobs of the
        drained wires again, on a fresh slot map."""
        now = time.monotonic()
        self._deadline = self._deadline or now + SETTLE_SECONDS
        if now > self._deadline:
            raise redis.ResponseError(
                f"ASK/MOVED: slots still moving after {SETTLE_SECONDS:.0f} s of the publish"
            )
        log.info("%d payload(s) redirected by moving slots: resent after the move", len(redirected))
        settle(self.client, self._deadline - now)
        self._connect()
        for job in redirected:
            assert job.retry is not None  # only jobs with a retry are kept
            job.retry(self)

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
    per_node: dict[int, tuple[Wire, list[tuple]]] = {}
    for command in commands:
        node = key_wire(wire, command[1])
        per_node.setdefault(id(node), (node, []))[1].append(command)
    for node, mine in per_node.values():
        payload = b"".join(resp.command(*command) for command in mine)
        retry = resend(send_commands, mine) if isinstance(wire, NodeWires) else None
        node.submit(Job([payload], len(mine), "ignore", retry=retry))


def resend(send: Callable[..., None], *args: Any) -> Callable[[NodeWires], None]:
    """A job's retry: `send(wires, *args)` again, through the refreshed writer."""
    return lambda wires: send(wires, *args)


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
