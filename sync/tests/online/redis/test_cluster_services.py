"""Feature services and usage history on the real 3-master cluster (the demo synced by
`cluster_env`): `get --service` through the CLI, the Python API and `featurehouse serve`
answers as the single Redis does, and the reads are counted under `<prefix>:usage:*`
(counters, per-day hashes, the sampled feature log) on the cluster's nodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_process import run_featurehouse
from featurehouse.api import FeatureStore
from featurehouse.online.redis import RedisStore
from server_support import serve
from sync_fixtures import REPO_ROOT

SERVICE, IDS = "churn_model", [1151, 4, 987654]


def _store(env: dict[str, str]) -> RedisStore:
    return RedisStore.from_url(env["FEATUREHOUSE_REDIS_URL"], env["FEATUREHOUSE_REDIS_PREFIX"])


def _reads(store: RedisStore) -> dict[str, int]:
    return {u.name: u.reads for u in store.usage()}


def test_get_by_service_on_the_cluster(
    cluster_env: dict[str, str], single_env: dict[str, str]
) -> None:
    store = _store(cluster_env)
    assert store.cluster and [s.name for s in store.services()] == [SERVICE]
    before = _reads(store).get(SERVICE, 0)
    answers = []
    for env in (cluster_env, single_env):
        args = ("get", "--service", SERVICE, *map(str, IDS), "--json")
        done = run_featurehouse(*args, env=env, cwd=REPO_ROOT)
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    assert answers[0] == answers[1]
    assert answers[0][0]["features"]["count_orders_7d"]["status"] == "present"
    assert _reads(store)[SERVICE] == before + 1
    usage = run_featurehouse("usage", "--json", env=cluster_env, cwd=REPO_ROOT)
    assert usage.returncode == 0, usage.stderr
    assert SERVICE in usage.stdout


def test_the_api_counts_and_logs_on_the_cluster(
    cluster_env: dict[str, str], single_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"customer_id": i} for i in IDS]
    answers = []
    for env in (cluster_env, single_env):
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            api = FeatureStore(REPO_ROOT, redis_url=env["FEATUREHOUSE_REDIS_URL"])
            answers.append(api.get_online_features(service=SERVICE, entity_rows=rows).to_dict())
    assert answers[0] == answers[1]
    with monkeypatch.context() as patch:
        for key, value in cluster_env.items():
            patch.setenv(key, value)
        api = FeatureStore(REPO_ROOT, redis_url=cluster_env["FEATUREHOUSE_REDIS_URL"])
        online = api._context.store
        online.drop_logged([i for i, _ in online.logged_rows(100_000)])
        before = {u.name: (u.reads, u.entities) for u in online.usage()}
        api._usage._chance = lambda: 0.0  # log every served row
        api.get_online_features(service=SERVICE, entity_rows=rows)
        api.flush_usage()
    after = {u.name: (u.reads, u.entities) for u in online.usage()}
    reads, entities = before.get(SERVICE, (0, 0))
    assert after[SERVICE] == (reads + 1, entities + len(IDS))
    assert after["feat_customer__orders.v1"][0] >= 1
    logged = online.logged_rows(100)
    assert [row.entity for _, row in logged] == rows
    online.drop_logged([i for i, _ in logged])
    assert online.logged_rows(100) == []


def test_the_server_serves_a_service_from_the_cluster(
    cluster_env: dict[str, str], single_env: dict[str, str], tmp_path: Path
) -> None:
    body = {"feature_service": SERVICE, "entities": {"customer_id": IDS}}
    store = _store(cluster_env)
    before = _reads(store).get(SERVICE, 0)
    answers = []
    for env in (cluster_env, single_env):
        url, prefix = env["FEATUREHOUSE_REDIS_URL"], env["FEATUREHOUSE_REDIS_PREFIX"]
        with serve(url, prefix, tmp_path) as server:
            for _ in range(3):
                response = server.post("/get-online-features", body)
                assert response.status_code == 200, response.text
            answers.append(response.json())
    assert answers[0] == answers[1]
    assert _reads(store)[SERVICE] == before + 3  # flushed at the server's shutdown
