"""Plain data and text for the CLI's output (JSON-able dicts, aligned tables)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from featurehouse.lineage import ViewLineage
from featurehouse.lineage.render import tree_dict
from featurehouse.online import ReadResult, ViewSchema, ViewState
from featurehouse.project.registry import FeatureView, Registry
from featurehouse.sync.materialize import ViewSummary


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=_default, ensure_ascii=False)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _ts(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(sep=" ", timespec="seconds")


def _ref(view: str, version: int | None) -> str:
    return view if version is None else f"{view}.v{version}"


def summary_dict(summary: ViewSummary) -> dict[str, Any]:
    return {
        "view": summary.view,
        "mode": summary.mode,
        "as_of": summary.as_of,
        "rows_read": summary.rows_read,
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
        lines.append(
            f"  {s.view:<36} {s.mode:<11} as of {_ts(s.as_of)}  "
            f"{s.entities_written:>8,} entities  skipped: {skipped}  "
            f"generation {s.generation}  {s.seconds:.1f}s"
        )
        lines.extend(f"    note: {note}" for note in s.notes)
    return "\n".join(lines)


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
                "view": _ref(result.view, result.version),
                "keys": {
                    k: _key(entity[k], t)
                    for k, t in zip(schema.keys, schema.key_types, strict=True)
                },
                "event_at": result.event_at[i],
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
        lines.append(f"{row['view']}  {keys}  event_at {_ts(row['event_at'])}")
        width = max((len(n) for n in row["features"]), default=0)
        for name, cell in row["features"].items():
            value = "null" if cell["value"] is None else _cell(cell["value"])
            lines.append(f"  {name:<{width}}  {value:<24}  {cell['status']}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return _ts(value)
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
                _ref(name, version),
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
            _ts(r["synced_at"]),
            _ts(r["as_of"]),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    )


def describe_dict(
    view: FeatureView | None,
    state: ViewState | None,
    lineage: tuple[str, ViewLineage | str] | None = None,
) -> dict[str, Any]:
    """The registry's declaration of a view version (else Redis's schema), its sync state
    and, when given, its lineage: (where it was read from, the lineage or why there is none)."""
    if view is not None:
        info = _declared(view)
    elif state is not None:
        s = state.schema
        info = {
            "view": _ref(s.view, s.version), "model": s.view, "version": s.version,
            "entity": s.entity, "keys": list(s.keys), "ttl_seconds": s.ttl_seconds,
            "owner": s.owner, "description": s.description,
            "features": [{"name": f.name, "online_type": f.type} for f in s.features],
        }  # fmt: skip
    else:
        info = {"features": []}
    if lineage is not None:
        info["lineage"] = lineage_summary(*lineage)
    info["online_state"] = None if state is None else {
        "generation": state.generation, "rows": state.rows, "synced_at": state.synced_at,
        "as_of": state.as_of, "clock": state.clock, "watermark": state.watermark,
        "mode": state.mode, "latest": state.is_latest,
    }  # fmt: skip
    return info


def _declared(view: FeatureView) -> dict[str, Any]:
    features = [
        {"name": f.name, "data_type": f.data_type, "online_type": f.online_type,
         "description": f.description}
        for f in view.features
    ]  # fmt: skip
    return {
        "view": view.ref, "model": view.name, "version": view.version,
        "latest_version": view.latest_version, "relation": str(view.relation),
        "entity": view.entity, "keys": [k.name for k in view.keys],
        "event_timestamp": view.event_timestamp, "created_timestamp": view.created_timestamp,
        "ttl": view.ttl, "online": view.online, "owner": view.owner,
        "description": view.description, "deprecation_date": view.deprecation_date,
        "features": features,
    }  # fmt: skip


def lineage_summary(origin: str, lineage: ViewLineage | str) -> dict[str, Any]:
    """Per feature: the seed/source columns it comes from, unresolved parts, the full tree."""
    if isinstance(lineage, str):
        return {"from": origin, "error": lineage, "features": {}}
    return {
        "from": origin,
        "features": {
            name: {
                "sources": lineage.sources(name),
                "unresolved": lineage.unresolved(name),
                "tree": tree_dict(lineage.tree(name)),
            }
            for name in lineage.feature_names()
        },
    }


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
            f"{_ts(state['as_of'])} ({state['clock']}), synced {_ts(state['synced_at'])}, "
            f"watermark {_ts(state['watermark'])}"
        )
    return "\n".join(lines)
