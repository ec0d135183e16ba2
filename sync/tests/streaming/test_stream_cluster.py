"""`featurehouse stream` (Redis Streams) into the real 3-master cluster: the stream, its lease
and status keys, the consumer's merges and the synced generation all live on the cluster, and
it then serves exactly what the rebuilt warehouse says (parity, every entity), as on one Redis.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_process import run_featurehouse
from engines_support import Cluster
from featurehouse.online.redis import RedisStore
from stream_support import Streamed, StreamProject, StreamRun, parity_of, with_prefix

pytestmark = pytest.mark.slow


def test_streaming_into_the_cluster_serves_the_rebuilt_warehouse(
    stream_project: StreamProject,
    streamed_build: Streamed,
    redis_cluster: Cluster,
    tmp_path: Path,
) -> None:
    run = StreamRun(stream_project, "cluster", tmp_path)
    run.env["FEATUREHOUSE_REDIS_URL"] = redis_cluster.url
    run.sync()
    assert RedisStore.from_url(redis_cluster.url, run.prefix).cluster
    sent = run.produce(stream_project.streamed_rows)
    consumer = run.consume()
    assert consumer.metrics.events == sent == stream_project.streamed_rows.num_rows
    lease = consumer.broker.lease
    assert lease.acquire(0) and lease.renew()  # the lease's scripts run on the key's node
    lease.release()
    env = {**with_prefix(streamed_build.rebuilt, run.prefix)}
    env["FEATUREHOUSE_REDIS_URL"] = redis_cluster.url
    result = parity_of(run.context(env))
    assert result.ok, result
    assert result.entities > 2000 and result.extra == 0
    status = run_featurehouse(
        "stream", "--status", "--json", env=run.env, cwd=run.project.directory
    )
    assert status.returncode == 0, status.stderr
    [row] = json.loads(status.stdout)
    assert row["events"] == sent and row["lag"] == 0
