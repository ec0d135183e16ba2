"""dbt exposures as the manifest holds them: what uses the project's nodes downstream."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Exposure:
    """A dbt exposure: what uses the project's nodes downstream (a dashboard, an ML model)."""

    unique_id: str
    name: str
    type: str  # dashboard, notebook, analysis, ml, application
    label: str = ""
    description: str = ""
    maturity: str = ""
    url: str = ""
    owner_name: str = ""
    owner_email: str = ""
    depends_on: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    original_file_path: str = ""


def exposure(data: Mapping[str, Any]) -> Exposure:
    """An exposure of the manifest (its JSON object)."""
    owner = data.get("owner") or {}
    return Exposure(
        unique_id=data["unique_id"],
        name=data["name"],
        type=str(data.get("type") or ""),
        label=data.get("label") or "",
        description=data.get("description") or "",
        maturity=data.get("maturity") or "",
        url=data.get("url") or "",
        owner_name=owner.get("name") or "",
        owner_email=owner.get("email") or "",
        depends_on=tuple((data.get("depends_on") or {}).get("nodes", ())),
        meta=(data.get("config") or {}).get("meta") or data.get("meta") or {},
        original_file_path=data.get("original_file_path", ""),
    )
