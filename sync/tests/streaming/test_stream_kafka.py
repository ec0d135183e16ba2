"""`featurehouse stream --broker kafka` on a real broker (KRaft, one node): three partitions,
events keyed by customer, a consumer SIGKILLed mid-stream, the broker stopped and started
under the next one, a poison event; the offline log ends with every event once and Redis
serves what the batch build of the same events says."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic
from featurehouse.errors import StreamError
from featurehouse.streaming import replay, runner
from featurehouse.streaming.kafka import KafkaBroker
from stream_support import (
    Streamed,
    StreamRun,
    landed_ids,
    parity_of,
    spawn,
    wait_until,
    with_prefix,
)

pytestmark = pytest.mark.slow
FAST_GROUP = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}


def _create_topic(servers: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": servers})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(30)


def _produce(run: StreamRun, servers: str, rows: Any) -> int:
    context = run.context()
    sink = replay.sink("kafka", context.store, run.topic, {"bootstrap.servers": servers})
    source = run.source(context)
    return replay.replay(context.artifacts.manifest, source, sink, replay.Window(), 0, rows=rows)


def _dead_letters(servers: str, topic: str) -> list[dict[str, str]]:
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": f"{topic}-check",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    found: list[dict[str, str]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not found:
        for message in consumer.consume(10, 1.0):
            if message.error() is None:
                found.append({k: v.decode() for k, v in message.headers() or []})
    consumer.close()
    return found


def test_kafka_kill_broker_restart_and_poison(
    kafka_broker: Any, streamed_build: Streamed, stream_run: StreamRun
) -> None:
    servers = kafka_broker.bootstrap_servers
    _create_topic(servers, stream_run.topic, 3)
    stream_run.sync()
    rows = stream_run.project.streamed_rows
    half = rows.num_rows // 2
    _produce(stream_run, servers, rows.slice(0, half))
    context = stream_run.context()
    poison = replay.sink("kafka", context.store, stream_run.topic, {"bootstrap.servers": servers})
    poison.send([(b"1", b'{"id": "not a number"}')])
    poison.close()
    _produce(stream_run, servers, rows.slice(half))
    options = ["-X", f"session.timeout.ms={FAST_GROUP['session.timeout.ms']}"]
    first = spawn(
        stream_run, "--broker", "kafka", "--bootstrap-servers", servers, "--as-of",
        "2026-05-01", "--max-batch", "150", "-q", *options,
    )  # fmt: skip
    wait_until(lambda: len(list(stream_run.landing.rglob("*.parquet"))) >= 3, "landed files")
    first.send_signal(signal.SIGKILL)
    first.wait()
    consumer = stream_run.consumer(
        broker="kafka", kafka={"bootstrap.servers": servers, **FAST_GROUP}, max_batch=150
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            runner.run([consumer], context.artifacts, stop, once=False, idle=0)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    wait_until(lambda: consumer.metrics.batches >= 2, "the second consumer to consume", 120)
    kafka_broker.stop()  # the broker goes away mid-stream and comes back
    time.sleep(3)
    kafka_broker.start()
    expected = sorted(rows["id"].to_pylist())
    wait_until(lambda: len(landed_ids(stream_run)) >= len(expected), "every event", 240)
    time.sleep(1)
    stop.set()
    thread.join(60)
    assert not errors, errors
    assert landed_ids(stream_run) == expected
    dead = _dead_letters(servers, stream_run.topic + ".dead-letter")
    topics = sorted(AdminClient({"bootstrap.servers": servers}).list_topics(timeout=10).topics)
    assert [d["reason"] for d in dead] == ["'id': expected an integer, got 'not a number'"], (
        consumer.metrics.rejected,
        topics,
        (stream_run.root / "consumer.log").read_text()[-1500:],
    )
    assert dead[0]["source"] == "raw_page_views"
    result = parity_of(stream_run.context(with_prefix(streamed_build.rebuilt, stream_run.prefix)))
    assert result.ok, result


def test_kafka_needs_brokers_named() -> None:
    with pytest.raises(StreamError, match="--bootstrap-servers"):
        KafkaBroker({}, "clickstream", "raw_page_views", "tester")
