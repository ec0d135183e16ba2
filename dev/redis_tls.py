"""A redis-server speaking TLS on loopback, with a private certificate authority, for tests,
benchmarks and trying TLS by hand (Debian's redis-server is built with TLS).

`make_certs(folder)` writes (with the `openssl` command) a private CA, a server certificate for
127.0.0.1/localhost, a client certificate (mutual TLS), and a second, unrelated CA (a "wrong
CA"). `TLSRedis` starts a redis-server with a plain port (administration, on loopback) and a
TLS port, and stops it on exit.

    python dev/redis_tls.py /tmp/fh-tls   # prints the rediss:// URL, runs until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

DAYS = "7"
SERVER_EXT = (
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
)
CLIENT_EXT = (
    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
)


@dataclass(frozen=True)
class Certs:
    """PEM files of a private CA, a server and a client certificate it signed, another CA."""

    folder: Path

    ca_crt = property(lambda self: self.folder / "ca.crt")
    server_crt = property(lambda self: self.folder / "server.crt")
    server_key = property(lambda self: self.folder / "server.key")
    client_crt = property(lambda self: self.folder / "client.crt")
    client_key = property(lambda self: self.folder / "client.key")
    wrong_ca_crt = property(lambda self: self.folder / "wrong-ca.crt")


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {done.stderr.strip()}")


def _key(name: str, cwd: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", f"{name}.key", cwd=cwd)  # fmt: skip


def _ca(name: str, subject: str, cwd: Path) -> None:
    _key(name, cwd)
    _openssl("req", "-x509", "-new", "-key", f"{name}.key", "-out", f"{name}.crt", "-days", DAYS,
             "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=cwd)  # fmt: skip


def _signed(name: str, subject: str, ext: str, cwd: Path) -> None:
    _key(name, cwd)
    (cwd / f"{name}.ext").write_text(ext)
    _openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
             cwd=cwd)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", f"{name}.crt", "-days", DAYS,
             "-extfile", f"{name}.ext", cwd=cwd)  # fmt: skip


def make_certs(folder: Path) -> Certs:
    """A private CA, a server certificate (127.0.0.1, localhost), a client certificate, and
    an unrelated CA, in `folder` (keys unencrypted, readable by the owner only)."""
    folder.mkdir(parents=True, exist_ok=True)
    _ca("ca", "/CN=Featurehouse test CA", folder)
    _signed("server", "/CN=localhost", SERVER_EXT, folder)
    _signed("client", "/CN=featurehouse-client", CLIENT_EXT, folder)
    _ca("wrong-ca", "/CN=Some other CA", folder)
    for key in folder.glob("*.key"):
        key.chmod(0o600)
    return Certs(folder)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TLSRedis:
    """redis-server with a plain port (administration) and a TLS port; `auth_clients`: Redis's
    tls-auth-clients (yes: mutual TLS required, optional, no)."""

    def __init__(self, certs: Certs, auth_clients: str = "yes", *args: str) -> None:
        self.certs = certs
        self.port, self.tls_port = free_port(), free_port()
        self.args = args
        self.auth_clients = auth_clients
        self.proc: subprocess.Popen | None = None

    @property
    def plain_url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def url(self, *, ca: Path | None = None, client_cert: bool = True, user: str = "") -> str:
        """A rediss:// URL of the TLS port: trusting `ca` (default: the private CA), with
        the client certificate unless `client_cert` is false; `user` as `name:password@`."""
        params = [f"ssl_ca_certs={ca or self.certs.ca_crt}"]
        if client_cert:
            params += [
                f"ssl_certfile={self.certs.client_crt}",
                f"ssl_keyfile={self.certs.client_key}",
            ]
        return f"rediss://{user}127.0.0.1:{self.tls_port}/0?{'&'.join(params)}"

    def start(self) -> TLSRedis:
        c = self.certs
        cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
               "--tls-port", str(self.tls_port), "--tls-cert-file", str(c.server_crt),
               "--tls-key-file", str(c.server_key), "--tls-ca-cert-file", str(c.ca_crt),
               "--tls-auth-clients", self.auth_clients, "--save", "", "--appendonly", "no",
               *self.args]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.5).close()
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server with TLS on port {self.tls_port} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def __enter__(self) -> TLSRedis:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where the certificates go")
    parser.add_argument("--auth-clients", default="yes", choices=("yes", "optional", "no"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the server on a plain kill
    with TLSRedis(make_certs(args.folder), args.auth_clients) as server:
        print(f"export FEATUREHOUSE_REDIS_URL='{server.url()}'", flush=True)
        print(f"# administration (plain, loopback): {server.plain_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
