"""The catalog's HTML pages: the index of views, one page per view version and per feature."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from featurehouse.catalog.graph import lineage_svg
from featurehouse.lineage.render import tree_text
from featurehouse.lineage.view import ViewLineage
from featurehouse.online import ViewState
from featurehouse.project.registry import FeatureView

_OK = ("pass", "success")
_BAD = ("fail", "error", "runtime error")


@dataclass(frozen=True)
class TestStatus:
    name: str
    status: str  # pass, fail, warn, error, skipped, "not run"
    message: str = ""


@dataclass(frozen=True)
class ViewPage:
    """Everything one view version's pages show."""

    view: FeatureView
    lineage: ViewLineage | None
    lineage_problem: str | None
    tests: tuple[TestStatus, ...]
    build_status: str  # the model's status in run_results.json, or "not run"
    state: ViewState | None
    docs_href: str | None  # relative link to the dbt docs page, from the catalog root
    runs: tuple[Mapping[str, Any], ...] = ()  # its last `featurehouse run` rows (run_views)

    @property
    def file(self) -> str:
        return f"views/{self.view.ref}.html"

    def feature_file(self, feature: str) -> str:
        return f"features/{self.view.ref}/{feature}.html"


@dataclass(frozen=True)
class Site:
    title: str
    built: str  # "dbt 1.11.16, manifest generated ..."
    redis: str  # where online status came from, or why it is missing
    generated_at: datetime


def page(site: Site, title: str, body: str, depth: int) -> str:
    up = "../" * depth
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · {escape(site.title)}</title>
<link rel="stylesheet" href="{up}assets/catalog.css">
<script src="{up}assets/catalog.js"></script>
</head><body>
<header class="top"><a href="{up}index.html">{escape(site.title)}</a>
<span class="meta">{escape(site.built)} · {escape(site.redis)} ·
catalog written {site.generated_at:%Y-%m-%d %H:%M:%S} UTC</span></header>
<main>
{body}
</main></body></html>
"""


def badge(status: str) -> str:
    kind = "ok" if status in _OK else "bad" if status in _BAD else "warn"
    return f'<span class="badge {kind}">{escape(status)}</span>'


def tests_badge(tests: Sequence[TestStatus]) -> str:
    if not tests:
        return '<span class="muted">no tests</span>'
    passed = sum(t.status in _OK for t in tests)
    failed = sum(t.status in _BAD for t in tests)
    kind = "bad" if failed else "ok" if passed == len(tests) else "warn"
    return f'<span class="badge {kind}">{passed}/{len(tests)} pass</span>'


def online_text(view: FeatureView, state: ViewState | None) -> str:
    if not view.online:
        return '<span class="muted">offline only</span>'
    if state is None:
        return '<span class="badge warn">not published</span>'
    return (
        f'<span class="badge ok">published</span> {state.rows:,} entities, '
        f"synced {state.synced_at:%Y-%m-%d %H:%M}"
    )


def index_page(site: Site, views: Sequence[ViewPage], services: str = "") -> str:
    rows = []
    for item in views:
        v = item.view
        docs = f' · <a href="{escape(item.docs_href)}">dbt docs</a>' if item.docs_href else ""
        rows.append(
            f'<tr class="view-row" data-view="{escape(v.ref)}">'
            f'<td><a href="{escape(item.file)}">{escape(v.ref)}</a>'
            f"{' <span class=badge>latest</span>' if v.is_latest else ''}{docs}</td>"
            f"<td>{escape(v.entity)}</td><td>{escape(', '.join(k.name for k in v.keys))}</td>"
            f"<td>{escape(v.ttl or 'none')}</td><td>{escape(v.owner)}</td>"
            f"<td>{len(v.features)}</td><td>{tests_badge(item.tests)}</td>"
            f"<td>{online_text(v, item.state)}</td><td>{escape(v.description)}</td></tr>"
        )
    entities = sorted({item.view.entity for item in views})
    body = f"""<h1>Feature catalog</h1>
