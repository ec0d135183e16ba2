"""`describe`: one view version as the project declares it (else as the store holds it), its
sync state and its lineage, as a JSON-able dict (the Python API's and `featurehouse describe`'s)."""

from __future__ import annotations

from typing import Any

from featurehouse.lineage import ViewLineage
from featurehouse.lineage.render import tree_dict
from featurehouse.online import ViewState
from featurehouse.project.registry import FeatureView
from featurehouse.refs import format_view


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
            "view": format_view(s.view, s.version), "model": s.view, "version": s.version,
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
