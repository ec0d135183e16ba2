"""The feature server as a real process on a free port against the shared Redis: every
endpoint, the Feast shape against OnlineStore.read, the native shape, the catalog refresh.
"""

from __future__ import annotations

import dataclasses
import math
import time
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from featurehouse.online import OnlineStore, ReadRequest
from online_support import AS_OF, SHARED_URL
from server_support import (
    COUNTRY,
    LAST_ORDER,
    ORDERS_V1,
    ORDERS_V2,
    POPULARITY,
    ServerProcess,
    _orders_v2,
    metric,
    publish,
)

V1, V2 = "feat_customer__orders.v1", "feat_customer__orders"
ORDERS = [f"{V2}:count_orders_7d", f"{V2}:avg_amount_7d", f"{V2}:country_code", f"{V2}:embedding"]


def json_value(value: Any) -> Any:
    """A Python API value as the server writes it in JSON."""
    if isinstance(value, datetime):
        text = value.isoformat()
        return text + "Z"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def ts(value: datetime | None) -> str:
    return "1970-01-01T00:00:00Z" if value is None else value.isoformat() + "Z"


def feast(server: ServerProcess, features: list[str], **entities: list) -> dict[str, Any]:
    response = server.post("/get-online-features", {"features": features, "entities": entities})
    assert response.status_code == 200, response.text
    return response.json()


# --- the Feast shape ---


def test_feast_shape_is_column_oriented_keys_first(server: ServerProcess) -> None:
    body = feast(server, [ORDERS[0], f"{V1}:sum_amount_7d"], customer_id=[1, 3, 99])
    assert body["metadata"] == {
        "feature_names": ["customer_id", "count_orders_7d", "sum_amount_7d"]
    }
    keys, count, amount = body["results"]
    assert keys == {
        "values": [1, 3, 99],
        "statuses": ["PRESENT"] * 3,
        "event_timestamps": ["1970-01-01T00:00:00Z"] * 3,
    }
    assert count["values"] == [3, None, None]
    assert count["statuses"] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert count["event_timestamps"] == [
        "2026-04-30T23:00:00Z",
        "2026-04-29T18:00:00Z",
        "1970-01-01T00:00:00Z",
    ]
    assert amount["values"] == [129.5, None, None]
    assert set(body) == {"metadata", "results"}


def test_feast_values_equal_the_python_api(
    server: ServerProcess, served_store: OnlineStore
) -> None:
    ids = [1, 2, 3, 4, 5, "1"]
    v1 = [f"{V1}:{f}" for f in ORDERS_V1.feature_names]
    body = feast(server, [*ORDERS, *v1[1:]], customer_id=ids)
    rows = [{"customer_id": i} for i in ids]
    read = served_store.read(
        [
            ReadRequest(ORDERS_V2.view, 2),
            ReadRequest(ORDERS_V1.view, 1, v1_names := tuple(ORDERS_V1.feature_names[1:])),
        ],
        rows,
        now=AS_OF,
    )
    expected: list[tuple[str, list, list, list]] = []
    for result, names in ((read[0], ORDERS_V2.feature_names), (read[1], v1_names)):
        for j, name in enumerate(names):
            expected.append(
                (
                    name,
                    [json_value(v[j]) for v in result.values],
                    [s[j].upper().replace("EXPIRED", "OUTSIDE_MAX_AGE") for s in result.statuses],
                    [ts(t) for t in result.event_at],
                )
            )
    assert body["metadata"]["feature_names"] == ["customer_id", *(e[0] for e in expected)]
    assert body["results"][0]["values"] == ids
    for got, (_, values, statuses, times) in zip(body["results"][1:], expected, strict=True):
        assert got == {"values": values, "statuses": statuses, "event_timestamps": times}
    # the decoded values themselves, spelled out once
    by_name = dict(zip(body["metadata"]["feature_names"], body["results"], strict=True))
    assert by_name["avg_amount_7d"]["values"][3] == "NaN"
    assert by_name["embedding"]["values"][:4] == [[0.25, -1.5], [], None, ["NaN", "-Infinity"]]
    assert by_name["country_code"]["values"][:2] == ["DE", "FR"]
    assert by_name["last_ordered_at"]["values"][0] == "2026-04-29T13:45:30.250000Z"
    assert by_name["sum_amount_7d"]["values"][3] == "Infinity"
    assert by_name["is_repeat_buyer"]["values"][:3] == [True, None, None]


