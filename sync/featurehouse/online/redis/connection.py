"""How every Redis connection is made: one parse of the URL and the FEATUREHOUSE_REDIS_*
environment into an `Endpoint` (redis-py options, credentials, one TLS context), used by the
sync client, the server's async reader and any later client (stream consumer, cluster).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url

from featurehouse.errors import ConfigError, redact

USERNAME_ENV, PASSWORD_ENV = "FEATUREHOUSE_REDIS_USERNAME", "FEATUREHOUSE_REDIS_PASSWORD"
# TLS settings: a `rediss://` URL's query parameter, else this environment variable.
TLS_ENV = {
    "ssl_ca_certs": "FEATUREHOUSE_REDIS_SSL_CA_CERTS",
    "ssl_certfile": "FEATUREHOUSE_REDIS_SSL_CERTFILE",
    "ssl_keyfile": "FEATUREHOUSE_REDIS_SSL_KEYFILE",
    "ssl_password": "FEATUREHOUSE_REDIS_SSL_PASSWORD",
    "ssl_cert_reqs": "FEATUREHOUSE_REDIS_SSL_CERT_REQS",
    "ssl_check_hostname": "FEATUREHOUSE_REDIS_SSL_CHECK_HOSTNAME",
}
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_URL_OPTIONS = {"db", "username", "password", "host", "port", "path", "connection_class"}
_URL_OPTIONS |= {"socket_timeout", "socket_connect_timeout", "socket_keepalive", "protocol"}
_URL_OPTIONS |= {"health_check_interval", "client_name"}


def setting(*names: str) -> str:
    """How a person sets TLS options: `ssl_ca_certs (in the rediss:// URL, or
    FEATUREHOUSE_REDIS_SSL_CA_CERTS)`."""
    return (
        f"{' and '.join(names)} (in the rediss:// URL, or "
        f"{' and '.join(TLS_ENV[n] for n in names)})"
    )


@dataclass(frozen=True)
class TLS:
    """What a client verifies and presents in the TLS handshake with Redis."""

    ca_certs: str | None = None  # PEM file of the CA(s) that signed the server's certificate
    certfile: str | None = None  # the client certificate (mutual TLS)
    keyfile: str | None = None  # its private key
    key_password: str | None = field(default=None, repr=False)
    cert_reqs: str = "required"  # none | optional | required
    check_hostname: bool = True

    def context(self) -> ssl.SSLContext:
        """The one TLS context of every connection (sync and async) to this Redis."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = self.check_hostname and self.cert_reqs != "none"
        ctx.verify_mode = _CERT_REQS[self.cert_reqs]
        if self.ca_certs:
            _load("ssl_ca_certs", ctx.load_verify_locations, cafile=self.ca_certs)
        if self.certfile or self.keyfile:
            if not (self.certfile and self.keyfile):
                missing = "ssl_keyfile" if self.certfile else "ssl_certfile"
                raise ConfigError(
                    f"Redis TLS: a client certificate needs both ssl_certfile and ssl_keyfile; "
                    f"set {setting(missing)}"
                )
            _load(
                "ssl_certfile", ctx.load_cert_chain, self.certfile, self.keyfile, self.key_password
            )
        return ctx

    def redis_kwargs(self) -> dict[str, Any]:
        """redis-py's own ssl_* options, for a client class that builds its own context
        (e.g. redis.RedisCluster): the same settings as `context()`."""
        return {
            "ssl": True,
            "ssl_ca_certs": self.ca_certs,
            "ssl_certfile": self.certfile,
            "ssl_keyfile": self.keyfile,
            "ssl_password": self.key_password,
            "ssl_cert_reqs": self.cert_reqs,
            "ssl_check_hostname": self.check_hostname,
        }


def _load(name: str, action: Any, *args: Any, **kwargs: Any) -> None:
    """`action(*args, **kwargs)`, a context's loading of a file; a failure names the setting."""
    try:
        action(*args, **kwargs)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise ConfigError(
            f"Redis TLS: cannot load the file of {name} ({reason}); check {setting(name)}"
        ) from None


