"""Assemble and run stream consumers from a dbt project, its target and the online store.

`StreamSettings` are resolved once (flag, environment, dbt var, default); `open_consumer`
compiles the chains, opens the engine, the landing folder and the broker; `run` drives one
consumer per streamed source, each in its own thread, until stopped or drained.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featurehouse.errors import StreamError
from featurehouse.online import OnlineStore
from featurehouse.online.redis import streams
from featurehouse.project.manifest import Artifacts
from featurehouse.project.registry import Registry
from featurehouse.project.settings import Project, Target, resolve
from featurehouse.streaming.brokers import LEASE_TTL_MS, Broker, RedisBroker, consumer_name
from featurehouse.streaming.compile import compile_chains
from featurehouse.streaming.consumer import ConsumerOptions, StreamConsumer, build_started
from featurehouse.streaming.evaluate import Evaluator
from featurehouse.streaming.landing import Landing
from featurehouse.streaming.spec import StreamSource, stream_sources
from featurehouse.streaming.status import Metrics
from featurehouse.warehouse.duckdb import Engine

log = logging.getLogger(__name__)
DEFAULT_STREAM_DIR = "landing"


@dataclass(frozen=True)
class StreamSettings:
    broker: str  # redis or kafka
    stream_dir: Path
    consumer: str
    kafka: Mapping[str, str] = field(default_factory=dict)  # librdkafka settings
    topic_prefix: str = ""  # before every declared topic (environments, tests)
    options: ConsumerOptions = field(default_factory=ConsumerOptions)
    threads: int | None = None  # DuckDB threads of each consumer's engine


def stream_dir(project: Project, flag: str | None = None) -> Path:
    """Where landed events go: the flag, env FEATUREHOUSE_STREAM_DIR, var
    featurehouse_stream_dir, else `landing`, relative to the project (as dbt, run from it,
    resolves it in featurehouse.streamed())."""
    value = Path(
        str(
            resolve(flag, "FEATUREHOUSE_STREAM_DIR", "featurehouse_stream_dir",
                    DEFAULT_STREAM_DIR, project=project, env=project.env or None)
        )
    )  # fmt: skip
    return value if value.is_absolute() else project.project_dir / value


def sources(artifacts: Artifacts, registry: Registry, names: Sequence[str]) -> list[StreamSource]:
    return stream_sources(artifacts.manifest, registry, names)


def open_consumer(
    project: Project,
    target: Target,
    artifacts: Artifacts,
    source: StreamSource,
    store: OnlineStore,
    settings: StreamSettings,
) -> StreamConsumer:
    """A consumer ready to `start` (nothing is read from the broker yet)."""
    if target.type != "duckdb":
        raise StreamError(
            f"target {target.name!r} is {target.type}: `featurehouse stream` lands events on "
            "DuckDB targets (Parquet files beside the warehouse); Postgres is not supported yet"
        )
    chains = compile_chains(project, target, artifacts, source)
    engine = Engine(threads=settings.threads)
    evaluator = Evaluator(engine, project, target, source, chains)
    landing = Landing(settings.stream_dir / source.identifier, settings.consumer)
    broker = open_broker(source, store, settings)
    topic = settings.topic_prefix + source.topic
    metrics = Metrics(source.name, topic, settings.broker, settings.consumer)
    return StreamConsumer(source, evaluator, landing, broker, store, settings.options, metrics)


def open_broker(source: StreamSource, store: OnlineStore, settings: StreamSettings) -> Broker:
    topic = settings.topic_prefix + source.topic
    if settings.broker == "redis":
        key = streams.control_key(store.prefix, source.name, "lease")
        lease = streams.Lease(store.client, key, LEASE_TTL_MS)
        return RedisBroker(store.client, topic, source.name, settings.consumer, lease)
    if settings.broker == "kafka":
        from featurehouse.streaming.kafka import KafkaBroker

        return KafkaBroker(dict(settings.kafka), topic, source.name, settings.consumer)
    raise StreamError(f"unknown broker {settings.broker!r}: use redis or kafka")


def topic_prefix(project: Project) -> str:
    """env FEATUREHOUSE_STREAM_TOPIC_PREFIX, else var featurehouse_stream_topic_prefix."""
    return str(
        resolve(None, "FEATUREHOUSE_STREAM_TOPIC_PREFIX", "featurehouse_stream_topic_prefix", "",
                project=project, env=project.env or None)
    )  # fmt: skip


def run(
    consumers: Sequence[StreamConsumer],
    artifacts: Artifacts,
    stop: threading.Event,
    *,
    once: bool,
    idle: float,
    on_started: Callable[[StreamConsumer, int], Any] | None = None,
) -> None:
    """Start every consumer, then run each in a thread until `stop` (or drained, `once`);
    the first error stops the others and is raised."""
    started = build_started(artifacts.manifest.generated_at)
    for consumer in consumers:
        repaired = consumer.start(started)
        if on_started is not None:
            on_started(consumer, repaired)
    errors: list[BaseException] = []

    def drive(consumer: StreamConsumer) -> None:
        try:
            consumer.run(stop, once=once, idle=idle)
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=drive, args=(c,), name=f"stream-{c.source.name}", daemon=True)
        for c in consumers
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    finally:
        for consumer in consumers:
            consumer.broker.close()
    if errors:
        raise errors[0]


def default_consumer() -> str:
    return consumer_name()
