"""The two least-privilege Redis users of `featurehouse acl`, on a redis-server of the test's
own: the writer does everything a sync, delete, cleanup and stream consumer need and nothing
else; the reader reads on every path and is refused every write with one line."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from cli_process import run_featurehouse
from featurehouse.errors import OnlineStoreError
from featurehouse.online import ReadRequest, ServiceRecord
from featurehouse.online.redis import AsyncReader, RedisStore, acl, functions, layout
from featurehouse.online.usage import SERVICE, LoggedRow, Tally
from featurehouse.refs import ServiceRefs, parse_feature
from online_support import AS_OF, Server, own_server, prefixed_keys, schema, simple_batch

PREFIX = "fhacl"
PASSWORDS = {acl.WRITER: "writer-pw-1", acl.READER: "reader-pw-2"}
ORDERS = schema()


@dataclass
class Users:
    server: Server
    admin: redis.Redis

    def url(self, user: str) -> str:
        return f"redis://{user}:{PASSWORDS[user]}@127.0.0.1:{self.server.port}/0"

    def store(self, user: str, prefix: str = PREFIX) -> RedisStore:
        return RedisStore.from_url(self.url(user), prefix)

    def denied(self) -> list[tuple[str, str, str]]:
        """(user, reason, object) of every refusal Redis logged since the last call."""
        log = [(e["username"], e["reason"], e["object"]) for e in self.admin.acl_log()]
        self.admin.acl_log_reset()
        return log


@pytest.fixture(scope="module")
def users() -> Iterator[Users]:
    """A redis-server with the two users, created from `featurehouse acl`'s lines piped to
    redis-cli (as an administrator would), passwords given as SHA-256."""
    with own_server() as server:
        env = {**os.environ, **{acl.PASSWORD_ENV[u]: p for u, p in PASSWORDS.items()}}
        lines = run_featurehouse("acl", "--prefix", PREFIX, env=env)
        assert lines.returncode == 0, lines.stderr
        assert not any(p in lines.stdout + lines.stderr for p in PASSWORDS.values())
        applied = subprocess.run(
            ["redis-cli", "-p", str(server.port)],
            input=lines.stdout,
            capture_output=True,
            text=True,
            check=True,
        )
        assert applied.stdout.split() == ["OK", "OK"], applied.stdout
        admin = redis.Redis(port=server.port)
        yield Users(server, admin)


def _publish(store: RedisStore, mode: str = "full", tag: int = 1) -> None:
    store.publish(
        ORDERS,
        [simple_batch(40, tag)],
        as_of=AS_OF,
        clock="as_of",
        mode=mode,
        watermark=AS_OF,
        is_latest=True,
    )


def _dead_leftover(admin: redis.Redis) -> list[str]:
    """A generation a killed sync left behind (its pid is gone); returns its data keys."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    key_prefix = layout.data_prefix(PREFIX, ORDERS.view, ORDERS.version, 999)
    keys = layout.all_data_keys(key_prefix, "customer", 4, 4)
    entry = {
        "view": ORDERS.view,
        "version": "v1",
        "generation": 999,
        "key_prefix": key_prefix,
        "entity": "customer",
        "buckets": 4,
        "tags": 4,
        "host": socket.gethostname(),
        "pid": gone.pid,
        "heartbeat_at": 0,
    }
    admin.hset(layout.syncing_key(PREFIX), "g999", json.dumps(entry))
    admin.hset(keys[0], "1", "[1]")
    return keys