def test_feast_full_feature_names_and_pins(server: ServerProcess) -> None:
    response = server.post(
        "/get-online-features",
        {
            "features": [ORDERS[0], f"{V1}:count_orders_7d"],
            "entities": {"customer_id": [1]},
            "full_feature_names": True,
        },
    )
    assert response.json()["metadata"]["feature_names"] == [
        "customer_id",
        "feat_customer__orders__count_orders_7d",
        "feat_customer__orders__v1__count_orders_7d",
    ]


def test_feast_same_name_twice_needs_full_feature_names(server: ServerProcess) -> None:
    response = server.post(
        "/get-online-features",
        {"features": [ORDERS[0], f"{V1}:count_orders_7d"], "entities": {"customer_id": [1]}},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "ambiguous_feature_names"
    assert "full_feature_names" in response.json()["detail"]


def test_several_views_keys_and_entities_in_one_request(server: ServerProcess) -> None:
    body = feast(
        server,
        [
            ORDERS[0],
            "feat_product__popularity:views_7d",
            "feat_customer_country__orders:count_orders_30d",
        ],
        customer_id=[1, 1, 2],
        product_id=["p1", 42, "nope"],
        country_code=["DE", "FR", "DE"],
    )
    names = body["metadata"]["feature_names"]
    assert names == [
        "customer_id",
        "product_id",
        "country_code",
        "count_orders_7d",
        "views_7d",
        "count_orders_30d",
    ]
    values = {n: r["values"] for n, r in zip(names, body["results"], strict=True)}
    assert values["product_id"] == ["p1", 42, "nope"]  # echoed as sent
    assert values["views_7d"] == [120, 1, None]  # 42 finds the string key "42"
    assert values["count_orders_30d"] == [5, 1, None]
    assert values["count_orders_7d"] == [3, 3, 0]


def test_zero_entities(server: ServerProcess) -> None:
    body = feast(server, ORDERS[:1], customer_id=[])
    assert body["results"] == [
        {"values": [], "statuses": [], "event_timestamps": []},
        {"values": [], "statuses": [], "event_timestamps": []},
    ]


def test_content_type_is_not_required(server: ServerProcess) -> None:
    """curl -d sends form content type, as in Feast's examples: the body is JSON anyway."""
    response = server.client.post(
        "/get-online-features",
        content=b'{"features": ["feat_customer__orders:count_orders_7d"], '
        b'"entities": {"customer_id": [1]}}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert response.json()["results"][1]["values"] == [3]


# --- the native shape ---


def test_native_rows(server: ServerProcess) -> None:
    response = server.post(
        "/v1/features",
        {
            "features": [ORDERS[0], f"{V1}:last_ordered_at"],
            "entities": [{"customer_id": 1}, {"customer_id": "3"}, {"customer_id": 7}],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "rows": [
            {
                "customer_id": 1,
                ORDERS[0]: {"value": 3, "status": "present", "event_at": "2026-04-30T23:00:00Z"},
                f"{V1}:last_ordered_at": {
                    "value": LAST_ORDER.isoformat() + "Z",
                    "status": "present",
                    "event_at": "2026-04-30T23:00:00Z",
                },
            },
            {
                "customer_id": "3",
                ORDERS[0]: {"value": None, "status": "expired", "event_at": "2026-04-29T18:00:00Z"},
                f"{V1}:last_ordered_at": {
                    "value": None,
                    "status": "expired",
                    "event_at": "2026-04-29T18:00:00Z",
                },
            },
            {
                "customer_id": 7,
                ORDERS[0]: {"value": None, "status": "not_found", "event_at": None},
                f"{V1}:last_ordered_at": {"value": None, "status": "not_found", "event_at": None},
            },
        ]
    }


def test_native_values_only(server: ServerProcess) -> None:
    response = server.post(
        "/v1/features",
        {
            "features": ["feat_product__popularity:score", ORDERS[3]],
            "entities": [{"product_id": "p2", "customer_id": 4}],
            "values_only": True,
        },
    )
    assert response.json() == {
        "rows": [
            {
                "product_id": "p2",
                "customer_id": 4,
                "feat_product__popularity:score": 0.1,
                ORDERS[3]: ["NaN", "-Infinity"],
            }
        ]
    }


# --- catalog, noop, health, metrics, openapi ---


def test_views_lists_every_published_version(server: ServerProcess) -> None:
    views = server.get("/v1/views").json()["views"]
    got = {(v["view"], v["version"]): v for v in views}
    assert set(got) == {
        (ORDERS_V1.view, 1),
        (ORDERS_V2.view, 2),
        (POPULARITY.view, None),
        (COUNTRY.view, 1),
    }
    v2 = got[(ORDERS_V2.view, 2)]
    assert v2["latest"] is True and got[(ORDERS_V1.view, 1)]["latest"] is False
    assert v2["keys"] == [{"name": "customer_id", "type": "int64"}]
    assert v2["features"][3] == {"name": "embedding", "type": "list<float64>"}
    assert v2["ttl_seconds"] == 86_400 and v2["entities"] == 4
    assert v2["as_of"] == "2026-05-01T00:00:00Z"


def test_noop(server: ServerProcess) -> None:
    assert server.post("/v1/noop", {"anything": [1]}).json() == {}
    assert server.client.post("/v1/noop").status_code == 200


def test_health(server: ServerProcess) -> None:
    response = server.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["redis"] == {"ok": True}
    assert body["registry"]["loaded"] is True and body["registry"]["views"] == 4


def test_metrics(server: ServerProcess) -> None:
    for _ in range(3):
        feast(server, ORDERS[:1], customer_id=[1, 2])
    server.post("/get-online-features", {"features": ["nope:x"], "entities": {"customer_id": [1]}})
    response = server.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    ok = metric(
        text, "featurehouse_http_requests_total", endpoint="get-online-features", status="200"
    )
    assert ok is not None and ok >= 3
    assert metric(
        text, "featurehouse_http_requests_total", endpoint="get-online-features", status="400"
    )
    count = metric(
        text, "featurehouse_http_request_duration_seconds_count", endpoint="get-online-features"
    )
    assert count is not None and count >= 4
    assert (
        metric(
            text,
            "featurehouse_http_request_duration_seconds_bucket",
            endpoint="get-online-features",
            le="+Inf",
        )
        == count
    )
    assert metric(text, "featurehouse_request_entities_sum", endpoint="get-online-features")
    assert metric(text, "featurehouse_redis_up") == 1
    assert metric(text, "featurehouse_registry_loaded") == 1
    staleness = metric(
        text, "featurehouse_view_staleness_seconds", view=ORDERS_V2.view, version="2"
    )
    as_of = AS_OF.replace(tzinfo=UTC).timestamp()
    assert staleness is not None and abs(staleness - (time.time() - as_of)) < 120
    assert (
        metric(text, "featurehouse_view_as_of_timestamp_seconds", view=POPULARITY.view, version="")
        == as_of
    )
    assert metric(text, "featurehouse_view_entities", view=COUNTRY.view, version="1") == 2
    assert metric(text, "featurehouse_redis_errors_total", kind="unavailable") is None


def test_openapi_document(server: ServerProcess) -> None:
    doc = server.get("/openapi.json").json()
    assert doc["openapi"] == "3.0.3"
    assert set(doc["paths"]) == {
        "/get-online-features",
        "/push",
        "/v1/features",
        "/v1/views",
        "/v1/noop",
        "/health",
        "/metrics",
        "/openapi.json",
    }
    example = doc["components"]["schemas"]["FeastRequest"]["example"]
    assert server.post("/get-online-features", example).status_code == 200
    assert "securitySchemes" not in doc["components"]


# --- the catalog follows Redis ---


def test_view_published_after_start_is_found(
    server: ServerProcess, served_store: OnlineStore
) -> None:
    late = dataclasses.replace(ORDERS_V2, view="feat_customer__late")
    publish(served_store, late, _orders_v2(), latest=True)
    time.sleep(0.2)  # unknown references re-read the catalog at most every 0.1 s
    body = feast(server, ["feat_customer__late:country_code"], customer_id=[1])
    assert body["results"][1]["values"] == ["DE"]


def test_republished_generation_is_read(server: ServerProcess, served_store: OnlineStore) -> None:
    batch = _orders_v2()
    counts = batch.column("count_orders_7d").to_pylist()
    changed = batch.set_column(2, "count_orders_7d", pa.array([c + 100 for c in counts]))
    try:
        publish(served_store, ORDERS_V2, changed, latest=True)
        assert feast(server, ORDERS[:1], customer_id=[1])["results"][1]["values"] == [103]
    finally:
        publish(served_store, ORDERS_V2, batch, latest=True)
    assert feast(server, ORDERS[:1], customer_id=[1])["results"][1]["values"] == [3]


def test_deleted_version_is_refused(server: ServerProcess, served_store: OnlineStore) -> None:
    gone = dataclasses.replace(
        ORDERS_V1, view="feat_customer__gone", features=ORDERS_V1.features[:1]
    )
    batch = _orders_v2().select(["customer_id", "__event_at", "count_orders_7d"])
    publish(
        served_store,
        gone,
        batch.set_column(2, "count_orders_7d", pa.array([1, 2, 3, 4])),
        latest=True,
    )
    ref = "feat_customer__gone.v1:count_orders_7d"
    time.sleep(0.2)  # unknown references re-read the catalog at most every 0.1 s
    assert feast(server, [ref], customer_id=[1])["results"][1]["values"] == [1]
    served_store.delete("feat_customer__gone", 1)
    time.sleep(0.2)  # unknown references re-read the catalog at most every 0.1 s
    response = server.post(
        "/get-online-features", {"features": [ref], "entities": {"customer_id": [1]}}
    )
    assert response.status_code in (400, 404), response.text
    assert "feat_customer__gone" in response.json()["detail"]


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_in_process_app_answers_like_the_process(
    server: ServerProcess, served_store: OnlineStore
) -> None:
    """create_app() under Starlette's TestClient (lifespan included), same answers."""
    from featurehouse.server import create_app
    from featurehouse.server.state import ServerConfig
    from starlette.testclient import TestClient

    body = {"features": ORDERS, "entities": {"customer_id": [1, 2, 3, 5]}}
    app = create_app(ServerConfig(redis_url=SHARED_URL, prefix=served_store.prefix))
    with TestClient(app) as local:
        assert local.get("/health").json()["registry"]["views"] >= 4
        assert (
            local.post("/get-online-features", json=body).json()
            == server.post("/get-online-features", body).json()
        )


def test_feature_dropped_by_a_republish_is_refused(
    server: ServerProcess, served_store: OnlineStore
) -> None:
    both = dataclasses.replace(
        ORDERS_V1, view="feat_customer__shrinking", features=ORDERS_V1.features[:2]
    )
    batch = _orders_v2().select(["customer_id", "__event_at", "count_orders_7d"])
    batch = batch.append_column("sum_amount_7d", pa.array([1.0, 2.0, 3.0, 4.0]))
    publish(served_store, both, batch, latest=True)
    time.sleep(0.2)  # unknown references re-read the catalog at most every 0.1 s
    ref = "feat_customer__shrinking:sum_amount_7d"
    assert feast(server, [ref], customer_id=[1])["results"][1]["values"] == [1.0]
    one = dataclasses.replace(both, features=both.features[:1])
    publish(served_store, one, batch.drop_columns(["sum_amount_7d"]), latest=True)
    time.sleep(0.2)
    response = server.post(
        "/get-online-features", {"features": [ref], "entities": {"customer_id": [1]}}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "unknown_feature"
