"""What the online store keeps to decode a view version (`ViewSchema`), built from the
manifest's contract; the sync and the stream consumer publish with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from featurehouse.online import FeatureSpec, ViewSchema
from featurehouse.project.registry import FeatureView


def view_schema(view: FeatureView, lineage: Mapping[str, Any] | None = None) -> ViewSchema:
    """What Redis stores to decode the view version (built from the manifest's contract)."""
    extra: dict[str, Any] = {
        "unique_id": view.unique_id,
        "relation": str(view.relation),
        "event_timestamp": view.event_timestamp,
        "created_timestamp": view.created_timestamp,
        "ttl": view.ttl,
        "deprecation_date": view.deprecation_date,
    }
    if lineage is not None:
        extra["lineage"] = dict(lineage)
    return ViewSchema(
        view=view.name,
        version=view.version,
        entity=view.entity,
        keys=tuple(k.name for k in view.keys),
        key_types=tuple(k.online_type for k in view.keys),
        features=tuple(FeatureSpec(f.name, f.online_type) for f in view.features),
        ttl_seconds=view.ttl_seconds,
        description=view.description,
        owner=view.owner,
        extra=extra,
        created=view.created_timestamp is not None,
    )
