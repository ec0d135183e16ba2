"""What every command shares: the error-to-exit-code group, the common options (one bundle),
`--as-of` parsing, the progress bar, logging, and appending to the monitoring history.

Imports only click and `errors` at the top: the root group uses `Group`, and the group's
--help should not load the API, pyarrow or the warehouse (they load when a command runs)."""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from featurehouse.errors import ConfigError, FeaturehouseError, redact

if TYPE_CHECKING:
    from featurehouse.api.context import Context


class Group(click.Group):
    """Turns a FeaturehouseError into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FeaturehouseError as exc:
            message = " ".join(str(exc).split())
            click.echo(f"Error: {redact(message)}", err=True)
            ctx.exit(1)


def _redis_options() -> list[Callable[[Any], Any]]:
    return [
        click.option("--redis-url", metavar="URL", envvar="FEATUREHOUSE_REDIS_URL",
                     help="Redis to serve from [env FEATUREHOUSE_REDIS_URL, var "
                          "featurehouse_redis_url, default: the project's embedded store]."),
        click.option("--redis-prefix", metavar="P", envvar="FEATUREHOUSE_REDIS_PREFIX",
                     help="Key prefix in Redis [env FEATUREHOUSE_REDIS_PREFIX, var "
                          "featurehouse_redis_prefix, default fh]."),
    ]  # fmt: skip


def redis_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--redis-url and --redis-prefix alone (commands that need no dbt project)."""
    for option in reversed(_redis_options()):
        func = option(func)
    return func


def _common_options() -> list[Callable[[Any], Any]]:
    return [
        click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
                     envvar="DBT_PROJECT_DIR", help="The dbt project (default: cwd or a parent)."),
        click.option("--target", "target_name", metavar="T", envvar="DBT_TARGET",
                     help="profiles.yml target to read from (default: the profile's)."),
        *_redis_options(),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text."),
    ]  # fmt: skip


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """--project-dir, --target, --redis-url, --redis-prefix and --json for every command;
    the command gets a Context of them."""

    @functools.wraps(func)
    def wrapper(
        project_dir: Path | None,
        target_name: str | None,
        redis_url: str | None,
        redis_prefix: str | None,
        as_json: bool,
        **kwargs: Any,
    ) -> Any:
        from featurehouse.api.context import Context

        context = Context(project_dir, target_name, redis_url, redis_prefix)
        result = func(context, as_json=as_json, **kwargs)
        used = context.used_online()  # every command says which online store it used
        if used is not None and not kwargs.get("quiet"):
            click.echo(used.describe(), err=True)
        return result

    for option in reversed(_common_options()):
        wrapper = option(wrapper)
    return wrapper


def select_option(text: str) -> Callable[[Any], Any]:
    """--select/-s VIEW[.vN], repeatable."""
    return click.option("--select", "-s", "select", multiple=True, metavar="VIEW[.vN]", help=text)


def as_of(_: click.Context, __: click.Parameter, value: str | None) -> datetime | None:
    """Click callback: `--as-of` as naive UTC."""
    if value is None:
        return None
    from featurehouse.project.settings import parse_timestamp

    try:
        return parse_timestamp(value, "--as-of")
    except ConfigError as exc:
        raise click.BadParameter(str(exc).removeprefix("--as-of: ")) from exc


class BarProgress:
    """click.progressbar per view on stderr: rows, rate and ETA."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._started = 0.0
        self._done = 0

    def start(self, view: str, total: int) -> None:
        self._started, self._done = time.monotonic(), 0
        self._bar = click.progressbar(
            length=max(total, 1),
            label=f"{view:<32}",
            file=sys.stderr,
            show_pos=True,
            show_eta=True,
            item_show_func=lambda rate: rate,
        )
        self._bar.__enter__()

    def advance(self, rows: int) -> None:
        self._done += rows
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self._bar.update(rows, f"{self._done / elapsed:,.0f} rows/s")

    def finish(self, summary: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def configure_logging(quiet: bool) -> None:
    level = logging.CRITICAL if quiet else logging.ERROR  # notes are printed with the summary
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)


def append_history(
    context: Context, table: str, rows: Sequence[dict[str, Any]], *, quiet: bool
) -> None:
    """Append to the monitoring history; a busy or unreachable warehouse is a warning."""
    from featurehouse.warehouse import history

    try:
        name = history.append(context.project, context.target, table, rows)
    except FeaturehouseError as exc:
        click.echo(f"WARNING: {redact(' '.join(str(exc).split()))}", err=True)
        return
    if not quiet:
        click.echo(f"history: appended {len(rows)} row(s) to {name}", err=True)
