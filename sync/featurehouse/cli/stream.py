"""`featurehouse stream`: the real-time consumer, its status, and replays of a seed.

Registered on the `featurehouse` group in cli/__init__.py.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from featurehouse.api.context import Context
from featurehouse.cli.output import to_json
from featurehouse.cli.shared import as_of as _as_of
from featurehouse.cli.shared import common
from featurehouse.online.redis import streams
from featurehouse.streaming import replay as replays
from featurehouse.streaming import runner
from featurehouse.streaming.consumer import ConsumerOptions, StreamConsumer
from featurehouse.streaming.status import Status

_BROKER = click.option(
    "--broker",
    type=click.Choice(["redis", "kafka"]),
    envvar="FEATUREHOUSE_STREAM_BROKER",
    help="Where events arrive [env FEATUREHOUSE_STREAM_BROKER, default redis: Redis Streams "
    "on the serving Redis].",
)
_KAFKA = [
    click.option("--bootstrap-servers", metavar="HOST:PORT,...",
                 envvar="FEATUREHOUSE_KAFKA_BOOTSTRAP_SERVERS",
                 help="Kafka brokers [env FEATUREHOUSE_KAFKA_BOOTSTRAP_SERVERS]."),
    click.option("--kafka-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 envvar="FEATUREHOUSE_KAFKA_CONFIG",
                 help="librdkafka properties file (key=value lines: security.protocol, "
                      "sasl.mechanism, sasl.username, ...) [env FEATUREHOUSE_KAFKA_CONFIG]."),
    click.option("-X", "kafka_options", multiple=True, metavar="KEY=VALUE",
                 help="One librdkafka setting, e.g. -X sasl.mechanism=SCRAM-SHA-512."),
]  # fmt: skip


def _kafka_options(func: Any) -> Any:
    for option in reversed(_KAFKA):
        func = option(func)
    return func


@click.group(name="stream", invoke_without_command=True)
@click.option(
    "--select",
    "-s",
    "names",
    multiple=True,
    metavar="SOURCE|VIEW",
    help="Streamed sources (or views) to consume; repeatable [default: all].",
)
@_BROKER
@_kafka_options
@click.option("--once", is_flag=True, help="Drain: stop once no event arrived for --idle seconds.")
@click.option(
    "--idle",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0),
    help="With --once: seconds without events that end the run.",
)
@click.option(
    "--as-of",
    callback=_as_of,
    metavar="TS",
    help="Recompute at this fixed UTC time (replays, tests) instead of the wall clock.",
)
@click.option(
    "--max-batch",
    default=100_000,
    show_default=True,
    type=click.IntRange(1),
    help="Most events per micro-batch (a recompute costs per touched entity, not per event: "
    "a backlog drains fastest in large batches).",
)
@click.option(
    "--consumer",
    "consumer_name",
    metavar="NAME",
    help="This consumer's name in the group and on its landed files [default: host].",
)
@click.option(
    "--stream-dir",
    metavar="DIR",
    help="Landed events [env FEATUREHOUSE_STREAM_DIR, "
    "var featurehouse_stream_dir, default landing].",
)
@click.option(
    "--status",
    "show_status",
    is_flag=True,
    help="Print what each stream consumer reported last, then exit.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@common
@click.pass_context
def stream(
    ctx: click.Context, context: Context, *, as_json: bool, names: Sequence[str],
    broker: str | None, bootstrap_servers: str | None, kafka_config: Path | None,
    kafka_options: Sequence[str], once: bool, idle: float, as_of: datetime | None,
    max_batch: int, consumer_name: str | None, stream_dir: str | None, show_status: bool,
    quiet: bool,
) -> None:  # fmt: skip
    """Consume raw events of streaming feature views (`config.meta.feature_store.stream`):
    land each in the offline log the view's model reads (`featurehouse.streamed()`), then
    recompute the touched entities with the view's own compiled SQL and merge them into
    Redis. Runs until Ctrl-C; --once drains and exits. Needs `dbt build` and
    `featurehouse sync` first.

    \b
    Examples:
      featurehouse stream                          # every streamed source, Redis Streams
      featurehouse stream -s feat_customer__activity --broker kafka \\
          --bootstrap-servers kafka-1:9092 -X security.protocol=SASL_SSL
      featurehouse stream --once --as-of 2026-05-01   # drain, recompute as of a date
      featurehouse stream --status --json
      featurehouse stream replay raw_page_views --since 2026-04-30 --rate 2000
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"context": context}
        return
    if show_status:
        _print_status(context, names, as_json)
        return
    _configure_logging(quiet or as_json)
    settings = runner.StreamSettings(
        broker=broker or str(context.project.vars.get("featurehouse_stream_broker") or "redis"),
        stream_dir=runner.stream_dir(context.project, stream_dir),
        consumer=consumer_name or socket.gethostname(),
        kafka=_kafka_settings(context, bootstrap_servers, kafka_config, kafka_options),
        topic_prefix=runner.topic_prefix(context.project),
        options=ConsumerOptions(max_batch=max_batch, as_of=as_of),
    )
    chosen = runner.sources(context.artifacts, context.registry, names)
    consumers = [
        runner.open_consumer(
            context.project, context.target, context.artifacts, s, context.store, settings
        )
        for s in chosen
    ]
    _run(context, consumers, once=once, idle=idle, quiet=quiet or as_json)
    if as_json:
        click.echo(to_json([_summary(c) for c in consumers]))


