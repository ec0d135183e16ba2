"""`featurehouse catalog`: write (and serve) the static feature catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from featurehouse.api.context import Context
from featurehouse.catalog import build_catalog
from featurehouse.catalog import serve as serve_catalog
from featurehouse.catalog.services import ServicePage
from featurehouse.cli.output import to_json
from featurehouse.cli.shared import common
from featurehouse.errors import FeaturehouseError
from featurehouse.online import OnlineStore, ViewState
from featurehouse.project.services import load_services
from featurehouse.warehouse import runs as run_records


@click.command()
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
    states, redis = online_states(context.store, context.redis_shown, context.prefix)
    services = service_pages(context)
    done = build_catalog(
        out, context.registry, context.artifacts, context.lineage, states, redis, services,
        last_runs(context),
    )  # fmt: skip
    summary = {"out": str(out), "views": done.views, "pages": done.pages}
    click.echo(to_json(summary) if as_json else f"wrote {done.pages} pages ({done.views} views)")
    if serve_it:
        server = serve_catalog(out, port)
        click.echo(f"serving {out} at http://127.0.0.1:{server.server_port}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.server_close()


def service_pages(context: Context) -> list[ServicePage]:
    """The project's feature services, each with its usage when Redis answers."""
    try:
        usage = {u.name: u for u in context.store.usage() if u.kind == "service"}
    except FeaturehouseError:
        usage = {}
    found = load_services(context.artifacts.manifest, context.registry)
    return [ServicePage(s, usage.get(s.name)) for s in found]


def last_runs(context: Context) -> dict[str, list[Any]]:
    """Per view ref, its rows of the last runs; none when no run was recorded or the
    warehouse cannot be read now (the catalog is written without them)."""
    try:
        return run_records.per_view(run_records.recent(context.project, context.target, 50))
    except FeaturehouseError as exc:
        click.echo(f"WARNING: no run records in the catalog: {exc}", err=True)
        return {}


def online_states(store: OnlineStore, shown: str, prefix: str) -> tuple[list[ViewState], str]:
    """What Redis serves, and a note saying where from (or why nothing could be read)."""
    try:
        return store.views(), f"online status from {shown} (prefix {prefix!r})"
    except FeaturehouseError as exc:
        return [], f"no online status: {exc}"
