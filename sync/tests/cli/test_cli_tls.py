"""The commands and the Python API against a redis-server that requires mutual TLS, under the
two ACL users with known passwords: `sync` as featurehouse-writer; `get`, `list`,
`describe`, `catalog` and `FeatureStore` as featurehouse-reader, whose writes are refused in
one line; a wrong CA named; and no password or key in anything the run showed or stored."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from cli_process import run_featurehouse
from featurehouse.api import FeatureStore
from featurehouse.errors import RedisUnavailable
from featurehouse.online.redis import acl
from security_support import Secured, secured_redis
from sync_fixtures import MINI_DIR

PREFIX = "fhclitls"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    with secured_redis(tmp_path_factory.mktemp("certs"), PREFIX) as found:
        yield found


def _env(mini_env: dict[str, str], url: str) -> dict[str, str]:
    return {
        **mini_env,
        "DBT_PROJECT_DIR": str(MINI_DIR),
        "FEATUREHOUSE_REDIS_URL": url,
        "FEATUREHOUSE_REDIS_PREFIX": PREFIX,
    }


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_commands_and_api_over_mutual_tls_as_writer_and_reader(
    mini_env: dict[str, str],
    secured: Secured,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writer, reader = (
        _env(mini_env, secured.url(acl.WRITER)),
        _env(mini_env, secured.url(acl.READER)),
    )
    shown: list[str] = []

    def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        done = run_featurehouse(*args, env=env, cwd=MINI_DIR)
        shown.extend([done.stdout, done.stderr])
        return done

    synced = run("sync", "--as-of", "2026-05-01", "--json", env=writer)
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    port = secured.server.tls_port
    assert report["redis"] == f"rediss://featurehouse-writer:***@127.0.0.1:{port}/0"

    got = run("get", "feat_customer__orders", "2", "--json", env=reader)
    features = json.loads(got.stdout)[0]["features"]
    assert features["order_amount_pair"]["value"] == [7.75, 15.5]
    listed = run("list", "--json", env=reader)
    assert listed.returncode == 0 and "feat_country__orders" in listed.stdout
    described = run("describe", "feat_customer__orders", "--json", env=reader)
    assert described.returncode == 0, described.stderr
    site = tmp_path / "site"
    catalog = run("catalog", "--out", str(site), env=reader)
    assert catalog.returncode == 0, catalog.stderr
    shown += [p.read_text(errors="replace") for p in site.rglob("*") if p.is_file()]

    for key, value in reader.items():
        monkeypatch.setenv(key, value)
    store = FeatureStore(project_dir=MINI_DIR)
    online = store.get_online_features(
        ["feat_customer__orders:order_amount_pair"], [{"customer_id": 2}]
    )
    assert online.to_dict()["order_amount_pair"] == [[7.75, 15.5]]
    assert (
        store.redis_url == f"rediss://featurehouse-reader:***@127.0.0.1:{secured.server.tls_port}/0"
    )

    for args in (("sync", "--as-of", "2026-05-01"), ("delete", "feat_country__orders.v1")):
        refused = _one_line_error(run(*args, env=reader))
        assert "lacks the ACL right" in refused and "featurehouse acl" in refused
    assert run("get", "feat_country__orders", "1,de", env=reader).returncode == 0  # untouched

    wrong = _env(mini_env, secured.url(acl.READER, ca=secured.certs.wrong_ca_crt))
    error = _one_line_error(run("get", "feat_customer__orders", "2", env=wrong))
    assert "TLS to Redis at rediss://" in error and "FEATUREHOUSE_REDIS_SSL_CA_CERTS" in error

    with duckdb.connect(mini_env["FEATUREHOUSE_DUCKDB_PATH"], read_only=True) as warehouse:
        history = warehouse.sql("select * from featurehouse_monitoring.sync_history").fetchall()
    assert any(PREFIX in row for row in history)
    shown.append(repr(history))
    # the build's folder: dbt's log, target/ (what the sync compiled), the DuckDB file itself
    built = Path(mini_env["DBT_TARGET_PATH"]).parent
    shown += [p.read_bytes().decode(errors="replace") for p in built.rglob("*") if p.is_file()]
    assert secured.leaks(shown) == []


def test_tls_failures_are_one_line_on_sync_get_status_and_the_api(
    mini_env: dict[str, str], secured: Secured, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong CA (sync, the API) and no client certificate under mutual TLS (get): one line
    naming TLS and the setting to fix; the reader's `online status` answers without INFO."""
    wrong_ca = secured.url(acl.WRITER, ca=secured.certs.wrong_ca_crt)
    shown: list[str] = []
    synced = run_featurehouse(
        "sync", "--as-of", "2026-05-01", env=_env(mini_env, wrong_ca), cwd=MINI_DIR
    )
    error = _one_line_error(synced)
    assert error.startswith("Error: TLS to Redis at rediss://127.0.0.1:")
    assert "CERTIFICATE_VERIFY_FAILED" in error and "FEATUREHOUSE_REDIS_SSL_CA_CERTS" in error
    no_cert = secured.url(acl.READER, client_cert=False)
    got = run_featurehouse(
        "get", "feat_customer__orders", "2", env=_env(mini_env, no_cert), cwd=MINI_DIR
    )
    error = _one_line_error(got)
    assert "TLS to Redis at rediss://" in error and "mutual TLS" in error
    assert "FEATUREHOUSE_REDIS_SSL_CERTFILE" in error and "ssl_keyfile" in error
    status = run_featurehouse(
        "online", "status", "--json", env=_env(mini_env, secured.url(acl.READER)), cwd=MINI_DIR
    )
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["running"] is True and "may not run INFO" in report["info"]
    assert (
        report["url"] == f"rediss://featurehouse-reader:***@127.0.0.1:{secured.server.tls_port}/0"
    )
    shown += [synced.stdout, synced.stderr, got.stdout, got.stderr, status.stdout, status.stderr]

    reader_wrong_ca = secured.url(acl.READER, ca=secured.certs.wrong_ca_crt)
    for key, value in _env(mini_env, reader_wrong_ca).items():
        monkeypatch.setenv(key, value)
    store = FeatureStore(project_dir=MINI_DIR)
    with pytest.raises(RedisUnavailable) as exc:
        store.get_online_features(["feat_customer__orders:order_amount_pair"], [{"customer_id": 2}])
    text = str(exc.value)
    assert "\n" not in text and text.startswith("TLS to Redis at rediss://")
    assert "ssl_ca_certs" in text and "FEATUREHOUSE_REDIS_SSL_CA_CERTS" in text
    shown.append(text)
    assert secured.leaks(shown) == []