def _run(
    context: Context, consumers: Sequence[StreamConsumer], *, once: bool, idle: float, quiet: bool
) -> None:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    def started(consumer: StreamConsumer, repaired: int) -> None:
        if not quiet:
            source = consumer.source
            views = ", ".join(v.ref for v in source.views)
            click.echo(
                f"streaming {source.name} from {consumer.metrics.broker} "
                f"{consumer.metrics.topic!r} "
                f"into {views}; landing in {consumer.landing.directory}"
                + (f"; recomputed {repaired} entities left by a previous run" if repaired else ""),
                err=True,
            )

    printer = None if quiet else threading.Thread(
        target=_progress, args=(consumers, stop), daemon=True
    )  # fmt: skip
    if printer is not None:
        printer.start()
    runner.run(consumers, context.artifacts, stop, once=once, idle=idle, on_started=started)
    stop.set()


def _progress(consumers: Sequence[StreamConsumer], stop: threading.Event) -> None:
    """A line per consumer every 5 seconds: events, rate, rejects, lag, latency."""
    while not stop.wait(5.0):
        for consumer in consumers:
            click.echo(_line(consumer), err=True)


def _line(consumer: StreamConsumer) -> str:
    m = consumer.metrics
    p50, p99 = m.percentile(0.5), m.percentile(0.99)
    latency = "-" if p50 is None else f"p50 {p50 * 1000:.0f} ms, p99 {(p99 or 0) * 1000:.0f} ms"
    lag = "?" if m.lag is None else f"{m.lag:,}"
    rejected = sum(m.rejected.values())
    return (
        f"{consumer.source.name}: {m.events:,} events ({m.rate():,.0f}/s), {rejected:,} "
        f"rejected, lag {lag}, event-to-servable {latency}"
    )


def _summary(consumer: StreamConsumer) -> dict[str, Any]:
    return Status(
        consumer.source.name, {k: str(v) for k, v in consumer.metrics.to_fields().items()}
    ).to_dict()


