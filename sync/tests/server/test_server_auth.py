"""API keys: from --api-key-file and FEATUREHOUSE_API_KEYS, as a bearer token or X-API-Key;
/health and /openapi.json stay open; the CLI refuses a key file without keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_process import run_featurehouse
from featurehouse.online import OnlineStore
from featurehouse.server.state import ServerConfig, Service, parse_keys
from online_support import SHARED_URL
from server_support import ServerProcess, clean_env, serve

FILE_KEYS = ("k-file-one-5f1c0d9a7e", "k-file-two-2b8e44c1d0")
ENV_KEY = "k-env-3c9a1f0e77b2"
BODY = {"features": ["feat_customer__orders:count_orders_7d"], "entities": {"customer_id": [1]}}


@pytest.fixture(scope="module")
def secured(
    served_store: OnlineStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("secured")
    key_file = workdir / "keys.txt"
    key_file.write_text(f"# production keys\n{FILE_KEYS[0]}\n\n{FILE_KEYS[1]}  # rotated in\n")
    env = clean_env(FEATUREHOUSE_API_KEYS=ENV_KEY)
    with serve(
        SHARED_URL, served_store.prefix, workdir, "--api-key-file", str(key_file), env=env
    ) as server:
        yield server


@pytest.mark.parametrize("path", ["/get-online-features", "/v1/features", "/v1/noop"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"x-api-key": "wrong"}, {"authorization": "Basic x"}],
)
def test_missing_or_wrong_key_is_401(
    secured: ServerProcess, path: str, headers: dict[str, str]
) -> None:
    response = secured.post(path, BODY, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "API key" in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/v1/views", "/metrics"])
def test_reads_need_a_key_too(secured: ServerProcess, path: str) -> None:
    assert secured.get(path).status_code == 401
    assert secured.get(path, headers={"authorization": f"Bearer {ENV_KEY}"}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {FILE_KEYS[0]}"},
        {"authorization": f"bearer {FILE_KEYS[1]}"},
        {"x-api-key": FILE_KEYS[1]},
        {"x-api-key": ENV_KEY},
    ],
)
def test_every_configured_key_works(secured: ServerProcess, headers: dict[str, str]) -> None:
    response = secured.post("/get-online-features", BODY, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["results"][1]["values"] == [3]


def test_health_and_schema_are_open(secured: ServerProcess) -> None:
    assert secured.get("/health").status_code == 200
    doc = secured.get("/openapi.json").json()
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    assert doc["paths"]["/health"]["get"]["security"] == []


def test_a_key_file_without_keys_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "keys.txt"
    empty.write_text("# nothing yet\n\n")
    done = run_featurehouse(
        "serve", "--api-key-file", str(empty), env=clean_env(), cwd=tmp_path, timeout=60
    )
    assert done.returncode == 2
    assert "holds no key" in done.stderr


def test_keys_compare_in_constant_time_against_every_key() -> None:
    """Every configured key is compared (hmac.compare_digest on SHA-256 digests), so the time
    taken says nothing about which key, or how much of one, matched."""
    service = Service(ServerConfig(api_keys=("a" * 20, "b" * 20)))
    assert service.authorized({"authorization": "Bearer " + "b" * 20})
    assert service.authorized({"x-api-key": "a" * 20})
    assert not service.authorized({"x-api-key": "a" * 19})
    assert not service.authorized({})
    assert Service(ServerConfig()).authorized({})


def test_parse_keys() -> None:
    assert parse_keys("a, b\n# c\nd # e\n\n a") == ("a", "b", "d")
