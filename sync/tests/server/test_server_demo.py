"""The demo, synced at 2026-05-01, served by a real `featurehouse serve`: for every online view
version, every feature of known and unknown entities through both endpoints equals what the
Python API (`FeatureStore.get_online_features`) returns. The server runs in a directory without
a dbt project and an environment without dbt settings: all it knows comes from Redis."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from featurehouse.api import FeatureStore
from featurehouse.api.context import Context
from featurehouse.project.registry import FeatureView
from featurehouse.refs import qualified
from server_support import ServerProcess, serve
from sync_fixtures import REPO_ROOT, online_views

IDS = [*range(1, 31), 987654]  # the demo's first ids and one that does not exist
FEAST_STATUS = {"present": "PRESENT", "not_found": "NOT_FOUND", "expired": "OUTSIDE_MAX_AGE"}


@pytest.fixture(scope="module")
def demo_server(
    synced: Any, base_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("serve_demo")
    url, prefix = base_env["FEATUREHOUSE_REDIS_URL"], base_env["FEATUREHOUSE_REDIS_PREFIX"]
    with serve(url, prefix, workdir) as server:
        yield server


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value


def versions(context: Context) -> list[FeatureView]:
    return sorted(online_views(context), key=lambda v: v.ref)


def test_demo_views_are_all_served(demo_server: ServerProcess, context: Context) -> None:
    served = {(v["view"], v["version"]) for v in demo_server.get("/v1/views").json()["views"]}
    assert served == {(v.name, v.version) for v in versions(context)}


def test_unpinned_is_the_latest_version_and_pins_reach_older_ones(
    demo_server: ServerProcess,
) -> None:
    def value(ref: str) -> Any:
        response = demo_server.post("/v1/features", {"features": [ref], "entities": rows})
        assert response.status_code == 200, response.text
        return [row[ref] for row in response.json()["rows"]]

    rows = [{"customer_id": i} for i in IDS]
    latest = value("feat_customer__orders:count_orders_7d")
    assert latest == value("feat_customer__orders.v2:count_orders_7d")
    assert value("feat_customer__orders.v1:days_since_last_order")
    response = demo_server.post(
        "/v1/features",
        {"features": ["feat_customer__orders:days_since_last_order"], "entities": rows},
    )
    assert response.status_code == 400
    assert "feat_customer__orders.v2 has no feature 'days_since_last_order'" in response.text


def test_every_feature_equals_the_python_api(
    demo_server: ServerProcess, context: Context, fh_env: dict[str, str]
) -> None:
    store = FeatureStore(project_dir=REPO_ROOT)
    checked = 0
    for view in versions(context):
        refs = [f"{view.ref}:{f.name}" for f in view.features]
        keys = [key.name for key in view.keys]
        rows = [{key: i for key in keys} for i in IDS]
        expected = store.get_online_features(refs, rows, full_feature_names=True).to_dict()
        columns = {key: [row[key] for row in rows] for key in keys}
        response = demo_server.post("/get-online-features", {"features": refs, "entities": columns})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["metadata"]["feature_names"] == [*keys, *(f.name for f in view.features)]
        times = [
            json_value(t) or "1970-01-01T00:00:00Z"
            for t in expected[qualified(view.name, view.version, "event_at")]
        ]
        native = demo_server.post("/v1/features", {"features": refs, "entities": rows}).json()
        for feature, result in zip(view.features, body["results"][len(keys) :], strict=True):
            column = qualified(view.name, view.version, feature.name)
            values = [json_value(v) for v in expected[column]]
            statuses = expected[f"{column}__status"]
            assert result["values"] == values, column
            assert result["statuses"] == [FEAST_STATUS[s] for s in statuses], column
            assert result["event_timestamps"] == times, column
            ref = f"{view.ref}:{feature.name}"
            assert [r[ref]["value"] for r in native["rows"]] == values, ref
            assert [r[ref]["status"] for r in native["rows"]] == statuses, ref
        first = qualified(view.name, view.version, view.features[0].name)
        present = expected[f"{first}__status"].count("present")
        assert present > 0, f"{view.ref}: no demo entity among {IDS[:3]}... is served"
        checked += len(view.features)
    assert checked >= 20