def _print_status(context: Context, names: Sequence[str], as_json: bool) -> None:
    found = streams.read_status(context.store.client, streams.status_index(context.prefix))
    statuses = [
        Status(fields.get("source", key), fields)
        for key, fields in sorted(found.items())
        if not names or fields.get("source") in names
    ]
    rows = [s.to_dict() for s in statuses]
    if as_json:
        click.echo(to_json(rows))
        return
    if not rows:
        click.echo(f"no stream has reported to {context.redis_shown} (prefix {context.prefix!r})")
        return
    for row in rows:
        p50, p99 = row["latency_p50_seconds"], row["latency_p99_seconds"]
        latency = "-" if p50 is None else f"p50 {p50:.3f} s, p99 {p99:.3f} s"
        rejected = ", ".join(f"{k} {v:,}" for k, v in row["rejected"].items()) or "none"
        click.echo(
            f"{row['source']} ({row['broker']} {row['topic']}, consumer {row['consumer']}, "
            f"{row['updated_seconds_ago']} s ago)\n"
            f"  events {row['events']:,}   rate {row['events_per_second']:,.0f}/s   "
            f"lag {row['lag'] if row['lag'] is not None else '?'}   batches {row['batches']:,}\n"
            f"  event-to-servable {latency}\n  rejected: {rejected}"
            + (f"\n  last error: {row['last_error']}" if row["last_error"] else "")
        )


def _kafka_settings(
    context: Context, servers: str | None, path: Path | None, options: Sequence[str]
) -> dict[str, str]:
    settings: dict[str, str] = {}
    if path is not None:
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                settings[key.strip()] = value.strip()
    servers = servers or context.project.vars.get("featurehouse_kafka_bootstrap_servers")
    if servers:
        settings["bootstrap.servers"] = str(servers)
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise click.BadParameter(f"{option!r} is not KEY=VALUE", param_hint="-X")
        settings[key.strip()] = value.strip()
    return settings


def _sent(count: int) -> None:
    click.echo(f"\rsent {count:,} events", nl=False, err=True)


def _configure_logging(quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    for noisy in ("featurehouse.render", "featurehouse.lineage"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING) if quiet else level)


@stream.command(name="replay")
@click.argument("source_name", metavar="SOURCE")
@click.option("--since", metavar="TS", help="First event time to replay (UTC) [default: all].")
@click.option("--until", metavar="TS", help="Replay events before this time (UTC).")
@click.option(
    "--rate",
    default=1000.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Events per second (0: as fast as possible).",
)
@click.option("--limit", type=click.IntRange(1), help="At most this many events.")
@click.option(
    "--retime",
    is_flag=True,
    help="Stamp events with the time they are sent (and fresh ids), so a live "
    "consumer shows values changing now.",
)
@_BROKER
@_kafka_options
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
@click.pass_context
def replay(
    ctx: click.Context, source_name: str, since: str | None, until: str | None, rate: float,
    limit: int | None, retime: bool, broker: str | None, bootstrap_servers: str | None,
    kafka_config: Path | None, kafka_options: Sequence[str], quiet: bool,
) -> None:  # fmt: skip
    """Send a seed's rows (SOURCE, e.g. raw_page_views) to its stream as raw events, in event
    time order, at --rate per second: the demo clickstream as a live stream.

    \b
    Examples:
      featurehouse stream replay raw_page_views --since 2026-04-30 --rate 500
      featurehouse stream replay raw_page_views --retime --limit 200 --rate 20
    """
    context: Context = ctx.obj["context"]
    chosen = runner.sources(context.artifacts, context.registry, [source_name])[0]
    settings = _kafka_settings(context, bootstrap_servers, kafka_config, kafka_options)
    kind = broker or str(context.project.vars.get("featurehouse_stream_broker") or "redis")
    window = replays.Window(since, until, limit)
    started = time.monotonic()
    topic = runner.topic_prefix(context.project) + chosen.topic
    sent = replays.replay(
        context.artifacts.manifest, chosen, replays.sink(kind, context.store, topic, settings),
        window, rate, retime=retime,
        progress=None if quiet else _sent,
    )  # fmt: skip
    if not quiet:
        click.echo("", err=True)
    click.echo(f"replayed {sent:,} events of {chosen.name} to {kind} {topic!r} in "
               f"{time.monotonic() - started:.1f} s")  # fmt: skip