class TLSConnection(SSLConnection):
    """redis-py's TLS connection, wrapped with the endpoint's context (not one of its own)."""

    def __init__(self, *, tls_context: ssl.SSLContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tls_context = tls_context

    def _wrap_socket_with_ssl(self, sock: Any) -> ssl.SSLSocket:
        return self.tls_context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Endpoint:
    """A Redis to connect to: where (shown without credentials), how (options, TLS)."""

    shown: str  # rediss://host:port/db or unix:///path: never a password
    options: Mapping[str, Any] = field(repr=False)  # redis-py connection options
    tls: TLS | None = None
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @property
    def unix_path(self) -> str | None:
        return self.options.get("path")

    @property
    def address(self) -> tuple[str, int]:
        return self.options.get("host", "localhost"), int(self.options.get("port", 6379))

    @property
    def db(self) -> int:
        return int(self.options.get("db") or 0)

    @property
    def username(self) -> str | None:
        return self.options.get("username")

    @property
    def password(self) -> str | None:
        return self.options.get("password")

    def pool_kwargs(self) -> dict[str, Any]:
        """redis.ConnectionPool(**these): the connection class, address, credentials, TLS."""
        # driver_info=None: no CLIENT SETINFO on connect (two round trips, and a right the
        # least-privilege users do not need; Redis 7.0 has no such command)
        kwargs = {"driver_info": None, **self.options}
        if self.tls_context is not None:
            kwargs |= {"connection_class": TLSConnection, "tls_context": self.tls_context}
        return kwargs

    def client(self, **options: Any) -> redis.Redis:
        """A redis-py client; `options` (timeouts, retry...) override the URL's."""
        client = redis.Redis(
            connection_pool=redis.ConnectionPool(**{**self.pool_kwargs(), **options})
        )
        client.auto_close_connection_pool = True  # as redis.Redis.from_url: close() closes it
        return client


def endpoint(url: str, env: Mapping[str, str] | None = None) -> Endpoint:
    """The Endpoint a URL names, completed by FEATUREHOUSE_REDIS_* variables of `env`
    (default os.environ): credentials when the URL has none, TLS settings for rediss://."""
    env = os.environ if env is None else env
    try:
        options = parse_url(url)
    except ValueError as exc:
        raise ConfigError(f"bad Redis URL {redact(url)}: {exc}") from None
    from_url = {k: options.pop(k) for k in list(options) if k in TLS_ENV}
    unknown = sorted(set(options) - _URL_OPTIONS)
    if unknown:
        known = ", ".join(sorted(TLS_ENV))
        raise ConfigError(
            f"Redis URL {redact(url)}: unknown parameter {', '.join(unknown)}; TLS takes {known}"
        )
    secure = options.get("connection_class") is SSLConnection
    if from_url and not secure:
        raise ConfigError(
            f"Redis URL {redact(url)} sets {', '.join(sorted(from_url))} but is not TLS: "
            "write rediss:// (TLS) instead of redis://"
        )
    options.pop("connection_class", None)
    if options.get("path"):
        options["connection_class"] = UnixDomainSocketConnection
    if "password" not in options and env.get(PASSWORD_ENV):
        options["password"] = env[PASSWORD_ENV]
        if "username" not in options and env.get(USERNAME_ENV):
            options["username"] = env[USERNAME_ENV]
    tls = _tls(from_url, env) if secure else None
    return Endpoint(
        shown=_shown(options, secure),
        options=options,
        tls=tls,
        tls_context=tls.context() if tls is not None else None,
    )


def _tls(from_url: Mapping[str, Any], env: Mapping[str, str]) -> TLS:
    got = {k: from_url[k] if k in from_url else env.get(v) for k, v in TLS_ENV.items()}
    for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if got[name] and not Path(got[name]).is_file():
            raise ConfigError(
                f"Redis TLS: {name} file {got[name]} does not exist; check {setting(name)}"
            )
    reqs = str(got["ssl_cert_reqs"] or "required").lower()
    if reqs not in _CERT_REQS:
        raise ConfigError(
            f"Redis TLS: ssl_cert_reqs is {reqs!r}; use none, optional or required "
            f"({setting('ssl_cert_reqs')})"
        )
    check = got["ssl_check_hostname"]
    if isinstance(check, str):
        check = check.strip().lower() not in ("0", "false", "no", "off")
    return TLS(
        ca_certs=got["ssl_ca_certs"] or None,
        certfile=got["ssl_certfile"] or None,
        keyfile=got["ssl_keyfile"] or None,
        key_password=got["ssl_password"] or None,
        cert_reqs=reqs,
        check_hostname=True if check is None else bool(check),
    )


def _shown(options: Mapping[str, Any], secure: bool) -> str:
    if options.get("path"):
        return f"unix://{options['path']}"
    host, port = options.get("host", "localhost"), options.get("port", 6379)
    return f"{'rediss' if secure else 'redis'}://{host}:{port}/{options.get('db', 0)}"


def client(url: str, env: Mapping[str, str] | None = None, **options: Any) -> redis.Redis:
    """`endpoint(url, env).client(**options)`: a redis-py client of the URL."""
    return endpoint(url, env).client(**options)
