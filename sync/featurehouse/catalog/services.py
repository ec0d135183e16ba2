"""The catalog's feature services: a table on the index, a page per service (its features,
the view versions it pins, deprecations, usage) and, on each feature page, who reads it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from featurehouse.online.usage import UsageCount
from featurehouse.project.registry import FeatureView
from featurehouse.project.services import FeatureService


@dataclass(frozen=True)
class ServicePage:
    service: FeatureService
    usage: UsageCount | None  # from the online store's usage history, when reachable

    @property
    def file(self) -> str:
        return f"services/{self.service.name}.html"


def _last(usage: UsageCount | None) -> str:
    if usage is None or usage.last_read_at is None:
        return '<span class="muted">never read</span>'
    return f"{usage.reads:,} reads, last {usage.last_read_at:%Y-%m-%d %H:%M}"


def _deprecated(view: FeatureView, today: str) -> str:
    date = str(view.deprecation_date or "")[:10]
    if not date:
        return ""
    kind = "bad" if date <= today else "warn"
    word = "deprecated since" if date <= today else "deprecated on"
    return f' <span class="badge {kind}">{word} {escape(date)}</span>'


def services_table(pages: Sequence[ServicePage], today: datetime) -> str:
    """The index's section: every service, its owner, the versions it pins, its usage."""
    day = f"{today:%Y-%m-%d}"
    rows = []
    for item in pages:
        s = item.service
        views = dict.fromkeys(s.views)
        pinned = "<br>".join(escape(v.ref) + _deprecated(v, day) for v in views)
        rows.append(
            f'<tr class="service-row" data-service="{escape(s.name)}">'
            f'<td><a href="{escape(item.file)}">{escape(s.name)}</a></td>'
            f"<td>{escape(s.owner)}</td><td>{escape(s.maturity or '-')}</td>"
            f"<td>{len(s.features)}</td><td>{pinned}</td><td>{_last(item.usage)}</td>"
            f"<td>{escape(s.description)}</td></tr>"
        )
    return f"""<h2>Feature services ({len(pages)})</h2>
<p class="muted">dbt exposures of type ml with <code>meta.feature_service</code>: the features a
model reads, at the versions it was trained on.</p>
<table id="services"><thead><tr><th>Service</th><th>Owner</th><th>Maturity</th>
<th>Features</th><th>View versions</th><th>Usage</th><th>Description</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>"""


def service_body(
    item: ServicePage, feature_files: Mapping[tuple[str, str], str], today: datetime
) -> str:
    """A service's page body; links to feature pages are relative to services/."""
    s, day = item.service, f"{today:%Y-%m-%d}"
    rows = []
    for ref, column, view in zip(s.features, s.refs.columns(), s.views, strict=True):
        target = feature_files.get((view.ref, ref.feature))
        name = escape(str(ref))
        link = f'<a href="../{escape(target)}">{name}</a>' if target else name
        rows.append(
            f"<tr><td>{link}</td><td><code>{escape(column)}</code></td>"
            f"<td>{escape(view.ref)}{_deprecated(view, day)}</td></tr>"
        )
    usage = item.usage
    facts = {
        "exposure": escape(s.unique_id),
        "owner": escape(
            " ".join(p for p in (s.owner, f"<{s.owner_email}>" if s.owner_email else "") if p)
        ),
        "maturity": escape(s.maturity or "-"),
        "defined in": escape(s.path),
        "usage": _last(usage),
        "entities served": escape(f"{usage.entities:,}" if usage else "0"),
        "feature logging": escape(
            f"{s.sample_rate:.0%} of served rows" if s.sample_rate else "off"
        ),
    }
    items = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in facts.items())
    return f"""<h1>{escape(s.label or s.name)}</h1><p>{escape(s.description)}</p>
<dl class="facts">{items}</dl>
<h2>Features ({len(s.features)})</h2>
<table id="service-features"><thead><tr><th>Feature</th><th>Column</th><th>View version</th>
</tr></thead><tbody>{"".join(rows)}</tbody></table>"""


def readers(pages: Sequence[ServicePage], view: FeatureView, feature: str) -> str:
    """A feature page's section: the services reading this feature of this version."""
    found = [p for p in pages if p.service.reads(view, feature)]
    if not found:
        return '<h2>Read by</h2><p class="muted">no feature service reads it</p>'
    items = "".join(
        f'<li class="reader"><a href="../../{escape(p.file)}">{escape(p.service.name)}</a> '
        f"({escape(p.service.owner)}): {_last(p.usage)}</li>"
        for p in found
    )
    return f"<h2>Read by</h2><ul>{items}</ul>"
