"""`featurehouse lineage` (the columns a feature is computed from) and `featurehouse impact`
(what depends on a column), as text, JSON, Mermaid or DOT."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import click

from featurehouse.api.context import Context
from featurehouse.cli.output import to_json
from featurehouse.cli.services import reader_lines, readers, service_records
from featurehouse.cli.shared import common
from featurehouse.errors import FeaturehouseError
from featurehouse.lineage import Impact, ViewLineage
from featurehouse.lineage import impact as find_impact
from featurehouse.lineage import render as lineage_render
from featurehouse.online import OnlineStore, ViewState
from featurehouse.project.registry import FeatureView
from featurehouse.refs import parse_ref

FORMATS = ("text", "json", "mermaid", "dot")


@click.command()
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
    view_ref, feature = parse_ref(ref.strip())
    found = context.view_lineage(str(view_ref))
    features = [feature] if feature else found.feature_names()
    output = lineage_output(found, features, "json" if as_json else fmt or "text")
    served = _served(context, found.view, feature) if fmt is None else None
    if as_json:
        assert isinstance(output, dict)
        click.echo(to_json({**output, "feature_services": served or []}))
    elif served:
        click.echo(f"{output}\nread by feature services (dbt exposures):")
        click.echo("\n".join(reader_lines(served)))
    else:
        click.echo(output)


def _served(context: Context, view: str, feature: str | None) -> list[dict[str, Any]]:
    """The services (exposures) reading the view version or feature, and how recently; the
    last step of the lineage, from raw column to the model served."""
    try:
        return readers(service_records(context), _usage_or_none(context), view, feature)
    except FeaturehouseError:
        return []


def _usage_or_none(context: Context) -> list[Any]:
    try:
        return context.store.usage()
    except FeaturehouseError:
        return []


@click.command()
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
    entries, problem = online_entries(found.views, context.store)
    served = _impact_services(context, found)
    if as_json:
        click.echo(to_json({**impact_dict(found, entries, problem), "feature_services": served}))
    else:
        text = impact_text(found, entries, problem)
        click.echo(f"{text}\nfeature services ({len(served)}):")
        if served:
            click.echo("\n".join(reader_lines(served)))


def _impact_services(context: Context, found: Impact) -> list[dict[str, Any]]:
    """Per service, the affected features it reads and its usage."""
    records, usage = service_records(context), _usage_or_none(context)
    merged: dict[str, dict[str, Any]] = {}
    for hit in found.features:
        for row in readers(records, usage, hit.view.ref, hit.feature):
            entry = merged.setdefault(row["service"], {**row, "features": []})
            entry["features"] += [f for f in row["features"] if f not in entry["features"]]
    return list(merged.values())


def lineage_output(lineage: ViewLineage, features: Sequence[str], fmt: str) -> str | dict:
    """The lineage of `features` in `fmt` (a dict for json, else text)."""
    for name in features:
        lineage.tree(name)  # one clear error for an unknown feature
    if fmt == "json":
        return lineage_render.lineage_dict(lineage, features)
    if fmt == "mermaid":
        return lineage_render.mermaid(lineage, features)
    if fmt == "dot":
        return lineage_render.dot(lineage, features)
    return lineage_render.lineage_text(lineage, features)


@dataclass(frozen=True)
class OnlineEntry:
    """Where a view version lives in Redis, and what is published there now."""

    view: str
    view_id: str
    meta_key: str
    data_keys: str  # a pattern: `<prefix>:d:<view>:<vN>:g<generation>:{<entity>:*}:*`
    state: ViewState | None


def online_entries(
    views: Sequence[FeatureView], store: OnlineStore
) -> tuple[list[OnlineEntry], str | None]:
    """Redis keys of the online views among `views`; (entries, why Redis was not read)."""
    try:
        states = {(s.schema.view, s.schema.version): s for s in store.views()}
        problem = None
    except FeaturehouseError as exc:
        states, problem = {}, str(exc)
    entries = []
    for view in views:
        if not view.online:
            continue
        state = states.get((view.name, view.version))
        generation = state.generation if state else None
        where = store.locate(view.name, view.version, view.entity, generation)
        entries.append(OnlineEntry(view.ref, where.view_id, where.metadata, where.data, state))
    return entries, problem


def impact_dict(
    found: Impact, entries: Sequence[OnlineEntry], redis_problem: str | None
) -> dict[str, Any]:
    return {
        "target": found.target,
        "columns": [c.key for c in found.columns],
        "features": [
            {"view": h.view.ref, "feature": h.feature, "roles": list(h.roles)}
            for h in found.features
        ],
        "view_versions": [
            {
                "view": v.ref,
                "online": v.online,
                "other_columns": list(found.view_columns.get(v.ref, ())),
            }
            for v in found.views
        ],
        "datasets": {k: list(v) for k, v in found.datasets.items()},
        "models": {k: list(v) for k, v in found.models.items()},
        "online": [
            {
                "view": e.view,
                "view_id": e.view_id,
                "meta_key": e.meta_key,
                "data_keys": e.data_keys,
                "published": e.state is not None,
                "generation": e.state.generation if e.state else None,
                "rows": e.state.rows if e.state else None,
                "synced_at": e.state.synced_at if e.state else None,
            }
            for e in entries
        ],
        "redis_error": redis_problem,
    }


def impact_text(found: Impact, entries: Sequence[OnlineEntry], redis_problem: str | None) -> str:
    shown = ", ".join(c.column for c in found.columns[:8])
    more = f" (+{len(found.columns) - 8})" if len(found.columns) > 8 else ""
    lines = [f"impact of {found.target} (columns: {shown or 'none known'}{more})"]
    lines.append(f"features ({len(found.features)}):")
    width = max((len(f"{h.view.ref}:{h.feature}") for h in found.features), default=0)
    for hit in found.features:
        lines.append(f"  {hit.view.ref + ':' + hit.feature:<{width}}  {', '.join(hit.roles)}")
    lines.append(f"view versions ({len(found.views)}):")
    for view in found.views:
        other = found.view_columns.get(view.ref)
        also = f"  (also {', '.join(other)})" if other else ""
        lines.append(f"  {view.ref}{'' if view.online else '  (offline only)'}{also}")
    lines.append(f"training datasets ({len(found.datasets)}):")
    lines.extend(f"  {k}: {', '.join(v)}" for k, v in found.datasets.items())
    lines.append(f"other models ({len(found.models)}):")
    lines.extend(f"  {k}: {', '.join(v)}" for k, v in found.models.items())
    lines.extend(_online_lines(entries, redis_problem))
    return "\n".join(lines)


def _online_lines(entries: Sequence[OnlineEntry], redis_problem: str | None) -> list[str]:
    lines = [f"online keys ({len(entries)} view versions):"]
    if redis_problem:
        lines.append(f"  (Redis not read: {redis_problem})")
    for entry in entries:
        state = entry.state
        status = (
            f"published: generation {state.generation}, {state.rows:,} entities, "
            f"synced {state.synced_at:%Y-%m-%d %H:%M:%S}"
            if state
            else "not published"
        )
        lines.append(f"  {entry.view}: {status}")
        lines.append(f"    metadata  {entry.meta_key}")
        lines.append(f"    data      {entry.data_keys}")
    return lines
