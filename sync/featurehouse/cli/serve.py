"""`featurehouse serve`: the HTTP feature server (imported when the command runs)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from featurehouse.api.context import Context
from featurehouse.cli.shared import redis_options

if TYPE_CHECKING:
    from featurehouse.server.app import Https

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=6566, show_default=True, type=click.IntRange(0, 65535), help="TCP port."
)
@redis_options
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes sharing the port (metrics are summed over them).",
)
@click.option(
    "--api-key-file",
    type=FILE,
    help="Require one of these API keys (one a line; also env FEATUREHOUSE_API_KEYS).",
)
@click.option(
    "--max-entities",
    default=1000,
    show_default=True,
    type=click.IntRange(1),
    help="Most entities per request (more: 413).",
)
@click.option(
    "--max-features",
    default=500,
    show_default=True,
    type=click.IntRange(1),
    help="Most features per request (more: 413).",
)
@click.option(
    "--max-body-bytes",
    default=1 << 20,
    show_default=True,
    type=click.IntRange(1),
    help="Largest request body (larger: 413).",
)
@click.option(
    "--refresh-seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="How often the view catalog is re-read from Redis.",
)
@click.option(
    "--redis-timeout",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Seconds before a Redis call gives up (the request gets a 503).",
)
@click.option(
    "--redis-busy-poll-us",
    default=200,
    show_default=True,
    type=click.IntRange(0),
    help="Microseconds to poll for a small read's reply from Redis before the event loop "
    "sleeps, while reads do not overlap (0: never; ignored on one CPU, over TLS and on a "
    "cluster).",
)
@click.option(
    "--tls-certfile",
    type=FILE,
    help="Serve HTTPS with this certificate (PEM, chain after it); needs --tls-keyfile.",
)
@click.option("--tls-keyfile", type=FILE, help="The certificate's private key (PEM).")
@click.option(
    "--usage/--no-usage",
    default=True,
    show_default=True,
    help="Count reads per feature service and view version (usage history, in Redis).",
)
@click.option(
    "--usage-flush-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="How often the counted usage is added to Redis.",
)
@click.option(
    "--push-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FEATUREHOUSE_PUSH_DIR",
    help="Where POST /push lands offline rows (Parquet) [env FEATUREHOUSE_PUSH_DIR].",
)
def serve(
    host: str,
    port: int,
    redis_url: str | None,
    redis_prefix: str | None,
    workers: int,
    api_key_file: Path | None,
    max_entities: int,
    max_features: int,
    max_body_bytes: int,
    refresh_seconds: float,
    redis_timeout: float,
    redis_busy_poll_us: int,
    tls_certfile: Path | None,
    tls_keyfile: Path | None,
    usage: bool,
    usage_flush_seconds: float,
    push_dir: Path | None,
) -> None:
    """Serve online features over HTTP (Feast-compatible), straight from Redis.

    Needs no dbt project: the views come from what `featurehouse sync` published. Endpoints:
    POST /get-online-features and POST /push (Feast's shapes), POST /v1/features (one row
    per entity), GET /v1/views, /health, /metrics (Prometheus), /openapi.json. Feature
    services by name (`"feature_service": "churn_model"`); reads are counted per service and
    view version.

    \b
    Examples:
      featurehouse serve --port 6566 --workers 2 --api-key-file keys.txt
      featurehouse serve --host 0.0.0.0 --tls-certfile server.crt --tls-keyfile server.key
      curl -s localhost:6566/get-online-features -d '{"features":
        ["feat_customer__orders:count_orders_7d"], "entities": {"customer_id": [1, 2]}}'
    """
    from featurehouse.server import run
    from featurehouse.server.state import ServerConfig

    https = _https(tls_certfile, tls_keyfile)
    keys = _api_keys(api_key_file)
    context = Context(redis_url_flag=redis_url, prefix_flag=redis_prefix)
    config = ServerConfig(
        redis_url=context.redis_url,
        prefix=context.prefix,
        api_keys=keys,
        max_entities=max_entities,
        max_features=max_features,
        max_body_bytes=max_body_bytes,
        refresh_seconds=refresh_seconds,
        redis_timeout=redis_timeout,
        redis_busy_poll_us=redis_busy_poll_us,
        usage=usage,
        usage_flush_seconds=usage_flush_seconds,
        push_dir=None if push_dir is None else str(push_dir.resolve()),
    )
    _announce(context, f"{'https' if https else 'http'}://{host}:{port}", workers, len(keys))
    run(config, host, port, workers, https)


def _announce(context: Context, where: str, workers: int, keys: int) -> None:
    """What is served where, on stderr."""
    auth = f"{keys} API key(s)" if keys else "no API keys"
    click.echo(context.online.describe(), err=True)
    click.echo(
        f"featurehouse serving {context.redis_shown} (prefix {context.prefix!r}) on "
        f"{where} with {workers} worker(s), {auth}",
        err=True,
    )


def _https(certfile: Path | None, keyfile: Path | None) -> Https | None:
    """The server's TLS files, both or neither."""
    from featurehouse.server.app import Https

    if (certfile is None) != (keyfile is None):
        raise click.UsageError("--tls-certfile and --tls-keyfile go together (HTTPS needs both)")
    return Https(str(certfile), str(keyfile)) if certfile and keyfile else None


def _api_keys(api_key_file: Path | None) -> tuple[str, ...]:
    """FEATUREHOUSE_API_KEYS and the keys of --api-key-file."""
    from featurehouse.server.state import parse_keys

    keys = parse_keys(os.environ.get("FEATUREHOUSE_API_KEYS", ""))
    if api_key_file is not None:
        from_file = parse_keys(api_key_file.read_text())
        if not from_file:
            raise click.BadParameter(f"{api_key_file} holds no key", param_hint="--api-key-file")
        keys = tuple(dict.fromkeys((*keys, *from_file)))
    return keys
