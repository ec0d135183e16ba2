"""Helpers of the security tests: a redis-server that requires mutual TLS, with the two ACL
users of `featurehouse acl` under known passwords, and a search of everything a run showed
for those secrets (and the client's private key)."""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
from featurehouse.online.redis import acl
from redis_tls import Certs, TLSRedis, make_certs

PASSWORDS = {acl.WRITER: "writer-Known-Secret-5b1e", acl.READER: "reader-Known-Secret-9c2d"}


@dataclass
class Secured:
    """The TLS redis-server, its certificates and an administrator's client (plain port)."""

    server: TLSRedis
    certs: Certs
    admin: redis.Redis

    def url(self, user: str, *, ca: Path | None = None, client_cert: bool = True) -> str:
        """rediss:// as `user` with its password, the private CA and the client certificate."""
        login = f"{user}:{PASSWORDS[user]}@"
        return self.server.url(ca=ca, client_cert=client_cert, user=login)

    def secrets(self) -> list[str]:
        """What must never be shown: the passwords and the private key's PEM lines."""
        key_lines = self.certs.client_key.read_text().splitlines()
        return [*PASSWORDS.values(), *(line for line in key_lines if "-----" not in line)]

    def leaks(self, texts: Iterable[str]) -> list[str]:
        """The secrets found in any of `texts` (empty: none)."""
        joined = "\n".join(texts)
        return [s for s in self.secrets() if s in joined]


@contextlib.contextmanager
def secured_redis(folder: Path, prefix: str) -> Iterator[Secured]:
    """A redis-server requiring client certificates (tls-auth-clients yes) with
    featurehouse-writer and featurehouse-reader scoped to `prefix`."""
    certs = make_certs(folder)
    with TLSRedis(certs, "yes") as server:
        admin = redis.Redis(port=server.port)
        for user in acl.users(prefix):
            admin.execute_command(*shlex.split(user.setuser(f">{PASSWORDS[user.name]}")))
        yield Secured(server, certs, admin)
        admin.close()


def process_titles(pid: int) -> list[str]:
    """The command lines (process titles) of a process and its children, as `ps` shows them."""
    titles = []
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for p in [pid, *map(int, children.read_text().split() if children.exists() else [])]:
        with contextlib.suppress(OSError):
            titles.append(Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode())
    return titles