def test_the_writer_does_everything_a_sync_needs(users: Users) -> None:
    users.admin.function_flush()  # the writer loads the library itself
    users.denied()
    writer = users.store(acl.WRITER)
    _publish(writer)
    _publish(writer, "incremental", tag=2)
    _publish(writer)  # a second full sync retires and deletes the first generation
    got = writer.read([ReadRequest(ORDERS.view)], [{"customer_id": 3}])
    assert got[0].values == ((3.1, 1),)
    assert [s.rows for s in writer.views()] == [40]
    assert writer.describe(ORDERS.view, 1).rows == 40
    assert sum(map(len, writer.entity_keys(ORDERS.view, 1))) == 40
    leftover = _dead_leftover(users.admin)
    assert writer.cleanup() == 1 and users.admin.exists(*leftover) == 0
    assert writer.delete(ORDERS.view, 1) > 0
    assert prefixed_keys(users.admin, PREFIX) == [layout.seq_key(PREFIX)]
    assert acl.load_library(users.url(acl.WRITER)).startswith("featurehouse_")
    # the one refusal: the listpack check's CONFIG GET, which the publish skips when denied
    assert set(users.denied()) <= {(acl.WRITER, "command", "config|get")}


def test_the_writer_streams_under_its_prefix(users: Users) -> None:
    client = users.store(acl.WRITER).client
    stream = f"{PREFIX}:stream:orders"
    client.xgroup_create(stream, "featurehouse", id="0", mkstream=True)
    client.xadd(stream, {"customer_id": "1"})
    got = client.xreadgroup("featurehouse", "c1", {stream: ">"}, count=10)
    message_id = got[0][1][0][0]
    assert client.xautoclaim(stream, "featurehouse", "c2", 0, justid=True) == [message_id]
    assert client.xack(stream, "featurehouse", message_id) == 1
    assert users.denied() == []


WRITER_REFUSED: dict[str, Callable[[redis.Redis], object]] = {
    "flushall": lambda c: c.flushall(),
    "keys": lambda c: c.keys("*"),
    "config set": lambda c: c.config_set("maxmemory", "1"),
    "function flush": lambda c: c.function_flush(),
    "function delete": lambda c: c.function_delete(f"featurehouse_{functions.LIBRARY_HASH}"),
    "eval": lambda c: c.eval("return 1", 0),
    "acl": lambda c: c.acl_list(),
    "a key of another prefix": lambda c: c.hset("other:{ctl}:latest", "v", "v1"),
    "read another prefix": lambda c: c.hgetall("other:{ctl}:latest"),
    "publish to a channel": lambda c: c.publish("news", "x"),
    "shutdown": lambda c: c.shutdown(),
}


@pytest.mark.parametrize("what", WRITER_REFUSED)
def test_the_writer_can_do_nothing_else(users: Users, what: str) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        WRITER_REFUSED[what](users.store(acl.WRITER).client)


def test_the_reader_reads_on_every_path(users: Users) -> None:
    _publish(users.store(acl.WRITER))
    users.denied()
    reader = users.store(acl.READER)
    got = reader.read([ReadRequest(ORDERS.view)], [{"customer_id": 5}])
    assert got[0].values == ((5.1, 1),)
    assert [s.rows for s in reader.views()] == [40]
    assert reader.describe(ORDERS.view, None).rows == 40
    assert sum(map(len, reader.entity_keys(ORDERS.view, 1))) == 40

    async def serve_read() -> tuple:
        async_reader = AsyncReader(users.url(acl.READER), PREFIX, 5.0)
        try:
            await async_reader.ping()
            done = await async_reader.read([ReadRequest(ORDERS.view)], [{"customer_id": 6}])
            return done[0].values
        finally:
            async_reader.close()

    assert asyncio.run(serve_read()) == ((6.1, 1),)
    assert users.denied() == []


READER_REFUSED: dict[str, Callable[[RedisStore], object]] = {
    "full sync": lambda s: _publish(s),
    "incremental sync": lambda s: _publish(s, "incremental"),
    "delete": lambda s: s.delete(ORDERS.view, 1),
    "cleanup": lambda s: s.cleanup(),
}


