"""The static feature catalog: HTML pages, inline SVG lineage graphs and a small script.

`build_catalog` writes a folder that opens from disk (no CDN, no external requests): an
index of every view version, a page per version and per feature. `serve` serves it locally.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from featurehouse.catalog.pages import (
    Site,
    TestStatus,
    ViewPage,
    feature_page,
    index_page,
    page,
    view_page,
)
from featurehouse.catalog.services import ServicePage, readers, service_body, services_table
from featurehouse.errors import FeaturehouseError
from featurehouse.lineage import ProjectLineage, ViewLineage, view_lineage
from featurehouse.online import ViewState
from featurehouse.project.manifest import Artifacts
from featurehouse.project.registry import FeatureView, Registry

STATIC = Path(__file__).with_name("static")


@dataclass(frozen=True)
class CatalogSummary:
    directory: Path
    views: int
    pages: int


def build_catalog(
    out: Path,
    registry: Registry,
    artifacts: Artifacts,
    lineage: ProjectLineage,
    states: Sequence[ViewState],
    redis: str,
    services: Sequence[ServicePage] = (),
    runs: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> CatalogSummary:
    """Write the catalog into `out` (created; files of an earlier catalog are replaced);
    `runs`: per view ref, its last `featurehouse run` rows."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "assets").mkdir(exist_ok=True)
    for name in ("catalog.css", "catalog.js"):
        shutil.copyfile(STATIC / name, out / "assets" / name)
    manifest = artifacts.manifest
    site = Site(
        title="Featurehouse",
        built=f"dbt {manifest.dbt_version} ({manifest.adapter_type}), "
        f"manifest of {manifest.generated_at[:19].replace('T', ' ')}",
        redis=redis,
        generated_at=datetime.now(UTC),
    )
    docs = _docs_links(out, artifacts, lineage)
    items = [
        replace(
            _view_page(v, artifacts, lineage, states, docs), runs=tuple((runs or {}).get(v.ref, ()))
        )
        for v in registry.views
    ]
    section = services_table(services, site.generated_at)
    written = [_write(out / "index.html", index_page(site, items, section))]
    files = {(i.view.ref, f.name): i.feature_file(f.name) for i in items for f in i.view.features}
    for service in services:
        body = service_body(service, files, site.generated_at)
        written.append(_write(out / service.file, page(site, service.service.name, body, 1)))
    for item in items:
        written.append(_write(out / item.file, view_page(site, item)))
        deep = {uid: f"../../{href}" for uid, href in docs.items()}
        for feature in item.view.features:
            read_by = readers(services, item.view, feature.name)
            html = feature_page(site, item, feature.name, deep, read_by)
            written.append(_write(out / item.feature_file(feature.name), html))
    return CatalogSummary(out, len(items), len(written))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _docs_links(out: Path, artifacts: Artifacts, lineage: ProjectLineage) -> dict[str, str]:
    """unique_id -> dbt docs page, relative to the catalog root (`dbt docs generate`)."""
    index = artifacts.target_dir / "index.html"
    relative = Path(os.path.relpath(index, out.resolve())).as_posix()
    kinds = {"model": "model", "seed": "seed", "snapshot": "snapshot", "source": "source"}
    return {
        uid: f"{relative}#!/{kinds[info.resource_type]}/{uid}"
        for uid, info in lineage.nodes.items()
        if info.resource_type in kinds
    }


def _view_page(
    view: FeatureView,
    artifacts: Artifacts,
    lineage: ProjectLineage,
    states: Sequence[ViewState],
    docs: dict[str, str],
) -> ViewPage:
    found: ViewLineage | None = None
    problem = None
    try:
        found = view_lineage(lineage, view)
    except FeaturehouseError as exc:
        problem = str(exc)
    results = artifacts.run_results.results if artifacts.run_results else {}
    tests = tuple(
        TestStatus(
            name=test.name,
            status=results[test.unique_id].status if test.unique_id in results else "not run",
            message=(results[test.unique_id].message if test.unique_id in results else "") or "",
        )
        for test in artifacts.manifest.tests_of({view.unique_id})
    )
    build = results.get(view.unique_id)
    state = next(
        (s for s in states if (s.schema.view, s.schema.version) == (view.name, view.version)),
        None,
    )
    return ViewPage(
        view=view,
        lineage=found,
        lineage_problem=problem,
        tests=tests,
        build_status=build.status if build else "not run",
        state=state,
        docs_href=docs.get(view.unique_id),
    )


def serve(directory: Path, port: int, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """An HTTP server for the catalog folder (call `serve_forever()` on it)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    return http.server.ThreadingHTTPServer((host, port), handler)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return
