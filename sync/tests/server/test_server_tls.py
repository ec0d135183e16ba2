"""`featurehouse serve` as featurehouse-reader over mutual TLS to Redis, serving HTTPS itself
(--tls-certfile/--tls-keyfile, two workers): reads work, a wrong CA is a one-line 503 naming
TLS and the setting, and no password or key is shown anywhere (logs, answers, metrics, the
process titles)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from featurehouse.online.redis import RedisStore, acl
from security_support import PASSWORDS, Secured, process_titles, secured_redis
from server_support import clean_env, publish_all, serve

PREFIX = "fhsrvtls"
BODY = {"features": ["feat_customer__orders:count_orders_7d"], "entities": {"customer_id": [1, 2]}}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_redis(tmp_path_factory.mktemp("certs"), PREFIX) as found:
        publish_all(RedisStore.from_url(found.url(acl.WRITER), PREFIX))
        yield found


def test_the_server_reads_as_reader_over_mutual_tls_and_serves_https(
    secured: Secured, tmp_path: Path
) -> None:
    certs = secured.certs
    https = ("--tls-certfile", str(certs.server_crt), "--tls-keyfile", str(certs.server_key))
    seen: list[str] = []
    url = secured.url(acl.READER)
    with serve(url, PREFIX, tmp_path, *https, "--workers", "2", https_ca=certs.ca_crt) as server:
        assert server.url.startswith("https://")
        for _ in range(4):  # both workers
            answer = server.post("/get-online-features", BODY)
            assert answer.status_code == 200, answer.text
            assert answer.json()["results"][1]["values"] == [3, 0]  # v2, the latest
        health = server.get("/health")
        assert health.status_code == 200 and health.json()["redis"] == {"ok": True}
        views = server.get("/v1/views").json()["views"]
        assert {v["view"] for v in views} >= {"feat_customer__orders"}
        unknown = server.post("/get-online-features", {**BODY, "features": ["nope:x"]})
        assert unknown.status_code == 400  # unknown_view
        seen += [answer.text, health.text, unknown.text, server.get("/metrics").text]
        seen += [server.get("/openapi.json").text, *process_titles(server.proc.pid)]
        titles = process_titles(server.proc.pid)
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served
            httpx.get(server.url.replace("https:", "http:") + "/health", timeout=5)
    seen.append(server.output())
    assert any("featurehouse-reader:***@" in t for t in titles), titles
    assert "https://127.0.0.1" in server.output()
    assert secured.leaks(seen) == []


def test_a_wrong_ca_is_a_one_line_503_naming_tls_and_the_setting(
    secured: Secured, tmp_path: Path
) -> None:
    url = secured.url(acl.READER, ca=secured.certs.wrong_ca_crt)
    env = clean_env()
    with serve(url, PREFIX, tmp_path, "--redis-timeout", "2", env=env) as server:
        answer = server.post("/get-online-features", BODY)
        assert answer.status_code == 503
        detail = answer.json()["detail"]
        assert "\n" not in detail and detail.startswith("TLS to Redis at rediss://127.0.0.1:")
        assert "ssl_ca_certs" in detail and "FEATUREHOUSE_REDIS_SSL_CA_CERTS" in detail
        health = server.get("/health")
        assert health.status_code == 503 and "CERTIFICATE_VERIFY_FAILED" in health.text
        seen = [answer.text, health.text, server.get("/metrics").text]
    assert secured.leaks([*seen, server.output()]) == []


def test_tls_settings_from_the_environment_reach_the_workers(
    secured: Secured, tmp_path: Path
) -> None:
    certs = secured.certs
    env = clean_env(
        FEATUREHOUSE_REDIS_PASSWORD=PASSWORDS[acl.READER],
        FEATUREHOUSE_REDIS_USERNAME=acl.READER,
        FEATUREHOUSE_REDIS_SSL_CA_CERTS=str(certs.ca_crt),
        FEATUREHOUSE_REDIS_SSL_CERTFILE=str(certs.client_crt),
        FEATUREHOUSE_REDIS_SSL_KEYFILE=str(certs.client_key),
    )
    url = f"rediss://127.0.0.1:{secured.server.tls_port}/0"
    with serve(url, PREFIX, tmp_path, "--workers", "2", env=env) as server:
        for _ in range(4):
            assert server.post("/get-online-features", BODY).status_code == 200
