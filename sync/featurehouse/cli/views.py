"""`featurehouse get`, `list`, `describe` and `delete`: one view version or all of them, as the
project declares them and the online store serves them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import click

from featurehouse.api.context import Context
from featurehouse.cli.output import to_json, ts
from featurehouse.cli.services import service_get
from featurehouse.cli.shared import as_of as as_of_option
from featurehouse.cli.shared import common
from featurehouse.online import ReadRequest, ReadResult, ViewSchema, ViewState
from featurehouse.online.keys import parse_entity
from featurehouse.project.registry import Registry
from featurehouse.refs import format_view


@click.command()
@click.argument("view", metavar="VIEW[.vN]")
@click.argument("keys", nargs=-1, metavar="KEY...")
@click.option("--features", "-f", metavar="a,b", help="Only these features (comma-separated).")
@click.option("--service", "-s", metavar="NAME", help="A feature service's features (no VIEW).")
@click.option(
    "--now",
    callback=as_of_option,
    metavar="TS",
    help="Answer at this UTC time (not before the sync's as-of) [default: the store's clock: "
    "the sync's as-of for a replay, else the current time].",
)
@common
def get(
    context: Context,
    *,
    as_json: bool,
    view: str,
    keys: Sequence[str],
    features: str | None,
    service: str | None,
    now: datetime | None,
) -> None:
    """Read the served features of one or more entities of VIEW (or of a feature service).

    Each KEY names one entity. A view with one key takes KEY verbatim as its value, any
    text (`42`, `a=b,c`); for an int64 key `customer_id=42` works too. A composite key: its
    values in key order, comma separated (`42,de`), or `name=value` pairs
    (`customer_id=42,country_code=de`); a backslash escapes a `,` or `=` inside a value.
    Each entity answers `present` (its values), `expired` (its latest row is older than the
    TTL: no values, its event time) or `not_found` (no row), at the clock shown.

    \b
    Examples:
      featurehouse get feat_customer__orders 1151 1152
      featurehouse get feat_customer__orders.v1 1151 --features count_orders_30d --json
      featurehouse get feat_customer__orders 1151 --now 2026-06-01
      featurehouse get --service churn_model 1151 1152
    """
    if service is not None:
        if features:
            raise click.UsageError("pass --features or --service, not both")
        service_get(context, service, (view, *keys), as_json=as_json, now=now)
        return
    if not keys:
        raise click.UsageError("give at least one KEY after VIEW (or --service NAME KEY...)")
    state = context.online_view(view)
    schema = state.schema
    entity_rows = [parse_entity(key, schema.keys, schema.key_types) for key in keys]
    names = tuple(n.strip() for n in features.split(",") if n.strip()) if features else None
    request = ReadRequest(view=schema.view, version=schema.version, features=names)
    result = context.store.read([request], entity_rows, now=now)[0]
    rows = get_rows(schema, entity_rows, result)
    click.echo(to_json(rows) if as_json else get_text(state, rows))


@click.command(name="list")
@common
def list_views(context: Context, *, as_json: bool) -> None:
    """List feature views: every version in the dbt project and what Redis serves.

    \b
    Example:
      featurehouse list --json
    """
    rows = list_rows(context.maybe_registry(), context.store.views())
    click.echo(to_json(rows) if as_json else list_text(rows))


@click.command()
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


@click.command()
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
    ref = format_view(state.schema.view, state.schema.version)
    if as_json:
        click.echo(to_json({"view": ref, "deleted_keys": removed}))
    else:
        click.echo(f"deleted {ref} from {context.redis_shown} ({removed} keys)")


def get_rows(
    schema: ViewSchema, entity_rows: Sequence[Mapping[str, Any]], result: ReadResult
) -> list[dict[str, Any]]:
    """One dict per entity: keys, event timestamp, and per feature its value and status."""
    rows = []
    for i, entity in enumerate(entity_rows):
        features = {
            name: {"value": result.values[i][j], "status": result.statuses[i][j]}
            for j, name in enumerate(result.features)
        }
        rows.append(
            {
                "view": format_view(result.view, result.version),
                "keys": {
                    k: _key(entity[k], t)
                    for k, t in zip(schema.keys, schema.key_types, strict=True)
                },
                "event_at": result.event_at[i],
                "clock": result.clock,
                "features": features,
            }
        )
    return rows


def _key(value: Any, key_type: str) -> Any:
    if key_type == "int64" and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def get_text(state: ViewState, rows: Sequence[Mapping[str, Any]]) -> str:
    lines: list[str] = []
    for row in rows:
        keys = ", ".join(f"{k}={v}" for k, v in row["keys"].items())
        lines.append(
            f"{row['view']}  {keys}  event_at {_time(row['event_at'])}  "
            f"(at {_time(row.get('clock'))})"
        )
        width = max((len(n) for n in row["features"]), default=0)
        for name, cell in row["features"].items():
            value = "null" if cell["value"] is None else _cell(cell["value"])
            lines.append(f"  {name:<{width}}  {value:<24}  {cell['status']}")
    return "\n".join(lines)


def _time(value: datetime | None) -> str:
    """A timestamp as served: to the microsecond when it has them."""
    return "-" if value is None else value.isoformat(sep=" ")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same double
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, list):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return str(value)


def list_rows(registry: Registry | None, states: Sequence[ViewState]) -> list[dict[str, Any]]:
    """Every view version the project declares or Redis serves, with its sync state."""
    published = {(s.schema.view, s.schema.version): s for s in states}
    rows = []
    for view in registry.views if registry is not None else ():
        state = published.pop((view.name, view.version), None)
        rows.append(
            _list_row(
                view.ref,
                view.entity,
                [k.name for k in view.keys],
                len(view.features),
                view.ttl,
                view.online,
                view.is_latest,
                state,
            )
        )
    for (name, version), state in sorted(published.items(), key=lambda kv: str(kv[0])):
        ttl = state.schema.ttl_seconds
        rows.append(
            _list_row(
                format_view(name, version),
                state.schema.entity,
                list(state.schema.keys),
                len(state.schema.features),
                None if ttl is None else f"{ttl}s",
                True,
                state.is_latest,
                state,
            )
        )
    return rows


def _list_row(
    ref: str,
    entity: str,
    keys: list[str],
    n_features: int,
    ttl: str | None,
    online: bool,
    latest: bool,
    state: ViewState | None,
) -> dict[str, Any]:
    return {
        "view": ref,
        "entity": entity,
        "keys": keys,
        "features": n_features,
        "ttl": ttl,
        "online": online,
        "latest": latest,
        "published": state is not None,
        "rows": state.rows if state else None,
        "synced_at": state.synced_at if state else None,
        "as_of": state.as_of if state else None,
        "generation": state.generation if state else None,
    }


def list_text(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no feature views (no dbt project here and nothing published)"
    header = (
        "VIEW",
        "ENTITY",
        "KEYS",
        "FEATURES",
        "TTL",
        "ONLINE",
        "LATEST",
        "ROWS",
        "SYNCED",
        "AS OF",
    )
    table = [header] + [
        (
            r["view"],
            r["entity"],
            ",".join(r["keys"]),
            str(r["features"]),
            r["ttl"] or "-",
            "yes" if r["online"] else "no",
            "yes" if r["latest"] else "",
            "-" if r["rows"] is None else f"{r['rows']:,}",
            ts(r["synced_at"]),
            ts(r["as_of"]),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    )


def _lineage_lines(summary: Mapping[str, Any]) -> list[str]:
    if summary.get("error"):
        return [f"  lineage: {summary['error']}"]
    lines = [f"  lineage (from {summary['from']}; `featurehouse lineage VIEW:FEATURE` for trees):"]
    for name, item in summary["features"].items():
        lines.append(f"    {name} <- {', '.join(item['sources']) or 'no source columns'}")
        lines.extend(f"      unresolved: {u}" for u in item["unresolved"])
    return lines


def describe_text(info: Mapping[str, Any]) -> str:
    lines = [f"{info['view']}: {info.get('description') or ''}".rstrip(": ")]
    for key in (
        "relation",
        "entity",
        "keys",
        "event_timestamp",
        "created_timestamp",
        "ttl",
        "ttl_seconds",
        "online",
        "owner",
        "latest_version",
        "deprecation_date",
    ):
        if key in info:
            value = info[key]
            shown = ", ".join(value) if isinstance(value, list) else value
            lines.append(f"  {key + ':':<19} {'-' if shown is None else shown}")
    lines.append("  features:")
    width = max((len(f["name"]) for f in info["features"]), default=0)
    for f in info["features"]:
        lines.append(f"    {f['name']:<{width}}  {f['online_type']:<14} {f.get('description', '')}")
    if "lineage" in info:
        lines.extend(_lineage_lines(info["lineage"]))
    state = info["online_state"]
    if state is None:
        lines.append("  online: not published")
    else:
        lines.append(
            f"  online: generation {state['generation']}, {state['rows']:,} entities, as of "
            f"{ts(state['as_of'])} ({state['clock']}), synced {ts(state['synced_at'])}, "
            f"watermark {ts(state['watermark'])}"
        )
    return "\n".join(lines)
