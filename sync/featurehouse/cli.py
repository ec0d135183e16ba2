"""The `featurehouse` command: parse arguments, call the library, format output.

The only module that imports click.

Exit codes: 0 ok, 1 a FeaturehouseError (one line on stderr naming the cause), 2 bad usage.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from featurehouse import __version__, explain, history, materialize
from featurehouse import drift as drift_runs
from featurehouse.catalog import build_catalog
from featurehouse.catalog import serve as serve_catalog
from featurehouse.context import Context, open_context
from featurehouse.drift_html import write_report
from featurehouse.drift_output import drift_dict, drift_text
from featurehouse.errors import ConfigError, FeaturehouseError, redact
from featurehouse.keys import parse_entity
from featurehouse.lineage import impact as find_impact
from featurehouse.online import ReadRequest
from featurehouse.report import (
    describe_text,
    get_rows,
    get_text,
    list_rows,
    list_text,
    summary_dict,
    summary_text,
    to_json,
)
from featurehouse.settings import parse_timestamp


class _Group(click.Group):
    """Turns a FeaturehouseError into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FeaturehouseError as exc:
            message = " ".join(str(exc).split())
            click.echo(f"Error: {redact(message)}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="featurehouse")
def cli() -> None:
    """Featurehouse: dbt models as feature views, served from Redis.

    \b
    Example:
      dbt build && featurehouse sync && featurehouse get feat_customer__orders 42
    """


def _common_options() -> list[Callable[[Any], Any]]:
    return [
        click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
                     envvar="DBT_PROJECT_DIR", help="The dbt project (default: cwd or a parent)."),
        click.option("--target", "target_name", metavar="T", envvar="DBT_TARGET",
                     help="profiles.yml target to read from (default: the profile's)."),
        click.option("--redis-url", metavar="URL", envvar="FEATUREHOUSE_REDIS_URL",
                     help="Redis to serve from [env FEATUREHOUSE_REDIS_URL, var "
                          "featurehouse_redis_url, default redis://127.0.0.1:6379/0]."),
        click.option("--redis-prefix", metavar="P", envvar="FEATUREHOUSE_REDIS_PREFIX",
                     help="Key prefix in Redis [env FEATUREHOUSE_REDIS_PREFIX, var "
                          "featurehouse_redis_prefix, default fh]."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text."),
    ]  # fmt: skip


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """--project-dir, --target, --redis-url, --redis-prefix and --json for every command."""

    @functools.wraps(func)
    def wrapper(
        project_dir: Path | None,
        target_name: str | None,
        redis_url: str | None,
        redis_prefix: str | None,
        as_json: bool,
        **kwargs: Any,
    ) -> Any:
        context = open_context(project_dir, target_name, redis_url, redis_prefix)
        return func(context, as_json=as_json, **kwargs)

    for option in reversed(_common_options()):
        wrapper = option(wrapper)
    return wrapper


def _as_of(_: click.Context, __: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value, "--as-of")
    except ConfigError as exc:
        raise click.BadParameter(str(exc).removeprefix("--as-of: ")) from exc


@cli.command()
@click.option(
    "--select",
    "-s",
    "select",
    multiple=True,
    metavar="VIEW[.vN]",
    help="View version(s) to sync; repeatable (default: the latest version of every online view).",
)
@click.option(
    "--as-of",
    callback=_as_of,
    metavar="TS",
    envvar="FEATUREHOUSE_AS_OF",
    help="Publish the rows as of this UTC time [env FEATUREHOUSE_AS_OF, else the dbt var "
    "as_of (the build's as-of), else now].",
)
@click.option(
    "--full/--incremental",
    "full",
    default=True,
    help="Full: a new generation replaces the old one atomically (default). "
    "Incremental: only rows newer than the stored watermark.",
)
@click.option("--force", is_flag=True, help="Publish even if dbt tests failed or did not run.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, no per-view lines.")
@click.option("--batch-size", default=10_000, show_default=True, type=click.IntRange(1))
@click.option("--no-history", is_flag=True, help="Do not append to the sync_history table.")
@common
def sync(
    context: Context,
    *,
    as_json: bool,
    select: Sequence[str],
    as_of: datetime | None,
    full: bool,
    force: bool,
    quiet: bool,
    batch_size: int,
    no_history: bool,
) -> None:
    """Publish feature views' latest rows (per the dbt macro latest_feature_rows) to Redis.

    Refuses views whose dbt tests (or their upstream models' tests) failed or did not run in
    the last `dbt build`; --force publishes anyway, loudly. Each run appends a row per view
    to the warehouse table featurehouse_monitoring.sync_history (see README, Monitoring).

    \b
    Examples:
      featurehouse sync
      featurehouse sync --select feat_customer__orders.v1 --as-of 2026-05-01
      featurehouse sync --incremental --json
    """
    when, clock = (as_of, "as_of") if as_of is not None else context.default_as_of()
    options = materialize.SyncOptions(
        as_of=when,
        clock=clock,
        mode="full" if full else "incremental",
        force=force,
        batch_size=batch_size,
    )
    _configure_logging(quiet or as_json)
    progress = None if quiet or as_json else _BarProgress()
    summaries = materialize.sync(
        context.project, context.target, context.artifacts, context.registry, select,
        context.store, options, progress,
    )  # fmt: skip
    _print_sync(context, summaries, as_json=as_json, quiet=quiet)
    if not no_history:
        rows = history.sync_rows(summaries, context.target.name, context.prefix)
        _append_history(context, "sync_history", rows, quiet=quiet or as_json)


def _print_sync(
    context: Context, summaries: Sequence[materialize.ViewSummary], *, as_json: bool, quiet: bool
) -> None:
    for summary in summaries:
        if summary.forced:
            forced = ", ".join(summary.forced)
            click.echo(f"WARNING: --force published {summary.view} although: {forced}", err=True)
    if as_json:
        views = [summary_dict(s) for s in summaries]
        report = {"redis": context.redis_shown, "prefix": context.prefix, "views": views}
        click.echo(to_json(report))
    elif not quiet:
        click.echo(summary_text(summaries, context.redis_shown, context.prefix))


@cli.command()
@click.argument("view", metavar="VIEW[.vN]")
@click.argument("keys", nargs=-1, required=True, metavar="KEY...")
@click.option("--features", "-f", metavar="a,b", help="Only these features (comma-separated).")
@common
def get(
    context: Context, *, as_json: bool, view: str, keys: Sequence[str], features: str | None
) -> None:
    """Read the served features of one or more entities of VIEW.

    Each KEY names one entity: its key value (`42`); for composite keys its values in key
    order, comma separated (`42,de`); or `name=value` pairs (`customer_id=42,country_code=de`).

    \b
    Examples:
      featurehouse get feat_customer__orders 42 43
      featurehouse get feat_customer__orders.v1 42 --features count_orders_30d --json
      featurehouse get feat_customer_country__orders customer_id=42,country_code=de
    """
    state = context.online_view(view)
    entity_rows = [parse_entity(key, state.schema.keys) for key in keys]
    names = tuple(n.strip() for n in features.split(",") if n.strip()) if features else None
    request = ReadRequest(view=state.schema.view, version=state.schema.version, features=names)
    result = context.store.read([request], entity_rows)[0]
    rows = get_rows(state.schema, entity_rows, result)
    click.echo(to_json(rows) if as_json else get_text(state, rows))


@cli.command(name="list")
@common
def list_views(context: Context, *, as_json: bool) -> None:
    """List feature views: every version in the dbt project and what Redis serves.

    \b
    Example:
      featurehouse list --json
    """
    rows = list_rows(context.maybe_registry(), context.store.views())
    click.echo(to_json(rows) if as_json else list_text(rows))


@cli.command()
@click.argument("view", metavar="VIEW[.vN]")
@common
def describe(context: Context, *, as_json: bool, view: str) -> None:
    """Describe one view version: keys, timestamps, TTL, features and types, sync state.

    \b
    Examples:
      featurehouse describe feat_customer__orders
      featurehouse describe feat_customer__orders.v1 --json
    """
    info = context.describe(view)
    click.echo(to_json(info) if as_json else describe_text(info))


@cli.command()
@click.argument("view", metavar="VIEW[.vN]")
@common
def delete(context: Context, *, as_json: bool, view: str) -> None:
    """Remove a view version's data and metadata from Redis (the dbt model is untouched).

    \b
    Example:
      featurehouse delete feat_customer__orders.v1
    """
    state = context.online_view(view)
    removed = context.store.delete(state.schema.view, state.schema.version)
    ref = _ref(state.schema.view, state.schema.version)
    if as_json:
        click.echo(to_json({"view": ref, "deleted_keys": removed}))
    else:
        click.echo(f"deleted {ref} from {context.redis_shown} ({removed} keys)")


@cli.command()
@click.argument("ref", metavar="VIEW[.vN][:FEATURE]")
@click.option("--mermaid", "fmt", flag_value="mermaid", help="Print a Mermaid flowchart.")
@click.option("--dot", "fmt", flag_value="dot", help="Print Graphviz DOT.")
@common
def lineage(context: Context, *, as_json: bool, ref: str, fmt: str | None) -> None:
    """Show the columns a feature (or every feature of a view) is computed from: a tree,
    model by model down to seed and source columns, each line saying how it feeds the one
    above (`value` with its steps, `join key`, `filter`, `group by`, `partition by`, `order
    by`). Without a dbt project, reads what `featurehouse sync` stored in Redis.

    \b
    Examples:
      featurehouse lineage feat_customer__orders:count_orders_30d
      featurehouse lineage feat_customer__orders.v1 --json
      featurehouse lineage feat_product__popularity --mermaid > popularity.mmd
    """
    if as_json and fmt:
        raise click.UsageError("use one of --json, --mermaid and --dot")
    view_ref, _, feature = ref.partition(":")
    found = context.view_lineage(view_ref)
    features = [feature] if feature else found.feature_names()
    output = explain.lineage_output(found, features, "json" if as_json else fmt or "text")
    click.echo(to_json(output) if as_json else output)


@cli.command()
@click.argument("target", metavar="SOURCE_OR_MODEL[.COLUMN]")
@common
def impact(context: Context, *, as_json: bool, target: str) -> None:
    """List what depends on a seed, source or model (or one of its columns): features (and
    how the column reaches them), view versions, training datasets (models/datasets/), other
    models, and the Redis keys serving the affected view versions.

    \b
    Examples:
      featurehouse impact raw_orders.status
      featurehouse impact stg_shop__orders --json
    """
    found = find_impact(context.lineage, context.registry, context.artifacts.manifest, target)
    entries, problem = explain.online_entries(found.views, context.store, context.prefix)
    if as_json:
        click.echo(to_json(explain.impact_dict(found, entries, problem)))
    else:
        click.echo(explain.impact_text(found, entries, problem))


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write (default with --serve: <target>/featurehouse/catalog).",
)
@click.option("--serve", "serve_it", is_flag=True, help="Serve the catalog over HTTP.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@common
def catalog(
    context: Context, *, as_json: bool, out: Path | None, serve_it: bool, port: int
) -> None:
    """Write the static feature catalog: every view version, its features, tests, freshness,
    online status (from Redis when reachable), a lineage graph per feature, links to `dbt
    docs`. The folder opens from disk (no network).

    \b
    Examples:
      featurehouse catalog --out site
      featurehouse catalog --serve --port 8000
    """
    if out is None and not serve_it:
        raise click.UsageError("pass --out DIR, --serve, or both")
    out = out or context.artifacts.target_dir / "featurehouse" / "catalog"
    states, redis = explain.online_states(context.store, context.redis_shown, context.prefix)
    done = build_catalog(out, context.registry, context.artifacts, context.lineage, states, redis)
    summary = {"out": str(out), "views": done.views, "pages": done.pages}
    click.echo(to_json(summary) if as_json else f"wrote {done.pages} pages ({done.views} views)")
    if serve_it:
        server = serve_catalog(out, port)
        click.echo(f"serving {out} at http://127.0.0.1:{server.server_port}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.server_close()


@cli.command()
@click.argument("view", metavar="VIEW[.vN]")
@click.option(
    "--reference",
    metavar="START..END",
    help="Reference window [START, END) (default: the 28 days before the current window).",
)
@click.option(
    "--current",
    metavar="START..END",
    help="Current window [START, END) (default: the 7 days before --as-of).",
)
@click.option(
    "--as-of",
    callback=_as_of,
    metavar="TS",
    help="End of the default current window [var as_of, else now].",
)
@click.option(
    "--report",
    "report_dir",
    metavar="DIR",
    type=click.Path(path_type=Path),
    help="Also write DIR/index.html: a histogram per feature, viewable offline.",
)
@click.option("--check", is_flag=True, help="Exit 1 when a feature's verdict is fail.")
@click.option("--no-history", is_flag=True, help="Do not append to the drift_history table.")
@common
def drift(
    context: Context, *, as_json: bool, view: str, reference: str | None, current: str | None,
    as_of: datetime | None, report_dir: Path | None, check: bool, no_history: bool,
) -> None:  # fmt: skip
    """Distribution drift of VIEW's features between a reference and a current window.

    Per feature: PSI (numbers by reference deciles, strings and booleans by value, arrays
    per meta.feature_store.dimensions), null rates, mean shift in reference sd, p50/p90 and
    a verdict by its distribution_drift test's thresholds (else warn 0.1, fail 0.25).
    Computed by the dbt macros; each run appends to featurehouse_monitoring.drift_history.

    \b
    Examples:
      featurehouse drift feat_customer__orders
      featurehouse drift feat_customer__orders.v1 --current 2026-04-24..2026-05-01 --json
      featurehouse drift feat_product__popularity --report drift-report/ --check
    """
    chosen = context.registry.select([view])[0]
    windows = drift_runs.default_windows(
        as_of or context.default_as_of()[0],
        drift_runs.parse_window(reference, "reference") if reference else None,
        drift_runs.parse_window(current, "current") if current else None,
    )
    result = drift_runs.measure(
        context.project, context.target, context.artifacts.manifest, chosen, windows,
        charts=report_dir is not None,
    )  # fmt: skip
    page = write_report(result, report_dir) if report_dir is not None else None
    if as_json:
        click.echo(to_json({**drift_dict(result), "report": str(page) if page else None}))
    else:
        click.echo(drift_text(result) + (f"\nreport: {page}" if page else ""))
    if not no_history:
        rows = history.drift_rows(result)
        _append_history(context, "drift_history", rows, quiet=as_json)
    if check and result.verdict == "fail":
        click.get_current_context().exit(1)


def _append_history(
    context: Context, table: str, rows: Sequence[dict[str, Any]], *, quiet: bool
) -> None:
    """Append to the monitoring history; a busy or unreachable warehouse is a warning."""
    try:
        name = history.append(context.project, context.target, table, rows)
    except FeaturehouseError as exc:
        click.echo(f"WARNING: {redact(' '.join(str(exc).split()))}", err=True)
        return
    if not quiet:
        click.echo(f"history: appended {len(rows)} row(s) to {name}", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=6566, show_default=True, type=click.IntRange(0, 65535), help="TCP port."
)
@click.option(
    "--redis-url",
    metavar="URL",
    envvar="FEATUREHOUSE_REDIS_URL",
    help="Redis to serve from [env FEATUREHOUSE_REDIS_URL, default redis://127.0.0.1:6379/0].",
)
@click.option(
    "--redis-prefix",
    metavar="P",
    envvar="FEATUREHOUSE_REDIS_PREFIX",
    help="Key prefix in Redis [env FEATUREHOUSE_REDIS_PREFIX, default fh].",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes sharing the port (metrics are summed over them).",
)
@click.option(
    "--api-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
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
    push_dir: Path | None,
) -> None:
    """Serve online features over HTTP (Feast-compatible), straight from Redis.

    Needs no dbt project: the views come from what `featurehouse sync` published. Endpoints:
    POST /get-online-features and POST /push (Feast's shapes), POST /v1/features (one row
    per entity), GET /v1/views, /health, /metrics (Prometheus), /openapi.json.

    \b
    Examples:
      featurehouse serve --port 6566 --workers 2 --api-key-file keys.txt
      curl -s localhost:6566/get-online-features -d '{"features":
        ["feat_customer__orders:count_orders_7d"], "entities": {"customer_id": [1, 2]}}'
    """
    from featurehouse.server import run
    from featurehouse.server_state import ServerConfig, parse_keys

    keys = parse_keys(os.environ.get("FEATUREHOUSE_API_KEYS", ""))
    if api_key_file is not None:
        from_file = parse_keys(api_key_file.read_text())
        if not from_file:
            raise click.BadParameter(f"{api_key_file} holds no key", param_hint="--api-key-file")
        keys = tuple(dict.fromkeys((*keys, *from_file)))
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
        push_dir=None if push_dir is None else str(push_dir.resolve()),
    )
    auth = f"{len(keys)} API key(s)" if keys else "no API keys"
    click.echo(
        f"featurehouse serving {context.redis_shown} (prefix {context.prefix!r}) on "
        f"http://{host}:{port} with {workers} worker(s), {auth}",
        err=True,
    )
    run(config, host, port, workers)


def _ref(view: str, version: int | None) -> str:
    return view if version is None else f"{view}.v{version}"


class _BarProgress:
    """click.progressbar per view on stderr: rows, rate and ETA."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._started = 0.0
        self._done = 0

    def start(self, view: str, total: int) -> None:
        self._started, self._done = _now(), 0
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
        elapsed = max(_now() - self._started, 1e-6)
        self._bar.update(rows, f"{self._done / elapsed:,.0f} rows/s")

    def finish(self, summary: materialize.ViewSummary) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _now() -> float:
    return time.monotonic()


def _configure_logging(quiet: bool) -> None:
    level = logging.CRITICAL if quiet else logging.ERROR  # notes are printed with the summary
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)


# `dataset` and `parity` (cli_training.py) and `stream` (cli_stream.py) add themselves to `cli`.
from featurehouse import cli_stream, cli_training  # noqa: E402, F401


def main(argv: Sequence[str] | None = None) -> None:
    """Console script entry point (`featurehouse`)."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    cli.main(args=argv, prog_name="featurehouse")


if __name__ == "__main__":
    # `python -m featurehouse.cli`: run the imported module's group, where cli_training
    # registered `dataset` and `parity` (this __main__ copy has no training commands).
    from featurehouse.cli import main as imported_main

    imported_main()