@pytest.mark.parametrize("what", READER_REFUSED)
def test_the_reader_is_refused_every_write_in_one_line(users: Users, what: str) -> None:
    _publish(users.store(acl.WRITER))
    _dead_leftover(users.admin)  # something for a cleanup to delete
    before = {k: users.admin.dump(k) for k in prefixed_keys(users.admin, PREFIX)}
    with pytest.raises(OnlineStoreError) as exc:
        READER_REFUSED[what](users.store(acl.READER))
    text = str(exc.value)
    assert "\n" not in text and "lacks the ACL right" in text and "featurehouse acl" in text
    assert {k: users.admin.dump(k) for k in prefixed_keys(users.admin, PREFIX)} == before
    users.store(acl.WRITER).cleanup()


def test_the_reader_needs_no_function_and_cannot_load_one_or_write_keys(users: Users) -> None:
    _publish(users.store(acl.WRITER))
    users.admin.function_flush()  # e.g. after an upgrade: reads call no function
    reader = users.store(acl.READER)
    assert reader.read([ReadRequest(ORDERS.view)], [{"customer_id": 1}])[0].values == ((1.1, 1),)
    with pytest.raises(OnlineStoreError, match="featurehouse acl --load-functions"):
        acl.load_library(users.url(acl.READER))
    acl.load_library(users.url(acl.WRITER))  # the writer loads it
    meta = layout.meta_key(PREFIX, ORDERS.view, 1)
    for refused in (
        lambda c: c.hset(meta, "gen", "0"),
        lambda c: c.unlink(meta),
        lambda c: c.xadd(f"{PREFIX}:stream:orders", {"x": "1"}),
        lambda c: c.hincrby(meta, "gen", 1),
        lambda c: c.zadd(f"{PREFIX}:{{ctl}}:latest", {"x": 1}),
        lambda c: c.execute_command("FCALL", functions.function_name("drop"), 0),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            refused(reader.client)


def test_the_reader_counts_usage_and_the_writer_publishes_services_and_exports_the_log(
    users: Users,
) -> None:
    users.denied()  # earlier tests' refusals
    writer, reader = users.store(acl.WRITER), users.store(acl.READER)
    service = ServiceRecord(ServiceRefs("churn", (parse_feature("feat_customer__orders.v1:n"),)))
    writer.publish_services([service])
    assert [s.name for s in reader.services()] == ["churn"]
    row = LoggedRow("churn", 1.0e9, {"customer_id": 1}, {"n": 2}, {"n": "present"})
    reader.add_usage({(SERVICE, "churn"): Tally(3, 5, 1.0e9)}, [row])
    [count] = reader.usage()
    assert (count.name, count.reads, count.entities) == ("churn", 3, 5)
    [(row_id, logged)] = writer.logged_rows(10)
    assert logged == row
    writer.drop_logged([row_id])
    assert writer.logged_rows(10) == [] and users.denied() == []


@pytest.mark.fast
def test_rules_are_exact_and_scoped_to_the_prefix() -> None:
    writer, reader = acl.users("team*a")
    assert writer.keys == ("~team\\*a:*",)
    # read only, but for the usage counters it adds
    assert reader.keys == ("%R~team\\*a:*", "~team\\*a:usage:*")
    line = reader.setuser(acl.password_rule(reader.name, "pw"))
    assert shlex.split(line)[:6] == ["ACL", "SETUSER", acl.READER, "reset", "on", line.split()[5]]
    assert "pw" not in line.split()[5] and line.split()[5].startswith("#")
    assert "-@all" in line and "fcall" not in line  # reads call no function
    assert set(reader.commands) == {
        "ping", "select", "hget", "hmget", "hgetall", "hvals", "hkeys", "smembers",
        "hincrby", "zadd", "expire", "xadd", "zrange",
        "cluster|slots", "command",  # a cluster client's slot map and command table
    }  # fmt: skip
    assert {"hset", "unlink", "function|load", "fcall", "xreadgroup"} <= set(writer.commands)
    assert "cluster|nodes" in writer.commands  # a cluster publish waits for migrating slots
