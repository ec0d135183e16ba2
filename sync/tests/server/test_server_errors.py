"""Every way a request can be wrong gets a 4xx with a stable code and a message naming the
culprit (never a 500): JSON, shapes, references, keys, limits, paths and methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from server_support import ServerProcess, metric

F = "feat_customer__orders:count_orders_7d"
FEAST = "/get-online-features"
NATIVE = "/v1/features"


def ok_feast(**changes: Any) -> dict[str, Any]:
    return {"features": [F], "entities": {"customer_id": [1]}, **changes}


def ok_native(**changes: Any) -> dict[str, Any]:
    return {"features": [F], "entities": [{"customer_id": 1}], **changes}


# (path, body, status, code, words the message must contain)
CASES: list[tuple[str, Any, int, str, tuple[str, ...]]] = [
    (FEAST, [1, 2], 400, "bad_body", ("JSON object",)),
    (FEAST, "features", 400, "bad_body", ("JSON object",)),
    (FEAST, {"entities": {"customer_id": [1]}}, 400, "bad_features", ("features",)),
    (FEAST, ok_feast(features=[]), 400, "bad_features", ("non-empty",)),
    (FEAST, ok_feast(features="feat_customer__orders:x"), 400, "bad_features", ("list",)),
    (FEAST, ok_feast(features=[1]), 400, "bad_feature_ref", ("1",)),
    (FEAST, ok_feast(features=["count_orders_7d"]), 400, "bad_feature_ref", ("view:feature",)),
    (FEAST, ok_feast(features=["a:b:c"]), 400, "bad_feature_ref", ("a:b:c",)),
    (FEAST, ok_feast(features=["nope:x"]), 400, "unknown_view", ("nope", "feat_customer__orders")),
    (
        FEAST,
        ok_feast(features=["feat_customer__orders.v9:x"]),
        400,
        "unknown_version",
        ("v9", "v1, v2"),
    ),
    (
        FEAST,
        ok_feast(features=["feat_customer__orders:sum_amount_7d"]),
        400,
        "unknown_feature",
        ("feat_customer__orders.v2", "sum_amount_7d", "avg_amount_7d"),
    ),
    (FEAST, ok_feast(features=[F, F]), 400, "duplicate_feature", (F,)),
    (FEAST, {"features": [F]}, 400, "bad_entities", ("entities",)),
    (FEAST, ok_feast(entities=[{"customer_id": 1}]), 400, "bad_entities", ("object",)),
    (FEAST, ok_feast(entities={}), 400, "bad_entities", ("entities",)),
    (FEAST, ok_feast(entities={"customer_id": 1}), 400, "bad_entities", ("customer_id",)),
    (
        FEAST,
        ok_feast(entities={"customer_id": [1, 2], "country_code": ["DE"]}),
        400,
        "bad_entities",
        ("length",),
    ),
    (
        FEAST,
        ok_feast(entities={"product_id": ["p1"]}),
        400,
        "missing_entity_key",
        ("customer_id", "feat_customer__orders.v2"),
    ),
    (FEAST, ok_feast(entities={"customer_id": ["abc"]}), 400, "bad_entity_key", ("'abc'",)),
    (FEAST, ok_feast(entities={"customer_id": [True]}), 400, "bad_entity_key", ("True",)),
    (FEAST, ok_feast(entities={"customer_id": [1.5]}), 400, "bad_entity_key", ("1.5",)),
    (FEAST, ok_feast(entities={"customer_id": [None]}), 400, "bad_entity_key", ("None",)),
    (FEAST, ok_feast(entities={"customer_id": [[1]]}), 400, "bad_entity_key", ("[1]",)),
    (FEAST, ok_feast(entities={"customer_id": [{"a": 1}]}), 400, "bad_entity_key", ("'a'",)),
    (FEAST, ok_feast(entities={"customer_id": [2**63]}), 400, "bad_entity_key", ("64-bit",)),
    (FEAST, ok_feast(entities={"customer_id": ["1e3"]}), 400, "bad_entity_key", ("1e3",)),
    (
        FEAST,
        {"features": ["feat_product__popularity:score"], "entities": {"product_id": [1.5]}},
        400,
        "bad_entity_key",
        ("a string",),
    ),
    (
        FEAST,
        ok_feast(entities={"customer_id": [1], "note": [{"a": 1}]}),
        400,
        "bad_entity_key",
        ("note", "integer or a string"),
    ),
    (NATIVE, ok_native(entities=[{"customer_id": 1, "x": None}]), 400, "bad_entity_key", ("x",)),
    (FEAST, ok_feast(full_feature_names="yes"), 400, "bad_body", ("full_feature_names",)),
    (
        FEAST,
        {"feature_service": "svc", "entities": {"customer_id": [1]}},
        400,
        "unknown_feature_service",
        ("'svc'", "featurehouse sync"),
    ),
    (
        FEAST,
        ok_feast(feature_service="svc"),
        400,
        "bad_features",
        ("features or feature_service",),
    ),
    (
        FEAST,
        {"feature_service": 3, "entities": {"customer_id": [1]}},
        400,
        "bad_feature_service",
        ("feature_service",),
    ),
    (
        FEAST,
        ok_feast(entities={"customer_id": list(range(51))}),
        413,
        "too_many_entities",
        ("51", "50", "--max-entities"),
    ),
    (
        FEAST,
        ok_feast(features=[f"v{i}:f" for i in range(21)]),
        413,
        "too_many_features",
        ("21", "20", "--max-features"),
    ),
    (NATIVE, ok_native(entities={"customer_id": [1]}), 400, "bad_entities", ("list",)),
    (NATIVE, ok_native(entities=[1]), 400, "bad_entities", ("1",)),
    (
        NATIVE,
        ok_native(entities=[{"product_id": "p1"}]),
        400,
        "missing_entity_key",
        ("customer_id",),
    ),
    (
        NATIVE,
        ok_native(entities=[{"customer_id": 1}, {"country_code": "DE"}]),
        400,
        "missing_entity_key",
        ("customer_id",),
    ),
    (NATIVE, ok_native(entities=[{"customer_id": "x"}]), 400, "bad_entity_key", ("'x'",)),
    (NATIVE, ok_native(values_only=1), 400, "bad_body", ("values_only",)),
    (
        NATIVE,
        ok_native(entities=[{"customer_id": i} for i in range(51)]),
        413,
        "too_many_entities",
        ("--max-entities",),
    ),
    (
        NATIVE,
        ok_native(features=["feat_customer__orders:nope"]),
        400,
        "unknown_feature",
        ("nope",),
    ),
]


@pytest.fixture(scope="module")
def errors(server: ServerProcess) -> Iterator[ServerProcess]:
    yield server
    # no error case reached a 500
    text = server.get("/metrics").text
    for endpoint in ("get-online-features", "features", "noop"):
        assert (
            metric(text, "featurehouse_http_requests_total", endpoint=endpoint, status="500")
            is None
        )


def check(response: Any, status: int, code: str, words: tuple[str, ...]) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == code, body
    for word in words:
        assert word in body["detail"], (word, body["detail"])


@pytest.mark.parametrize(("path", "body", "status", "code", "words"), CASES)
def test_bad_request(
    errors: ServerProcess, path: str, body: Any, status: int, code: str, words: tuple[str, ...]
) -> None:
    check(errors.post(path, body), status, code, words)


def test_limits_say_which_limit(errors: ServerProcess) -> None:
    body = errors.post(FEAST, ok_feast(entities={"customer_id": list(range(51))})).json()
    assert body["limit"] == 50


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"features": [}', b"\xff\xfe", b"NaN", b'{"a": 1e400}', b"[1,]"],
)
@pytest.mark.parametrize("path", [FEAST, NATIVE])
def test_malformed_json(errors: ServerProcess, path: str, raw: bytes) -> None:
    check(errors.client.post(path, content=raw), 400, "bad_json", ("not valid JSON",))


def test_empty_body(errors: ServerProcess) -> None:
    check(errors.client.post(FEAST), 400, "bad_json", ("empty",))


def test_body_too_large_by_content_length(errors: ServerProcess) -> None:
    big = b'{"features": ["' + b"x" * 20_001 + b'"]}'
    response = errors.client.post(FEAST, content=big)
    check(response, 413, "body_too_large", ("20000", "--max-body-bytes"))
    assert response.json()["limit"] == 20_000


def test_body_too_large_when_chunked(errors: ServerProcess) -> None:
    """No Content-Length (chunked transfer): the server counts as it reads."""

    def chunks() -> Iterator[bytes]:
        yield b'{"features": ["'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"]}'

    response = errors.client.post(FEAST, content=chunks())
    check(response, 413, "body_too_large", ("--max-body-bytes",))
    response = errors.client.post("/v1/noop", content=chunks())
    check(response, 413, "body_too_large", ("--max-body-bytes",))


def test_unknown_path_and_method(errors: ServerProcess) -> None:
    check(errors.get("/nope"), 404, "not_found", ("Not Found",))
    response = errors.get(FEAST)
    check(response, 405, "method_not_allowed", ("Method Not Allowed",))
    assert response.headers["allow"] == "POST"