<p class="muted">{len(views)} view versions, {len(entities)} entities
({escape(", ".join(entities))}). Lineage is computed from the dbt build's compiled SQL.</p>
<table id="views"><thead><tr><th>View version</th><th>Entity</th><th>Keys</th><th>TTL</th>
<th>Owner</th><th>Features</th><th>Tests</th><th>Online</th><th>Description</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
{services}"""
    return page(site, "Feature catalog", body, 0)


def _facts(pairs: Mapping[str, Any]) -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in pairs.items())
    return f'<dl class="facts">{items}</dl>'


def _ts(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def view_page(site: Site, item: ViewPage) -> str:
    v, state = item.view, item.state
    facts = _view_facts(item)
    features = "".join(
        f'<tr><td><a href="../{escape(item.feature_file(f.name))}">{escape(f.name)}</a></td>'
        f"<td><code>{escape(f.data_type)}</code></td><td>{escape(f.online_type)}</td>"
        f"<td>{escape(f.description)}</td><td>{_sources(item, f.name)}</td></tr>"
        for f in v.features
    )
    tests = "".join(
        f"<tr><td>{escape(t.name)}</td><td>{badge(t.status)}</td><td>{escape(t.message)}</td></tr>"
        for t in item.tests
    )
    freshness = _facts(
        {
            "dbt build of the model": badge(item.build_status),
            "freshness tests": " ".join(
                badge(t.status) + " " + escape(t.name) for t in item.tests if "fresh" in t.name
            )
            or '<span class="muted">none</span>',
            "online as of": escape(_ts(state.as_of) if state else "-"),
            "newest row served (watermark)": escape(_ts(state.watermark) if state else "-"),
        }
    )
    online = _facts(
        {
            "status": online_text(v, state),
            "last sync": escape(_ts(state.synced_at) if state else "-"),
            "rows (entities)": escape(f"{state.rows:,}" if state else "-"),
            "generation": escape(str(state.generation) if state else "-"),
            "mode": escape(state.mode if state else "-"),
        }
    )
    body = f"""<h1>{escape(v.ref)}</h1><p>{escape(v.description)}</p>
{facts}
<h2>Features ({len(v.features)})</h2>
<table id="features"><thead><tr><th>Feature</th><th>Type</th><th>Online type</th>
<th>Description</th><th>Computed from</th></tr></thead><tbody>{features}</tbody></table>
<h2>Tests ({len(item.tests)})</h2>
<table id="tests"><thead><tr><th>Test</th><th>Last status</th><th>Message</th></tr></thead>
<tbody>{tests}</tbody></table>
<h2>Freshness</h2>{freshness}
<h2>Online</h2>{online}
<h2>Last runs</h2>{_runs(item)}"""
    return page(site, v.ref, body, 1)


def _published(published: bool) -> str:
    return (
        '<span class="badge ok">published</span>'
        if published
        else ('<span class="badge bad">not published</span>')
    )


def _runs(item: ViewPage) -> str:
    """The view's rows of the last `featurehouse run`s (the run_views table)."""
    if not item.runs:
        return '<p class="muted">no `featurehouse run` recorded for this view version</p>'
    rows = "".join(
        f"<tr><td>{escape(_ts(r.get('recorded_at')))}</td><td>{escape(_ts(r.get('as_of')))}</td>"
        f"<td>{badge(str(r.get('build_status')))}</td>"
        f"<td>{r.get('tests_passed') or 0} passed, {r.get('tests_failed') or 0} failed</td>"
        f"<td>{_published(bool(r.get('published')))}</td>"
        f"<td>{escape(str(r.get('generation') or '-'))}</td>"
        f"<td>{escape(str(r.get('problems') or ''))}</td></tr>"
        for r in item.runs
    )
    return (
        '<table id="runs"><thead><tr><th>Run ended</th><th>As of</th><th>Build</th>'
        "<th>Tests</th><th>Publish</th><th>Generation</th><th>Why not</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _view_facts(item: ViewPage) -> str:
    v = item.view
    docs = (
        f'<a href="../{escape(item.docs_href)}">{escape(v.unique_id)}</a>'
        if item.docs_href
        else escape(v.unique_id)
    )
    return _facts(
        {
            "entity": escape(v.entity),
            "keys": escape(", ".join(k.name for k in v.keys)),
            "event timestamp": escape(v.event_timestamp),
            "created timestamp": escape(v.created_timestamp or "-"),
            "TTL": escape(v.ttl or "none"),
            "owner": escape(v.owner),
            "relation": escape(str(v.relation)),
            "dbt docs": docs,
            "version": escape(f"v{v.version} (latest v{v.latest_version})"),
            "deprecation date": escape(str(v.deprecation_date or "-")),
        }
    )


def _sources(item: ViewPage, feature: str) -> str:
    if item.lineage is None:
        return '<span class="muted">-</span>'
    return "<br>".join(f"<code>{escape(s)}</code>" for s in item.lineage.sources(feature))


def feature_page(
    site: Site, item: ViewPage, feature: str, docs: Mapping[str, str], read_by: str = ""
) -> str:
    v = item.view
    spec = v.feature(feature)
    if item.lineage is None:
        graph = f'<p class="badge bad">no lineage: {escape(item.lineage_problem or "")}</p>'
        tree = ""
    else:
        svg = lineage_svg(item.lineage, [feature], lambda uid: docs.get(uid))
        graph = f"""<div class="legend"><span>solid: value</span><span>dashed: join key
(orange), filter (red), group by (purple), partition by (teal), order by (blue)</span>
<span>click a column to follow it; wheel to zoom, drag to pan</span></div>
<div class="graph-wrap"><div class="graph-tools"><button class="reset">reset</button></div>
{svg}</div><div id="details" class="muted"></div>"""
        tree_lines = tree_text(item.lineage.tree(feature), f"{v.ref}:{feature}")
        tree = f'<h2>Lineage tree</h2><pre class="tree">{escape(tree_lines)}</pre>'
    body = f"""<p><a href="../../{escape(item.file)}">{escape(v.ref)}</a></p>
<h1>{escape(feature)}</h1><p>{escape(spec.description)}</p>
{
        _facts(
            {
                "type": f"<code>{escape(spec.data_type)}</code> ({escape(spec.online_type)})",
                "view": escape(v.ref),
                "entity": escape(v.entity),
                "TTL": escape(v.ttl or "none"),
            }
        )
    }
{read_by}
<h2>Lineage graph</h2>
{graph}
{tree}"""
    return page(site, f"{v.ref}:{feature}", body, 2)
