"""`featurehouse sync` (publish the views' latest rows) and `featurehouse parity` (does the online
store serve what the warehouse says?), with their summaries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from featurehouse.api.context import Context
from featurehouse.cli.output import to_json, ts
from featurehouse.cli.shared import (
    BarProgress,
    append_history,
    common,
    configure_logging,
    select_option,
)
from featurehouse.cli.shared import as_of as as_of_option
from featurehouse.errors import ParityError
from featurehouse.sync import materialize
from featurehouse.sync import parity as parity_check
from featurehouse.sync.history import sync_rows
from featurehouse.sync.materialize import ViewSummary
from featurehouse.sync.parity import ViewParity


@click.command()
@select_option("View version(s) to sync; repeatable (default: the latest of every online view).")
@click.option(
    "--as-of",
    callback=as_of_option,
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
    configure_logging(quiet or as_json)
    progress = None if quiet or as_json else BarProgress()
    summaries = materialize.sync(
        context.project, context.target, context.artifacts, context.registry, select,
        context.store, options, progress,
    )  # fmt: skip
    _print_sync(context, summaries, as_json=as_json, quiet=quiet)
    if not no_history:
        rows = sync_rows(summaries, context.target.name, context.prefix)
        append_history(context, "sync_history", rows, quiet=quiet or as_json)


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


def summary_dict(summary: ViewSummary) -> dict[str, Any]:
    return {
        "view": summary.view,
        "mode": summary.mode,
        "as_of": summary.as_of,
        "rows_read": summary.rows_read,
        "entities": summary.entities,
        "expired": summary.expired,
        "entities_written": summary.entities_written,
        "skipped": dict(summary.skipped),
        "watermark": summary.watermark,
        "generation": summary.generation,
        "seconds": round(summary.seconds, 3),
        "forced": list(summary.forced),
        "notes": list(summary.notes),
    }


def summary_text(summaries: Sequence[ViewSummary], redis: str, prefix: str) -> str:
    lines = [f"synced {len(summaries)} view version(s) to {redis} (prefix {prefix!r})"]
    for s in summaries:
        skipped = ", ".join(f"{n} {reason}" for reason, n in s.skipped.items()) or "none"
        written = "" if s.mode == "full" else f", {s.entities_written:,} written"
        lines.append(
            f"  {s.view:<36} {s.mode:<11} as of {ts(s.as_of)}  "
            f"{s.entities:>8,} entities ({s.expired:,} expired){written}  skipped: {skipped}  "
            f"generation {s.generation}  {s.seconds:.1f}s"
        )
        lines.extend(f"    note: {note}" for note in s.notes)
    return "\n".join(lines)


@click.command()
@select_option("View version(s) to check; repeatable (default: every published one).")
@click.option(
    "--sample",
    type=click.IntRange(1),
    metavar="N",
    help="Compare N random warehouse entities per view instead of all (no extra-record count).",
)
@click.option("--all", "every", is_flag=True, help="Compare every entity and record (the default).")
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
    """Check that the online store answers what the warehouse says (training-serving skew).

    Per published view version, at the sync's as-of: every entity the warehouse has a row
    for (the dbt macro latest_feature_rows, as the sync reads it) against the store's answer:
    its status (present or expired), its event time, and for present entities every feature,
    exactly (floats bit for bit, arrays element-wise); then every record the store holds for
    an entity the warehouse has no row for. Names the first mismatching entities; exit 1 on
    any mismatch.

    \b
    Examples:
      featurehouse parity
      featurehouse parity --select feat_customer__orders.v1 --json
      featurehouse parity --sample 1000
    """
    if sample is not None and every:
        raise click.UsageError("--sample and --all exclude each other")
    configure_logging(quiet or as_json)
    options = parity_check.ParityOptions(
        sample=sample, batch_size=batch_size, examples=examples, seed=seed
    )
    results = parity_check.check(
        context.project,
        context.target,
        context.artifacts,
        context.registry,
        context.store,
        select,
        options,
        None if quiet or as_json else BarProgress(),
    )
    click.echo(to_json(parity_dict(results)) if as_json else parity_text(results))
    bad = [r for r in results if not r.ok]
    if bad:
        entities = sum(r.entities_mismatched for r in bad)
        extra = sum(r.extra or 0 for r in bad)
        raise ParityError(
            f"{entities:,} entit(ies) answered differently and {extra:,} record(s) the "
            f"warehouse does not justify in {', '.join(r.view for r in bad)}: re-sync with "
            "`featurehouse sync`, and if it persists, report it (the sync lost data)"
        )


def parity_dict(results: Sequence[ViewParity]) -> dict[str, Any]:
    return {
        "ok": all(r.ok for r in results),
        "mismatched": sum(r.mismatched for r in results),
        "compared": sum(r.compared for r in results),
        "views": [_view_dict(r) for r in results],
    }


def _view_dict(r: ViewParity) -> dict[str, Any]:
    return {
        "view": r.view,
        "ok": r.ok,
        "as_of": r.as_of,
        "clock": r.clock,
        "generation": r.generation,
        "mode": "sample" if r.sampled else "all",
        "entities_compared": r.entities,
        "warehouse_entities": r.warehouse_entities,
        "redis_entities": r.redis_entities,
        "expired": r.expired,
        "entities_mismatched": r.entities_mismatched,
        "status_mismatched": r.status_mismatched,
        "extra_in_redis": r.extra,
        "values_compared": r.compared,
        "mismatched": r.mismatched,
        "mismatch_rate": r.mismatch_rate,
        "features": {
            f.feature: {"compared": f.compared, "mismatched": f.mismatched} for f in r.features
        },
        "examples": [
            {
                "keys": e.keys,
                "feature": e.feature,
                "warehouse": e.warehouse,
                "redis": e.redis,
                "status": e.status,
            }
            for e in r.examples
        ],
        "notes": list(r.notes),
        "seconds": round(r.seconds, 3),
    }


def parity_text(results: Sequence[ViewParity]) -> str:
    lines = []
    for r in results:
        verdict = "ok" if r.ok else "MISMATCH"
        extra = "" if r.extra is None else f", {r.extra:,} extra in Redis"
        lines.append(
            f"{r.view:<36} {verdict:<8} {r.entities_mismatched:,} of {r.entities:,} entities "
            f"differ ({r.status_mismatched:,} in status){extra}; "
            f"{'sampled' if r.sampled else 'all'} of {r.warehouse_entities:,}, "
            f"{r.expired:,} expired; as of {ts(r.as_of)} ({r.clock} clock), {r.seconds:.1f}s"
        )
        lines.extend(
            f"    {f.feature}: {f.mismatched:,} of {f.compared:,}"
            for f in r.features
            if f.mismatched
        )
        lines.extend(
            f"    e.g. {_keys(e.keys)} {e.feature}: warehouse {_shown(e.warehouse)}, "
            f"redis {_shown(e.redis)} ({e.status})"
            for e in r.examples
        )
        lines.extend(f"    note: {note}" for note in r.notes)
    return "\n".join(lines)


def _shown(value: Any) -> str:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else repr(value)


def _keys(keys: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in keys.items())
