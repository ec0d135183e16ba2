"""`featurehouse stream` on Redis Streams, end to end with real dbt, DuckDB and Redis.

The held-back clickstream days are streamed into the synced demo, drained, and rebuilt with
dbt: Redis then serves exactly what the batch path computes (parity, every entity), whatever
the arrival order, with poison events set aside with their reasons; and the training set
built after the stream equals the one built from the same events loaded in batch.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
from click.testing import CliRunner
from featurehouse import training
from featurehouse.api.context import Context
from featurehouse.cli import cli
from featurehouse.errors import StreamError
from featurehouse.streaming.brokers import DEAD_LETTER_SUFFIX
from featurehouse.streaming.consumer import build_started
from online_support import SHARED_URL
from server_support import serve
from stream_support import AS_OF, CUTOFF, Streamed, StreamRun, parity_of, with_prefix

pytestmark = pytest.mark.slow


def test_every_streamed_event_is_landed_once(streamed_build: Streamed) -> None:
    rows = streamed_build.run.project.streamed_rows
    assert streamed_build.consumer.metrics.events == streamed_build.sent == rows.num_rows
    landed = pa.concat_tables(
        [pq.read_table(p) for p in sorted(streamed_build.run.landing.rglob("*.parquet"))]
    )
    assert landed.num_rows == streamed_build.sent
    assert sorted(landed["id"].to_pylist()) == sorted(rows["id"].to_pylist())


def test_redis_serves_what_the_rebuilt_warehouse_says(streamed_build: Streamed) -> None:
    result = parity_of(streamed_build.rebuilt)
    assert result.ok, result
    assert result.entities > 2000 and result.extra == 0
    assert result.as_of == AS_OF


def test_the_training_set_after_streaming_equals_the_batch_one(
    streamed_build: Streamed, base_env: dict[str, str]
) -> None:
    """The same spine on the rebuilt project and on the session's full-seed demo build."""
    rows = streamed_build.run.project.streamed_rows
    customers = sorted({c for c in rows["customer_id"].to_pylist() if c is not None})[:300]
    times = [dt.datetime.fromisoformat(CUTOFF) + dt.timedelta(hours=h) for h in (1, 20, 50, 71)]
    spine = pa.table(
        {
            "customer_id": [c for c in customers for _ in times],
            "spine_at": [t for _ in customers for t in times],
        }
    )
    features = ["feat_customer__activity:*"]

    def training_set(context: Context, as_known_at: bool) -> pa.Table:
        prepared = training.prepare(
            context.project, context.target, context.artifacts, context.registry, spine,
            features, as_known_at=as_known_at,
        )  # fmt: skip
        return training.execute(context.project, context.target, prepared, 10_000).read_all()

    batch = Context(env=base_env)
    for known in (False, True):
        ours = training_set(streamed_build.rebuilt, known)
        theirs = training_set(batch, known)
        assert ours.num_rows == spine.num_rows
        assert ours.equals(theirs), f"as_known_at={known}"


def test_out_of_order_arrival_gives_the_same_answer(
    streamed_build: Streamed, stream_run: StreamRun
) -> None:
    stream_run.sync()
    rows = stream_run.project.streamed_rows
    order = list(range(rows.num_rows))
    random.Random(7).shuffle(order)
    stream_run.produce(rows.take(order))
    stream_run.consume(max_batch=500)
    result = parity_of(stream_run.context(with_prefix(streamed_build.rebuilt, stream_run.prefix)))
    assert result.ok, result


