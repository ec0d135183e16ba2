"""Talking to Redis: error translation and a raw pipelined writer for bulk RESP payloads.

`Wire` owns one dedicated connection; a background thread sends pre-built payloads and parses
the replies (hiredis) while the caller builds the next payload.
"""

from __future__ import annotations

import contextlib
import queue
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import hiredis
import redis
from redis.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    MovedError,
    NoPermissionError,
    RedisClusterException,
)

from featurehouse.errors import OnlineStoreError, RedisUnavailable
from featurehouse.online.redis.connection import PASSWORD_ENV, setting


def describe(client: redis.Redis | redis.RedisCluster) -> str:
    """`redis://host:port/db` (`rediss://` over TLS) of a client, never with its password."""
    if isinstance(client, redis.RedisCluster):
        node = client.get_default_node()
        scheme = "rediss" if client.get_connection_kwargs().get("ssl") else "redis"
        return f"{scheme}://{node.host}:{node.port}/0 (cluster)"
    pool = client.connection_pool
    kw = pool.connection_kwargs
    if "path" in kw:
        return f"unix://{kw['path']}"
    scheme = "rediss" if issubclass(pool.connection_class, redis.SSLConnection) else "redis"
    return f"{scheme}://{kw.get('host', 'localhost')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"


# (what the error says, what it means and the fix): TLS failures, the most specific first.
_TLS_HINTS = (
    (
        ("Hostname mismatch", "IP address mismatch"),
        "the server's certificate does not name this host; connect by a name it has, or set "
        f"{setting('ssl_check_hostname')} to false",
    ),
    (
        ("CERTIFICATE_VERIFY_FAILED",),
        "the server's certificate is not signed by a CA this client trusts; set "
        f"{setting('ssl_ca_certs')} to the file of the CA that signed it",
    ),
    (
        ("CERTIFICATE_REQUIRED", "certificate required", "EOF occurred in violation"),
        "Redis ended the handshake, as it does when it requires a client certificate (mutual "
        f"TLS, tls-auth-clients yes); set {setting('ssl_certfile', 'ssl_keyfile')}",
    ),
    (
        # TLS 1.3: the client's handshake ends before Redis checks its certificate, so a refused
        # client may see only a reset or a closed connection, whichever comes first.
        ("reset by peer", "Errno 104", "Connection closed by"),
        "Redis ended the TLS connection, as it does when it requires a client certificate "
        f"(mutual TLS, tls-auth-clients yes); set {setting('ssl_certfile', 'ssl_keyfile')}",
    ),
    (
        ("UNKNOWN_CA", "BAD_CERTIFICATE", "unknown ca", "bad certificate"),
        "Redis does not trust this client's certificate; use one signed by the CA of Redis's "
        f"tls-ca-cert-file ({setting('ssl_certfile', 'ssl_keyfile')})",
    ),
    (
        ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"),
        "this port does not speak TLS; write redis:// (or use Redis's tls-port)",
    ),
)


def _tls_hint(exc: BaseException, text: str, where: str) -> str | None:
    """What a TLS failure means and how to fix it; None when it is no TLS failure."""
    if isinstance(exc, ssl.SSLError) or "SSL" in text or where.startswith("rediss:"):
        for needles, hint in _TLS_HINTS:
            if any(n in text for n in needles):
                return hint
    return None


# What a Redis call may raise: redis-py's errors, its cluster client's, the socket's.
REDIS_ERRORS = (redis.RedisError, RedisClusterException, OSError)
_CLUSTER_ERRORS = (
    MovedError,
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    RedisClusterException,
)


