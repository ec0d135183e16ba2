"""TLS to a real redis-server (its tls-port) with a private CA and mutual TLS required: the
sync client and the server's async reader connect through the one `connection.endpoint`,
and every TLS failure is one line naming TLS and the setting to fix."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from featurehouse.errors import ConfigError, OnlineStoreError, RedisUnavailable
from featurehouse.online import ReadRequest
from featurehouse.online.redis import AsyncReader, RedisStore, connection, open_store, wire
from online_support import schema, simple_batch
from redis_tls import Certs, TLSRedis, make_certs
from server_support import publish

PREFIX = "fhtls"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def tls_redis(certs: Certs) -> Iterator[TLSRedis]:
    """A redis-server that requires a client certificate (tls-auth-clients yes), with a view
    published over TLS."""
    with TLSRedis(certs, "yes") as server:
        publish(RedisStore.from_url(server.url(), PREFIX), schema(), simple_batch(50, tag=1), True)
        yield server


def _async_read(url: str) -> tuple:
    async def read() -> tuple:
        reader = AsyncReader(url, PREFIX, 5.0, busy_poll_us=200)
        try:
            await reader.ping()
            got = await reader.read([ReadRequest("feat_customer__orders")], [{"customer_id": 7}])
            proto = reader.client._proto
            assert proto is not None and proto.fd is None  # TLS: never busy-polled
            return got[0].values
        finally:
            reader.close()

    return asyncio.run(read())


def test_private_ca_and_mutual_tls_on_every_client(tls_redis: TLSRedis) -> None:
    url = tls_redis.url()
    request = [ReadRequest("feat_customer__orders")]
    assert RedisStore.from_url(url, PREFIX).read(request, [{"customer_id": 7}])[0].values == (
        (7.1, 1),
    )
    served = open_store(url, PREFIX, timeout=5.0)  # the server's catalog client
    assert [s.rows for s in served.views()] == [50]
    assert _async_read(url) == ((7.1, 1),)  # the server's async reader: same context


def test_redis_py_own_ssl_options_are_the_same_settings(tls_redis: TLSRedis) -> None:
    """What a client class building its own context (redis.RedisCluster) gets."""
    point = connection.endpoint(tls_redis.url())
    assert point.tls is not None
    host, port = point.address
    client = redis.Redis(host=host, port=port, **point.tls.redis_kwargs())
    assert client.ping()
    client.close()


def test_settings_from_the_environment(
    tls_redis: TLSRedis, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, path in (
        ("SSL_CA_CERTS", certs.ca_crt),
        ("SSL_CERTFILE", certs.client_crt),
        ("SSL_KEYFILE", certs.client_key),
    ):
        monkeypatch.setenv(f"FEATUREHOUSE_REDIS_{name}", str(path))
    url = f"rediss://127.0.0.1:{tls_redis.tls_port}/0"
    assert RedisStore.from_url(url, PREFIX).client.ping()
    assert _async_read(url) == ((7.1, 1),)
    # the URL's own parameter wins over the environment
    wrong = f"{url}?ssl_ca_certs={certs.wrong_ca_crt}"
    with pytest.raises(RedisUnavailable, match="ssl_ca_certs"):
        RedisStore.from_url(wrong, PREFIX).views()


def _one_line(exc: pytest.ExceptionInfo[OnlineStoreError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("client", ["sync", "async"])
def test_wrong_ca_is_one_line_naming_tls_and_the_setting(
    tls_redis: TLSRedis, certs: Certs, client: str
) -> None:
    url = tls_redis.url(ca=certs.wrong_ca_crt)
    with pytest.raises(RedisUnavailable) as exc:
        RedisStore.from_url(url, PREFIX).views() if client == "sync" else _async_read(url)
    text = _one_line(exc)
    assert text.startswith(f"TLS to Redis at rediss://127.0.0.1:{tls_redis.tls_port}/0 failed")
    assert "CERTIFICATE_VERIFY_FAILED" in text
    assert "ssl_ca_certs" in text and "FEATUREHOUSE_REDIS_SSL_CA_CERTS" in text


@pytest.mark.parametrize("client", ["sync", "async"])
def test_missing_client_certificate_names_certfile_and_keyfile(
    tls_redis: TLSRedis, client: str
) -> None:
    url = tls_redis.url(client_cert=False)
    with pytest.raises(RedisUnavailable) as exc:
        RedisStore.from_url(url, PREFIX).views() if client == "sync" else _async_read(url)
    text = _one_line(exc)
    assert "TLS" in text and "mutual TLS" in text
    assert "FEATUREHOUSE_REDIS_SSL_CERTFILE" in text and "ssl_keyfile" in text


@pytest.mark.parametrize(
    "raised",
    [
        ConnectionResetError(104, "Connection reset by peer"),
        redis.ConnectionError("Connection closed by Redis: [Errno 104] Connection reset by peer"),
        redis.ConnectionError("Connection closed by server."),
    ],
)
def test_a_refused_client_certificate_reads_the_same_whichever_way_the_socket_ends(
    raised: Exception,
) -> None:
    """Under TLS 1.3 Redis refuses a client certificate after the client's handshake has
    ended: the client sees an alert, a reset or a closed socket depending on timing."""
    text = str(wire.translate(raised, "rediss://127.0.0.1:6380/0", "checking health"))
    assert text.startswith("TLS to Redis at rediss://127.0.0.1:6380/0 failed")
    assert "mutual TLS" in text and "FEATUREHOUSE_REDIS_SSL_CERTFILE" in text
    plain = str(wire.translate(raised, "redis://127.0.0.1:6379/0", "checking health"))
    assert plain.startswith("Redis at redis://127.0.0.1:6379/0 is unavailable")


def test_scheme_and_port_mix_ups_say_which_scheme(tls_redis: TLSRedis, certs: Certs) -> None:
    plain_to_tls = f"redis://127.0.0.1:{tls_redis.tls_port}/0"
    with pytest.raises(RedisUnavailable) as exc:
        open_store(plain_to_tls, PREFIX, timeout=2.0).views()
    assert "write rediss://" in _one_line(exc)
    tls_to_plain = f"rediss://127.0.0.1:{tls_redis.port}/0?ssl_ca_certs={certs.ca_crt}"
    with pytest.raises(RedisUnavailable) as exc:
        open_store(tls_to_plain, PREFIX, timeout=0.5).views()
    text = _one_line(exc)
    assert text.startswith(f"Redis at rediss://127.0.0.1:{tls_redis.port}/0")
    assert "write redis://" in text


@pytest.mark.fast
@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("rediss://h:1/0?ssl_ca_certs=/nowhere/ca.crt", {}, "ssl_ca_certs file /nowhere/ca.crt"),
        ("rediss://h:1/0", {"FEATUREHOUSE_REDIS_SSL_KEYFILE": "/no/key"}, "ssl_keyfile file"),
        ("redis://h:1/0?ssl_ca_certs=ca.crt", {}, "is not TLS: write rediss://"),
        ("rediss://h:1/0?ssl_cert_reqs=maybe", {}, "use none, optional or required"),
        ("rediss://h:1/0?ssl_verify=1", {}, "unknown parameter ssl_verify"),
        ("redis://u:pw@h:1/0?bogus=1", {}, "redis://u:***@h:1/0"),
    ],
)
def test_bad_tls_settings_are_config_errors(url: str, env: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=None) as exc:
        connection.endpoint(url, env)
    assert expected in str(exc.value) and "pw@" not in str(exc.value)


@pytest.mark.fast
def test_a_certificate_needs_its_key(certs_dir: Path) -> None:
    cert = certs_dir / "client.crt"
    with pytest.raises(ConfigError, match="needs both ssl_certfile and ssl_keyfile"):
        connection.endpoint(f"rediss://h:1/0?ssl_certfile={cert}", {})
    with pytest.raises(ConfigError, match="cannot load the file of ssl_ca_certs"):
        connection.endpoint(f"rediss://h:1/0?ssl_ca_certs={cert.with_suffix('.key')}", {})


@pytest.mark.fast
def test_endpoint_shows_no_secret_and_keeps_the_scheme(certs_dir: Path) -> None:
    env = {"FEATUREHOUSE_REDIS_PASSWORD": "s3cret", "FEATUREHOUSE_REDIS_USERNAME": "reader"}
    ca = certs_dir / "ca.crt"
    point = connection.endpoint(f"rediss://10.1.2.3:6380/2?ssl_ca_certs={ca}", env)
    assert point.shown == "rediss://10.1.2.3:6380/2"
    assert (point.username, point.password, point.db) == ("reader", "s3cret", 2)
    assert "s3cret" not in repr(point)
    assert point.tls is not None and point.tls.ca_certs == str(ca)
    assert connection.endpoint("unix:///tmp/x.sock", env).shown == "unix:///tmp/x.sock"
    # a password in the URL wins over the environment's, and the user with it
    own = connection.endpoint("redis://:other@h:1/0", env)
    assert (own.username, own.password) == (None, "other")


@pytest.fixture(scope="module")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Certificate files for the pure tests (openssl, no server)."""
    return make_certs(tmp_path_factory.mktemp("pure-certs")).folder
