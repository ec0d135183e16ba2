"""`featurehouse online status|stop|url`: the online store in use, above all the embedded one
(a valkey-server Featurehouse starts itself when no Redis URL is configured).
"""

from __future__ import annotations

from typing import Any

import click

from featurehouse.api.context import Context
from featurehouse.api.location import StoreLocation, locate
from featurehouse.cli.output import to_json
from featurehouse.cli.shared import common
from featurehouse.errors import ConfigError, redact, shown_url
from featurehouse.online.redis import embedded


@click.group()
def online() -> None:
    """The online store: where it is, how big, and the embedded store's start and stop.

    With no Redis URL configured (--redis-url, FEATUREHOUSE_REDIS_URL, dbt var
    featurehouse_redis_url), commands use the project's embedded store: a valkey-server
    started on first use, data under <target>/featurehouse/online (FEATUREHOUSE_ONLINE_DIR).

    \b
    Examples:
      featurehouse online status
      featurehouse online url
      featurehouse online stop
    """


def _where(context: Context) -> StoreLocation:
    return locate(context.online_config, context.environment, start=False)


@online.command()
@common
def status(context: Context, *, as_json: bool) -> None:
    """Show the online store: embedded or configured, running or not, URL, pid, memory, keys,
    data folder and its size on disk. Does not start anything.

    \b
    Examples:
      featurehouse online status
      featurehouse online status --json
    """
    where = _where(context)
    if where.data_dir is not None:
        report = embedded.status(where.data_dir)
    else:
        report = {"kind": "configured", "url": where.url, "source": where.source}
        report.update(embedded.server_info(where.url))
        report["running"] = True
        report["url"] = shown_url(where.url)  # no password, no TLS file paths
    report["url"] = redact(report["url"])
    click.echo(to_json(report) if as_json else _status_text(report))


def _status_text(report: dict[str, Any]) -> str:
    if report["kind"] == "configured":
        head = f"configured Redis ({report['source']}) at {report['url']}: running"
    elif report["running"]:
        server = f"embedded valkey-server {report['version']} (pid {report['pid']})"
        head = f"{server} at {report['url']}"
    else:
        head = f"embedded store: not running (the next command starts it at {report['url']})"
    lines = [head]
    if "info" in report:
        lines.append(f"  memory      {report['info']}")
    if "used_memory_bytes" in report:
        lines.append(
            f"  memory      {_size(report['used_memory_bytes'])} used, "
            f"{_size(report['used_memory_rss_bytes'])} resident; {report['keys']:,} keys"
        )
    if report["kind"] == "embedded":
        lines.append(
            f"  data        {report['data_dir']} ({_size(report['data_bytes_on_disk'])} on "
            f"disk; {report['persistence']})"
        )
        lines.append(f"  log         {report['log']}")
    return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@online.command()
@common
def stop(context: Context, *, as_json: bool) -> None:
    """Stop the embedded store cleanly (its data stays; the next command starts it again).

    \b
    Example:
      featurehouse online stop
    """
    where = _where(context)
    if where.data_dir is None:
        raise ConfigError(
            f"the online store is the Redis at {redact(where.url)} (from {where.source}); "
            "`featurehouse online stop` stops only the embedded store: stop that Redis yourself"
        )
    pid = embedded.stop(where.data_dir)
    if as_json:
        report = {"stopped": pid is not None, "pid": pid, "data_dir": str(where.data_dir)}
        click.echo(to_json(report))
    elif pid is None:
        click.echo(f"the embedded store in {where.data_dir} was not running")
    else:
        click.echo(f"stopped the embedded store (pid {pid}); its data stays in {where.data_dir}")


@online.command()
@click.option("--socket", "socket_only", is_flag=True, help="Print only the socket path.")
@common
def url(context: Context, *, as_json: bool, socket_only: bool) -> None:
    """Print the online store's URL (starting the embedded store if it is not running), for
    redis-cli and other tools.

    \b
    Examples:
      featurehouse online url
      redis-cli -s "$(featurehouse online url --socket)" info memory
    """
    where = context.online
    if socket_only:
        if not where.url.startswith("unix://"):
            raise ConfigError(f"{redact(where.url)} is not a unix socket: drop --socket")
        shown = where.url.removeprefix("unix://")
    else:
        shown = redact(where.url)
    click.echo(to_json({"url": shown, "source": where.source}) if as_json else shown)