def test_poison_events_go_to_the_dead_letter_with_their_reason(
    streamed_build: Streamed, stream_run: StreamRun
) -> None:
    stream_run.sync()
    rows = stream_run.project.streamed_rows
    half = rows.num_rows // 2
    stream_run.produce(rows.slice(0, half))
    good = json.loads(json.dumps(rows.slice(0, 1).to_pylist()[0], default=str))
    poison = {
        "not_json": b"{not json",
        "not_object": b"[1, 2]",
        "missing": json.dumps({**good, "id": None}).encode(),
        "wrong_type": json.dumps({**good, "id": 99_000_001, "customer_id": "forty-two"}).encode(),
        "unknown_column": json.dumps({**good, "id": 99_000_002, "colour": "red"}).encode(),
        "future": json.dumps({**good, "id": 99_000_003, "viewed_at": "2099-01-01"}).encode(),
    }  # fmt: skip
    stream_run.send_raw(list(poison.values()))
    stream_run.produce(rows.slice(half))
    consumer = stream_run.consume(max_batch=700)
    assert dict(consumer.metrics.rejected) == dict.fromkeys(poison, 1)
    assert consumer.metrics.events == rows.num_rows
    client = redis.Redis.from_url(SHARED_URL)
    dead = client.xrange(stream_run.topic + DEAD_LETTER_SUFFIX)
    client.close()
    reasons = {fields[b"reason"].decode(): fields[b"value"] for _, fields in dead}
    assert len(reasons) == len(poison)
    assert any("'customer_id'" in r and "integer" in r for r in reasons)
    assert any("future" in r for r in reasons)
    assert any("'colour'" in r for r in reasons)
    assert any("missing 'id'" in r for r in reasons)
    assert set(reasons.values()) == set(poison.values())
    with serve(SHARED_URL, stream_run.prefix, stream_run.root) as server:
        rejected = [
            line for line in server.get("/metrics").text.splitlines()
            if line.startswith("featurehouse_stream_rejected_events_total{")
        ]  # fmt: skip
    assert sorted(line.split('reason="')[1].split('"')[0] for line in rejected) == sorted(poison)
    assert all(line.endswith(" 1.0") for line in rejected)
    assert parity_of(stream_run.context(with_prefix(streamed_build.rebuilt, stream_run.prefix))).ok


def test_one_consumer_at_a_time_holds_a_redis_stream(stream_run: StreamRun) -> None:
    """Stream ids are one position per stream: a second consumer waits for the lease."""
    stream_run.sync()
    first = stream_run.consumer(consumer="first")
    first.broker.start(first.committed)
    second = stream_run.consumer(consumer="second")
    second.broker.lease_wait = 1.0
    with pytest.raises(StreamError, match="another consumer holds"):
        second.broker.start(second.committed)
    first.broker.close()  # releases the lease
    second.broker.start(second.committed)
    second.broker.close()


def test_a_full_sync_while_streaming_is_repaired(
    streamed_build: Streamed, stream_run: StreamRun
) -> None:
    """A full sync publishes the last build's values, which lack the events landed since
    it began: the consumer notices the new generation and recomputes those entities."""
    stream_run.sync()
    rows = stream_run.project.streamed_rows
    half = rows.num_rows // 2
    consumer = stream_run.consumer(max_batch=400)
    consumer.start(build_started(stream_run.context().artifacts.manifest.generated_at))
    stream_run.produce(rows.slice(0, half))
    while consumer.step() is not None:
        pass
    stream_run.sync()  # a new generation from the build, without the streamed events
    stream_run.produce(rows.slice(half))
    while consumer.step() is not None:
        pass
    consumer.broker.close()
    result = parity_of(stream_run.context(with_prefix(streamed_build.rebuilt, stream_run.prefix)))
    assert result.ok, result


def test_status_and_metrics_report_the_stream(streamed_build: Streamed, tmp_path: Path) -> None:
    """`featurehouse stream --status --json`, and the same figures on the server's /metrics."""
    run = streamed_build.run
    done = CliRunner().invoke(
        cli, ["stream", "--status", "--json", "--project-dir", str(run.project.directory)],
        env=run.env,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    (status,) = json.loads(done.stdout)
    assert status["source"] == "raw_page_views" and status["broker"] == "redis"
    assert status["events"] == streamed_build.sent and status["rejected"] == {}
    assert status["lag"] == 0 and status["latency_p99_seconds"] > 0
    with serve(SHARED_URL, run.prefix, tmp_path) as server:
        text = server.get("/metrics").text
    labels = f'broker="redis",source="raw_page_views",topic="{run.topic}"'
    assert f"featurehouse_stream_events_total{{{labels}}} {float(streamed_build.sent)}" in text
    assert f"featurehouse_stream_lag{{{labels}}} 0.0" in text
    buckets = [line for line in text.splitlines() if "stream_latency_seconds_bucket" in line]
    assert any('le="+Inf"' in b and b.endswith(f" {float(streamed_build.sent)}") for b in buckets)