def translate(exc: BaseException, where: str, action: str) -> OnlineStoreError:
    """A one-line featurehouse error for a redis-py/socket exception."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, redis.AuthenticationError) or "NOAUTH" in text or "WRONGPASS" in text:
        return RedisUnavailable(
            f"Redis at {where} refused the credentials while {action} ({text}); check the "
            f"user and password in --redis-url / FEATUREHOUSE_REDIS_URL (or {PASSWORD_ENV})"
        )
    if isinstance(exc, NoPermissionError) or "NOPERM" in text:
        return OnlineStoreError(
            f"Redis at {where} refused a command while {action}: this user lacks the ACL "
            f"right ({text}); reads need featurehouse-reader's rules, writes (sync, delete, "
            "cleanup) featurehouse-writer's: `featurehouse acl` prints them"
        )
    tls = _tls_hint(exc, text, where)
    if tls is not None:
        return RedisUnavailable(f"TLS to Redis at {where} failed while {action} ({text}): {tls}")
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError):
        hint = ""
        if where.startswith("redis:") and ("closed" in text or "reset" in text):
            hint = " If that port speaks TLS, write rediss://."
        elif where.startswith("rediss:") and "imeout" in text:
            hint = " If that port does not speak TLS, write redis://."
        return RedisUnavailable(
            f"Redis at {where} is unavailable while {action} ({text}); is it running?{hint}"
        )
    if where.endswith("(cluster)") and (
        isinstance(exc, MovedError | AskError | ClusterDownError)
        or text.startswith(("MOVED", "ASK ", "CLUSTERDOWN"))
    ):
        return OnlineStoreError(
            f"Redis Cluster at {where} moved slots while {action} ({text}): a failover or a "
            "resharding is under way; once `redis-cli --cluster check <host:port>` shows every "
            "slot served, retry (a full sync writes a new generation: nothing half-published)"
        )
    if isinstance(exc, _CLUSTER_ERRORS) or text.startswith(("MOVED", "ASK ", "CROSSSLOT")):
        return OnlineStoreError(
            f"Redis at {where} is a Redis Cluster that refused a command while {action} "
            f"({text}): connect with the plain redis:// URL of any of its nodes (featurehouse "
            "detects the cluster), and check that every slot is served (`redis-cli --cluster "
            "check <host:port>`)"
        )
    if text.startswith("MISCONF") or "Errors writing to the AOF" in text:
        return OnlineStoreError(
            f"Redis at {where} cannot write its data to disk while {action} ({text}); free disk "
            "space where it keeps its data (`featurehouse online status` shows the embedded "
            "store's folder) and retry"
        )
    if text.startswith("OOM") or "OOM command not allowed" in text:
        return OnlineStoreError(
            f"Redis at {where} is out of memory (maxmemory) while {action}; raise maxmemory "
            "or delete unused view versions (`featurehouse delete VIEW.vN`)"
        )
    return OnlineStoreError(f"Redis at {where} failed while {action}: {text}")


@contextlib.contextmanager
def translated(client: redis.Redis | redis.RedisCluster, action: str) -> Iterator[None]:
    try:
        yield
    except OnlineStoreError:
        raise
    except REDIS_ERRORS as exc:
        raise translate(exc, describe(client), action) from exc


@dataclass
class Job:
    payload: list[Any]  # bytes-like pieces, sent back to back
    commands: int
    kind: str  # "count": sum integer replies; "pair": sum [a, b] replies; "restore": rows
    # ("OK" replies: `rows` fields written); "ignore"
    done: threading.Event = field(default_factory=threading.Event)
    # Sends the job again through a (refreshed) cluster writer: with it, a reply redirecting
    # a command to another node (ASK, MOVED: a slot moving) leaves the job in `redirected`
    # instead of failing it. Resending is safe: the commands are idempotent (HSET of the
    # same values), and the ones that succeeded the first time add 0 to the count then.
    retry: Callable[[Any], None] | None = None
    rows: int = 0  # a "restore" job's fields


@dataclass
class Totals:
    count: int = 0
    first: int = 0
    second: int = 0
    commands: int = 0
    bytes_sent: int = 0


class Wire:
    """Streams payloads on a dedicated connection; `error` holds the first failure."""

    def __init__(self, client: redis.Redis, depth: int = 2) -> None:
        self._client = client
        self._pool = client.connection_pool
        self._conn = self._pool.get_connection()
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=depth)
        self.totals = Totals()
        self.error: BaseException | None = None
        self.redirected: list[Job] = []  # jobs some of whose commands were redirected
        self._thread = threading.Thread(target=self._run, name="featurehouse-wire", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        if self.error is not None:
            raise self.error
        self._queue.put(job)

    def finish(self) -> Totals:
        """Wait for every submitted payload to be answered; raise the first error."""
        self._queue.put(None)
        self._thread.join()
        self._close()
        if self.error is not None:
            raise self.error
        return self.totals

    def abort(self) -> None:
        if self._thread.is_alive():
            self.error = self.error or OnlineStoreError("publish aborted")
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join(timeout=30)
        self._close()

    def _close(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        conn.disconnect()  # never hand a connection with unread replies back to the pool
        self._pool.release(conn)

    def _run(self) -> None:
        reader = hiredis.Reader()
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self.error is None:
                try:
                    self._do(job, reader)
                except BaseException as exc:
                    self.error = exc
            job.done.set()

    def _do(self, job: Job, reader: hiredis.Reader) -> None:
        sock = self._conn._sock  # the connection's socket: bulk send, bulk parse
        if sock is None:
            self._conn.connect()
            sock = self._conn._sock
        for piece in job.payload:
            sock.sendall(piece)
            self.totals.bytes_sent += len(piece)
        got, redirected, first_error = 0, 0, None
        while got < job.commands:
            reply = reader.gets()
            if reply is False:
                data = sock.recv(1 << 16)
                if not data:
                    raise redis.ConnectionError("connection closed by Redis")
                reader.feed(data)
                continue
            got += 1
            if isinstance(reply, hiredis.ReplyError):
                if job.retry is not None and str(reply).startswith(("ASK ", "MOVED ")):
                    redirected += 1
                else:
                    first_error = first_error or reply
            elif job.kind == "count":
                self.totals.count += reply
            elif job.kind == "pair":
                self.totals.first += reply[0]
                self.totals.second += reply[1]
        self.totals.commands += got
        if job.kind == "restore" and first_error is None:
            self.totals.count += job.rows
        if redirected:
            self.redirected.append(job)
        if first_error is not None:
            raise redis.ResponseError(str(first_error))
