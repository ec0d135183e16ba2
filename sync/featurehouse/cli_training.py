"""`featurehouse dataset` and `featurehouse parity`: the training side of the CLI.

Part of the CLI (with cli.py, the only click users); registered on the `featurehouse` group by
cli.py. Parse arguments, call `training` / `parity`, format with `training_report`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import click

from featurehouse import training
from featurehouse.cli import _BarProgress, _configure_logging, cli, common
from featurehouse.context import Context
from featurehouse.errors import ParityError
from featurehouse.report import to_json
from featurehouse.sync import parity as parity_check
from featurehouse.training.parquet import parity_dict, parity_text, write_parquet


@cli.command()
@click.option(
    "--spine",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Parquet file: the entity key column(s) and one timestamp column per row.",
)
@click.option(
    "--features",
    "-f",
    required=True,
    metavar="REF,...",
    help="Comma-separated `view[.vN]:feature` references (`view:*`: all its features).",
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
@click.option("--batch-size", default=100_000, show_default=True, type=click.IntRange(1))
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@common
def dataset(
    context: Context,
    *,
    as_json: bool,
    spine: Path,
    features: str,
    out: Path,
    as_known_at: bool,
    timestamp_column: str | None,
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
    """
    started = time.monotonic()
    _configure_logging(quiet or as_json)
    show = not (quiet or as_json)
    refs = [ref.strip() for ref in features.split(",") if ref.strip()]
    if show:
        click.echo(f"checking {len(refs)} feature(s) and {spine.name}", err=True)
    prepared = training.prepare(
        context.project,
        context.target,
        context.artifacts,
        context.registry,
        spine,
        refs,
        timestamp_column=timestamp_column,
        as_known_at=as_known_at,
    )
    if show:
        click.echo(f"joining {prepared.spine.rows or 0:,} spine rows in DuckDB", err=True)
    reader = training.execute(context.project, context.target, prepared, batch_size)
    summary = write_parquet(reader, out, prepared, started, _BarProgress() if show else None)
    if as_json:
        click.echo(to_json(summary.to_dict()))
    elif not quiet:
        click.echo(summary.to_text())


@cli.command()
@click.option(
    "--select",
    "-s",
    "select",
    multiple=True,
    metavar="VIEW[.vN]",
    help="View version(s) to check; repeatable (default: every published one).",
)
@click.option(
    "--sample",
    type=click.IntRange(1),
    metavar="N",
    help=f"Compare N random entities per view [default: {parity_check.DEFAULT_SAMPLE:,}].",
)
@click.option(
    "--all", "every", is_flag=True, help="Compare every entity; also finds entities only Redis has."
)
@click.option("--examples", default=10, show_default=True, type=click.IntRange(0))
@click.option("--seed", default=0, show_default=True, type=int, help="Sampling seed.")
@click.option("--batch-size", default=10_000, show_default=True, type=click.IntRange(1))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; only the result.")
@common
def parity(
    context: Context,
    *,
    as_json: bool,
    select: Sequence[str],
    sample: int | None,
    every: bool,
    examples: int,
    seed: int,
    batch_size: int,
    quiet: bool,
) -> None:
    """Check that Redis serves what the warehouse says (training-serving skew).

    Per published view version: the warehouse's value of every feature at the sync's as-of
    (the dbt macro latest_feature_rows, as the sync reads it) against what Redis serves at
    that as-of, exactly (floats bit for bit, arrays element-wise). Exit 1 on any mismatch.

    \b
    Examples:
      featurehouse parity
      featurehouse parity --select feat_customer__orders.v1 --all --json
    """
    if sample is not None and every:
        raise click.UsageError("--sample and --all exclude each other")
    _configure_logging(quiet or as_json)
    options = parity_check.ParityOptions(
        sample=None if every else (sample or parity_check.DEFAULT_SAMPLE),
        batch_size=batch_size,
        examples=examples,
        seed=seed,
    )
    results = parity_check.check(
        context.project,
        context.target,
        context.artifacts,
        context.registry,
        context.store,
        select,
        options,
        None if quiet or as_json else _BarProgress(),
    )
    click.echo(to_json(parity_dict(results)) if as_json else parity_text(results))
    bad = [r for r in results if not r.ok]
    if bad:
        values = sum(r.mismatched for r in bad)
        raise ParityError(
            f"{values:,} value(s) differ between Redis and the warehouse in "
            f"{', '.join(r.view for r in bad)}: re-sync with `featurehouse sync`, and if it "
            "persists, report it (the sync lost data)"
        )
