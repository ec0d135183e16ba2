"""Feature services and usage history on a real `featurehouse serve`: a service by name in
Feast's shape, usage counters that add up under 200 concurrent clients (flushed periodically
and at shutdown, never a write per request), the sampled feature log, and the warning header
when a deprecated view version is read."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import online_support
import pytest
from cli_process import run_featurehouse
from featurehouse.online import OnlineStore, ServiceRecord
from featurehouse.refs import ServiceRefs, parse_feature
from online_support import SHARED_URL, shared_client
from server_support import ORDERS_V1, ORDERS_V2, _orders_v1, _orders_v2, clean_env, publish, serve

CLIENTS = 200
REQUESTS_EACH = 5
SERVICE = ServiceRecord(
    ServiceRefs(
        "risk_model",
        (
            parse_feature("feat_customer__orders.v1:count_orders_7d"),
            parse_feature("feat_customer__orders:avg_amount_7d"),
            parse_feature("feat_customer__orders.v1:sum_amount_7d"),
        ),
    ),
    description="scores risk",
    owner="risk",
    sample_rate=1.0,
    extra={
        "views": [
            "feat_customer__orders.v1",
            "feat_customer__orders.v2",
            "feat_customer__orders.v1",
        ],
        "deprecation_dates": {"feat_customer__orders.v1": "2020-01-01"},
    },
)


@pytest.fixture
def store() -> Iterator[OnlineStore]:
    """orders v1 (deprecated since 2020-01-01) and v2, and one service, under a new prefix."""
    with online_support.test_store(shared_client()) as fresh:
        extra = {**ORDERS_V1.extra, "deprecation_date": "2020-01-01T00:00:00Z"}
        publish(fresh, dataclasses.replace(ORDERS_V1, extra=extra), _orders_v1(), latest=False)
        publish(fresh, ORDERS_V2, _orders_v2(), latest=True)
        fresh.publish_services([SERVICE])
        yield fresh


def _counts(store: OnlineStore) -> dict[tuple[str, str], tuple[int, int]]:
    return {(u.kind, u.name): (u.reads, u.entities) for u in store.usage()}


async def _load(url: str) -> int:
    """CLIENTS clients at once, each sending REQUESTS_EACH requests of 2 entities."""
    body = {"feature_service": "risk_model", "entities": {"customer_id": [1, 2]}}

    async def client() -> int:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            for _ in range(REQUESTS_EACH):
                assert (await http.post("/get-online-features", json=body)).status_code == 200
        return REQUESTS_EACH

    return sum(await asyncio.gather(*(client() for _ in range(CLIENTS))))


def test_usage_adds_up_under_200_concurrent_clients(store: OnlineStore, tmp_path: Path) -> None:
    with serve(SHARED_URL, store.prefix, tmp_path, "--usage-flush-seconds", "0.5") as server:
        sent = asyncio.run(_load(server.url))
        deadline = time.monotonic() + 30
        while _counts(store).get(("service", "risk_model"), (0, 0))[0] < sent:
            assert time.monotonic() < deadline, _counts(store)  # flushed while it runs
            time.sleep(0.2)
        more = server.post(
            "/v1/features",
            {"features": ["feat_customer__orders:avg_amount_7d"], "entities": [{"customer_id": 9}]},
        )
        assert more.status_code == 200
    counts = _counts(store)  # the last request: flushed when the server stopped
    assert sent == CLIENTS * REQUESTS_EACH
    assert counts[("service", "risk_model")] == (sent, 2 * sent)
    assert counts[("view", "feat_customer__orders.v1")] == (sent, 2 * sent)
    assert counts[("view", "feat_customer__orders.v2")] == (sent + 1, 2 * sent + 1)
    usage = {u.name: u for u in store.usage()}
    assert usage["risk_model"].last_read_at is not None
    assert sum(usage["risk_model"].reads_by_day.values()) == sent
    logged = store.logged_rows(100_000)  # sample_rate 1.0: every served row
    assert len(logged) == 2 * sent
    row = logged[0][1]
    assert row.service == "risk_model" and row.entity["customer_id"] in (1, 2)
    assert list(row.values) == ["count_orders_7d", "avg_amount_7d", "sum_amount_7d"]
    assert set(row.statuses.values()) <= {"present", "expired", "not_found"}
    store.drop_logged([i for i, _ in logged])
    assert store.logged_rows(10) == []


def test_a_service_by_name_and_a_deprecated_version(store: OnlineStore, tmp_path: Path) -> None:
    with serve(SHARED_URL, store.prefix, tmp_path, "--no-usage") as server:
        entities = {"customer_id": [1, 99]}
        by_service = server.post(
            "/get-online-features", {"feature_service": "risk_model", "entities": entities}
        )
        by_refs = server.post(
            "/get-online-features", {"features": SERVICE.refs.refs, "entities": entities}
        )
        assert by_service.status_code == by_refs.status_code == 200, by_service.text
        assert by_service.json() == by_refs.json()
        names = by_service.json()["metadata"]["feature_names"]
        assert names == ["customer_id", "count_orders_7d", "avg_amount_7d", "sum_amount_7d"]
        warning = by_service.headers["warning"]
        assert warning.startswith('299 featurehouse "feat_customer__orders.v1 is deprecated')
        assert "since 2020-01-01" in warning
        latest = server.post(
            "/get-online-features",
            {"features": ["feat_customer__orders:avg_amount_7d"], "entities": entities},
        )
        assert "warning" not in latest.headers
        feast = server.post(
            "/get-online-features",
            {
                "features": ["feat_customer__orders@v1:count_orders_7d"],
                "entities": entities,
                "full_feature_names": True,
                "include_feature_view_version_metadata": True,
            },
        ).json()
        assert feast["metadata"]["feature_names"][1] == "feat_customer__orders@v1__count_orders_7d"
        assert feast["metadata"]["feature_view_metadata"] == [
            {"name": "feat_customer__orders", "version": 1}
        ]
        assert feast["results"][1] == by_refs.json()["results"][1]
        native = server.post(
            "/v1/features", {"feature_service": "risk_model", "entities": [{"customer_id": 1}]}
        ).json()
        assert list(native["rows"][0]) == ["customer_id", *SERVICE.refs.refs]
    assert "read of a deprecated version (feature service risk_model)" in server.output()
    assert _counts(store) == {}  # --no-usage: nothing counted
    env = {
        **clean_env(),
        "FEATUREHOUSE_REDIS_URL": SHARED_URL,
        "FEATUREHOUSE_REDIS_PREFIX": store.prefix,
    }
    done = run_featurehouse("deprecations", "--within", "0", "--check", cwd=tmp_path, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "feat_customer__orders.v1  deprecated since 2020-01-01  pinned by risk_model" in done.stdout
    )
