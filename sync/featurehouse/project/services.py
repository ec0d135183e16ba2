"""Feature services: dbt exposures of `type: ml` whose `config.meta.feature_service` lists the
features a model reads, each pinned to a version or not; expanded here through the registry.

Their rules are the dbt package's (`featurehouse.check_feature_services`, which stops `dbt
build` before any node runs): Python reads services, it does not check them again; a manifest
that was only parsed may still hold a wrong one, which fails here naming the exposure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from featurehouse.errors import FeaturehouseError, RegistryError
from featurehouse.project.manifest import Exposure, Manifest
from featurehouse.project.registry import FeatureView, Registry
from featurehouse.refs import FeatureRef, ServiceRefs, ViewRef, parse_feature

META = "feature_service"


@dataclass(frozen=True)
class FeatureService:
    """One feature service: its exposure's description and the features it reads."""

    name: str
    unique_id: str
    refs: ServiceRefs
    views: tuple[FeatureView, ...]  # the view versions its features resolve to, in order
    label: str = ""
    description: str = ""
    owner: str = ""
    owner_email: str = ""
    maturity: str = ""
    url: str = ""
    path: str = ""
    sample_rate: float | None = None  # feature logging: the share of served rows logged

    @property
    def features(self) -> tuple[FeatureRef, ...]:
        return self.refs.features

    def reads(self, view: FeatureView, feature: str | None = None) -> bool:
        """Does the service read `view` (this version), or one of its features?"""
        return any(
            v == view and (feature is None or f.feature == feature)
            for v, f in zip(self.views, self.features, strict=True)
        )


def is_feature_service(exposure: Exposure) -> bool:
    return META in exposure.meta


def load_services(manifest: Manifest, registry: Registry) -> tuple[FeatureService, ...]:
    """Every feature service of the manifest, by name."""
    exposures = [e for e in manifest.exposures.values() if is_feature_service(e)]
    return tuple(service_of(e, registry) for e in sorted(exposures, key=lambda e: e.name))


def service_of(exposure: Exposure, registry: Registry) -> FeatureService:
    """The exposure's service, `view[.vN]:*` expanded (one RegistryError naming the
    exposure when a reference does not resolve: `dbt build` lists every problem)."""
    spec = exposure.meta.get(META)
    raw = spec.get("features") if isinstance(spec, Mapping) else None
    try:
        if not isinstance(raw, list) or not raw:
            raise RegistryError("meta.feature_service.features lists no features")
        pairs = [pair for text in raw for pair in _expand(str(text), registry)]
    except FeaturehouseError as exc:
        raise RegistryError(
            f"feature service {exposure.name} ({exposure.original_file_path}): {exc}; "
            "`dbt build` checks feature services and lists every problem"
        ) from None
    logging = spec.get("logging") if isinstance(spec, Mapping) else None
    return FeatureService(
        name=exposure.name,
        unique_id=exposure.unique_id,
        refs=ServiceRefs(exposure.name, tuple(ref for _, ref in pairs)),
        views=tuple(view for view, _ in pairs),
        label=exposure.label,
        description=exposure.description,
        owner=exposure.owner_name,
        owner_email=exposure.owner_email,
        maturity=exposure.maturity,
        url=exposure.url,
        path=exposure.original_file_path,
        sample_rate=_rate(logging),
    )


def _expand(text: str, registry: Registry) -> list[tuple[FeatureView, FeatureRef]]:
    asked = parse_feature(text.strip())
    view = registry.resolve(str(asked.view))
    names = [f.name for f in view.features] if asked.feature == "*" else [asked.feature]
    written = ViewRef(asked.view.name, asked.view.version)
    return [(view, FeatureRef(written, view.feature(name).name)) for name in names]


def _rate(logging: Any) -> float | None:
    rate = logging.get("sample_rate") if isinstance(logging, Mapping) else None
    return float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) else None
