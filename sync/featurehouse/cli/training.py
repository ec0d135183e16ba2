"""`featurehouse dataset`: build a training set (the point-in-time macro over a spine) into
Parquet."""

from __future__ import annotations

import time
from pathlib import Path

import click

from featurehouse import training
from featurehouse.api.context import Context
from featurehouse.api.services import find_record
from featurehouse.cli.output import to_json
from featurehouse.cli.shared import BarProgress, common, configure_logging
from featurehouse.training.parquet import write_parquet


@click.command()
@click.option(
    "--spine",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Parquet file: the entity key column(s) and one timestamp column per row.",
)
@click.option(
    "--features",
    "-f",
    metavar="REF,...",
    help="Comma-separated `view[.vN]:feature` references (`view:*`: all its features).",
)
@click.option(
    "--service", "-s", metavar="NAME", help="A feature service's features, in its columns."
)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Parquet file to write (replaced atomically).",
)
@click.option(
    "--as-known-at",
    is_flag=True,
    help="Only feature rows already loaded at each spine time (created timestamp <= it).",
)
@click.option("--timestamp-column", metavar="COL", help="Spine time column (default: its only).")
@click.option(
    "--any-order",
    is_flag=True,
    help="Rows in any order, not the spine's: no sort keeping it (less CPU and memory).",
)
@click.option("--batch-size", default=100_000, show_default=True, type=click.IntRange(1))
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@common
def dataset(
    context: Context,
    *,
    as_json: bool,
    spine: Path,
    features: str | None,
    service: str | None,
    out: Path,
    as_known_at: bool,
    timestamp_column: str | None,
    any_order: bool,
    batch_size: int,
    quiet: bool,
) -> None:
    """Build a training set: every spine row with each feature as of the row's timestamp.

    The join is the dbt macro featurehouse.point_in_time_join (rendered by dbt, cached per
    build) run on the DuckDB target, read-only. Output columns: the spine's, then per
    reference `<view>[__vN]__<feature>` and `<view>[__vN]__<event timestamp>` (null: no
    feature row matched). --json prints rows, match rate per view and seconds.

    \b
    Examples:
      featurehouse dataset --spine spine.parquet --out train.parquet --features \\
          feat_customer__orders.v1:count_orders_7d,feat_customer__activity:count_sessions_1h
      featurehouse dataset --spine spine.parquet -f 'feat_customer__orders:*' -o train.parquet \\
          --as-known-at --json
      featurehouse dataset --spine spine.parquet --service churn_model -o train.parquet \\
          --any-order
    """
    started = time.monotonic()
    configure_logging(quiet or as_json)
    show = not (quiet or as_json)
    if (features is None) == (service is None):
        raise click.UsageError("pass --features or --service (one of them)")
    record = find_record(context.services(), service, "the dbt project") if service else None
    refs = (
        record.refs.refs if record else [r.strip() for r in str(features).split(",") if r.strip()]
    )
    if show:
        click.echo(f"checking {len(refs)} feature(s) and {spine.name}", err=True)
    prepared = training.prepare(
        *(context.project, context.target, context.artifacts, context.registry, spine, refs),
        timestamp_column=timestamp_column,
        as_known_at=as_known_at,
        keep_order=not any_order,
    )
    if show:
        click.echo(f"joining {prepared.spine.rows or 0:,} spine rows in DuckDB", err=True)
    reader = training.execute(context.project, context.target, prepared, batch_size)
    if record is not None:
        reader = training.as_service(reader, prepared, record.refs)
    summary = write_parquet(reader, out, prepared, started, BarProgress() if show else None)
    if as_json:
        click.echo(to_json(summary.to_dict()))
    elif not quiet:
        click.echo(summary.to_text())
