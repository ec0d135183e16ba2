"""`featurehouse services`, `usage`, `deprecations` and `get --service`: feature services, who
reads what and how recently, and the pinned versions past their deprecation date."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from featurehouse.api import FeatureStore
from featurehouse.api.context import Context
from featurehouse.cli.output import to_json, ts
from featurehouse.cli.shared import common
from featurehouse.online import ServiceRecord
from featurehouse.online.keys import parse_entity
from featurehouse.online.usage import UsageCount
from featurehouse.warehouse import history


def service_get(
    context: Context,
    name: str,
    keys: Sequence[str],
    *,
    as_json: bool,
    now: datetime | None = None,
) -> None:
    """`featurehouse get --service NAME KEY...`: the service's columns per entity, in order."""
    store = FeatureStore.from_context(context)
    record = store.feature_service(name)
    key_types: dict[str, str] = {}
    for ref in record.refs.features:
        schema = context.online_view(str(ref.view)).schema
        key_types.update(zip(schema.keys, schema.key_types, strict=True))
    key_names = list(key_types)
    types = [key_types[k] for k in key_names]
    rows = [_typed(parse_entity(key, key_names, types), key_types) for key in keys]
    answer = store.get_online_features(service=name, entity_rows=rows, now=now)
    store.flush_usage()
    columns = answer.to_dict()
    names = record.refs.columns()
    out = [
        {
            "service": name,
            "keys": {k: columns[k][i] for k in key_names},
            "features": {
                n: {"value": columns[n][i], "status": columns[f"{n}__status"][i]} for n in names
            },
        }
        for i in range(len(rows))
    ]
    click.echo(to_json(out) if as_json else _get_text(out, record.refs.refs))


def _typed(entity: dict[str, str], types: Mapping[str, str]) -> dict[str, Any]:
    """Integer keys as integers (as `featurehouse get VIEW` shows them)."""
    return {
        k: int(v) if types[k] == "int64" and v.strip().lstrip("+-").isdigit() else v
        for k, v in entity.items()
    }


def _get_text(rows: Sequence[Mapping[str, Any]], refs: Sequence[str]) -> str:
    lines = []
    for row in rows:
        keys = ", ".join(f"{k}={v}" for k, v in row["keys"].items())
        lines.append(f"{row['service']}  {keys}")
        width = max((len(n) for n in row["features"]), default=0)
        for (name, cell), ref in zip(row["features"].items(), refs, strict=True):
            value = "null" if cell["value"] is None else str(cell["value"])
            lines.append(f"  {name:<{width}}  {value:<24}  {cell['status']:<10} {ref}")
    return "\n".join(lines)


@click.command()
@common
def services(context: Context, *, as_json: bool) -> None:
    """List feature services: their features (pinned versions), owner, and how they are read.

    \b
    Example:
      featurehouse services --json
    """
    usage = {(u.kind, u.name): u for u in _usage(context)}
    records = service_records(context)
    rows = []
    for record in records:
        count = usage.get(("service", record.name))
        rows.append(
            {
                "service": record.name,
                "owner": record.owner,
                "description": record.description,
                "features": record.refs.refs,
                "columns": record.refs.columns(),
                "views": record.extra.get("views", []),
                "sample_rate": record.sample_rate,
                "reads": count.reads if count else 0,
                "entities": count.entities if count else 0,
                "last_read_at": count.last_read_at if count else None,
            }
        )
    if as_json:
        click.echo(to_json(rows))
        return
    if not rows:
        click.echo("no feature services (declare an exposure of type ml with "
                   "config.meta.feature_service)")  # fmt: skip
    for row in rows:
        click.echo(
            f"{row['service']}  owner {row['owner'] or '-'}  reads {row['reads']:,}  "
            f"entities {row['entities']:,}  last read {ts(row['last_read_at'])}"
        )
        for ref in row["features"]:
            click.echo(f"  {ref}")


def _usage(context: Context) -> list[Any]:
    try:
        return context.store.usage()
    except Exception:  # usage is informative: a store that cannot say leaves it out
        return []


@click.command()
@click.option("--days", default=7, show_default=True, help="The window of `reads Nd`.")
@click.option(
    "--export-log",
    is_flag=True,
    help="Move the sampled served rows (feature logging) to the warehouse table feature_log.",
)
@common
def usage(context: Context, *, as_json: bool, days: int, export_log: bool) -> None:
    """Usage history: per feature service and view version, reads, entities, last read.

    Counted by the feature server and the Python API, written every few seconds. Services
    with `logging: {sample_rate: R}` also log that share of the rows they serve; --export-log
    moves them to the warehouse table featurehouse_monitoring.feature_log.

    \b
    Examples:
      featurehouse usage --days 30 --json
      featurehouse usage --export-log
    """
    if export_log:
        moved, table = move_logged_rows(context)
        click.echo(f"feature log: moved {moved:,} row(s) to {table or '(none to move)'}", err=True)
    today = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "kind": u.kind,
            "name": u.name,
            "reads": u.reads,
            "entities": u.entities,
            "last_read_at": u.last_read_at,
            f"reads_{days}d": u.recent_reads(days, today),
        }
        for u in context.store.usage()
    ]
    if as_json:
        click.echo(to_json(rows))
        return
    header = ("KIND", "NAME", "READS", "ENTITIES", f"READS {days}D", "LAST READ")
    table = [header] + [
        (r["kind"], r["name"], f"{r['reads']:,}", f"{r['entities']:,}",
         f"{r[f'reads_{days}d']:,}", ts(r["last_read_at"]))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    click.echo(
        "\n".join(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in table
        )
    )


def service_records(context: Context) -> list[ServiceRecord]:
    """The project's services when there is a project, else what Redis holds."""
    if context.maybe_registry() is not None:
        return context.services()
    return context.store.services()


def readers(
    records: Sequence[ServiceRecord],
    usage: Sequence[UsageCount],
    view: str,
    feature: str | None = None,
    days: int = 7,
) -> list[dict[str, Any]]:
    """The services reading view version `view` (`name.vN`), or one of its features, and
    how recently (usage history)."""
    counts = {u.name: u for u in usage if u.kind == "service"}
    today = datetime.now(UTC).replace(tzinfo=None)
    found = []
    for record in records:
        views = record.extra.get("views") or [str(f.view) for f in record.refs.features]
        hits = [
            str(ref)
            for ref, at in zip(record.refs.features, views, strict=True)
            if at == view and (feature is None or ref.feature == feature)
        ]
        if hits:
            count = counts.get(record.name)
            found.append(
                {
                    "service": record.name,
                    "owner": record.owner,
                    "features": hits,
                    "reads": count.reads if count else 0,
                    f"reads_{days}d": count.recent_reads(days, today) if count else 0,
                    "last_read_at": count.last_read_at if count else None,
                }
            )
    return found


def reader_lines(found: Sequence[Mapping[str, Any]], days: int = 7) -> list[str]:
    lines = []
    for r in found:
        lines.append(
            f"  {r['service']} (owner {r['owner'] or '-'}): {r['reads']:,} reads, "
            f"{r[f'reads_{days}d']:,} in {days}d, last {ts(r['last_read_at'])}"
        )
        lines.extend(f"    {ref}" for ref in r["features"])
    return lines


@click.command()
@click.option(
    "--within", default=90, show_default=True, help="Also list dates this many days ahead."
)
@click.option("--check", is_flag=True, help="Exit 1 when a service pins a version past its date.")
@common
def deprecations(context: Context, *, as_json: bool, within: int, check: bool) -> None:
    """List view versions past (or near) their dbt `deprecation_date` that a feature service
    still pins, with how recently each is read. The feature server warns on each such read.

    \b
    Examples:
      featurehouse deprecations
      featurehouse deprecations --within 0 --check --json
    """
    records = service_records(context)
    usage = _usage(context)
    today = datetime.now(UTC).replace(tzinfo=None)
    views = {u.name: u for u in usage if u.kind == "view"}
    rows = []
    for view, date in sorted(_deprecation_dates(records).items()):
        days = (datetime.strptime(date, "%Y-%m-%d") - today).days + 1
        if days > within:
            continue
        count = views.get(view)
        rows.append(
            {
                "view": view,
                "deprecation_date": date,
                "past": days <= 0,
                "services": [r["service"] for r in readers(records, usage, view)],
                "reads_7d": count.recent_reads(7, today) if count else 0,
                "last_read_at": count.last_read_at if count else None,
            }
        )
    if as_json:
        click.echo(to_json(rows))
    else:
        click.echo(_deprecations_text(rows, within))
    if check and any(r["past"] for r in rows):
        raise SystemExit(1)


def _deprecation_dates(records: Sequence[ServiceRecord]) -> dict[str, str]:
    dates: dict[str, str] = {}
    for record in records:
        for view, date in (record.extra.get("deprecation_dates") or {}).items():
            dates[view] = str(date)[:10]
    return dates


def _deprecations_text(rows: Sequence[Mapping[str, Any]], within: int) -> str:
    if not rows:
        return f"no feature service pins a version deprecated now or within {within} days"
    lines = []
    for r in rows:
        when = "deprecated since" if r["past"] else "deprecated on"
        lines.append(
            f"{r['view']}  {when} {r['deprecation_date']}  pinned by {', '.join(r['services'])}"
            f"  reads 7d {r['reads_7d']:,}, last read {ts(r['last_read_at'])}"
        )
    return "\n".join(lines)


def move_logged_rows(context: Context, chunk: int = 1000) -> tuple[int, str | None]:
    """Move the sampled served rows (feature logging) from the online store into the
    warehouse table feature_log, chunk by chunk: appended first, then removed from the store
    (a failure in between leaves rows to append again; `log_id` tells duplicates)."""
    store, moved, table = context.store, 0, None
    while True:
        logged = store.logged_rows(chunk)
        if not logged:
            return moved, table
        rows = [
            {
                "log_id": log_id,
                "served_at": datetime.fromtimestamp(row.served_at, UTC).replace(tzinfo=None),
                "service": row.service,
                "entity": json.dumps(dict(row.entity), default=str),
                "features": json.dumps(dict(row.values), default=str),
                "statuses": json.dumps(dict(row.statuses)),
                "redis_prefix": context.prefix,
            }
            for log_id, row in logged
        ]
        table = history.append(context.project, context.target, "feature_log", rows)
        store.drop_logged([log_id for log_id, _ in logged])
        moved += len(rows)
