"""Feature views, their versions and features, read from models with `config.meta.feature_store`
(checked by `feature_store`, the one definition of its rules).

References (`refs`): `feat_customer__orders` (latest version), `feat_customer__orders.v1`
(pinned) and `<view>[.vN]:<feature>` for one feature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from featurehouse.errors import RegistryError
from featurehouse.project.feature_store import check_feature_store
from featurehouse.project.manifest import Artifacts, Column, Manifest, Node
from featurehouse.refs import BadReference, format_view, parse_feature, parse_view
from featurehouse.types import online_type

_BUILT = ("success", "pass")


@dataclass(frozen=True)
class Relation:
    database: str | None
    schema: str | None
    alias: str

    def __str__(self) -> str:
        return ".".join(p for p in (self.database, self.schema, self.alias) if p)


@dataclass(frozen=True)
class Feature:
    name: str
    data_type: str  # as the contract declares it
    online_type: str  # one of types.FEATURE_TYPES
    description: str = ""


@dataclass(frozen=True)
class Key:
    name: str
    data_type: str
    online_type: str  # one of types.KEY_TYPES


@dataclass(frozen=True)
class FeatureView:
    """One version of a feature view: a dbt model (version) with feature store metadata."""

    name: str
    version: int | None
    latest_version: int | None
    unique_id: str
    relation: Relation
    entity: str
    keys: tuple[Key, ...]
    event_timestamp: str
    created_timestamp: str | None
    ttl: str | None
    ttl_seconds: int | None
    online: bool
    owner: str
    description: str
    features: tuple[Feature, ...]
    deprecation_date: str | None = None

    @property
    def ref(self) -> str:
        return format_view(self.name, self.version)

    @property
    def is_latest(self) -> bool:
        return self.version is None or self.version == self.latest_version

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        known = ", ".join(f.name for f in self.features)
        raise RegistryError(f"{self.ref} has no feature {name!r} (features: {known})")


@dataclass(frozen=True)
class Problem:
    model: str  # `name` or `name.vN`
    key: str
    message: str

    @property
    def name(self) -> str:
        return parse_view(self.model).name

    def __str__(self) -> str:
        return f"{self.model} ({self.key}): {self.message}"


@dataclass(frozen=True)
class Registry:
    """Every feature view version of a manifest, plus the problems found declaring them."""

    views: tuple[FeatureView, ...]
    problems: tuple[Problem, ...] = field(default=())

    def names(self) -> list[str]:
        return sorted({v.name for v in self.views})

    def resolve(self, ref: str) -> FeatureView:
        """`name` (the latest version) or `name.vN` (pinned) -> the feature view version."""
        wanted = parse_view(ref.strip())
        candidates = [v for v in self.views if v.name == wanted.name]
        if not candidates:
            known = ", ".join(self.names()) or "none"
            raise RegistryError(f"no feature view named {wanted.name!r} (views: {known})")
        if wanted.version is None:
            return next((v for v in candidates if v.is_latest), candidates[-1])
        for view in candidates:
            if view.version == wanted.version:
                return view
        have = ", ".join(v.ref for v in candidates)
        raise RegistryError(f"{wanted.name} has no version {wanted.version} (versions: {have})")

    def resolve_feature(self, ref: str) -> tuple[FeatureView, Feature]:
        """`<view>[.vN]:<feature>` -> the view version and the feature."""
        wanted = parse_feature(ref.strip())
        view = self.resolve(str(wanted.view))
        return view, view.feature(wanted.feature)

    def select(self, refs: Sequence[str]) -> list[FeatureView]:
        """The view versions `refs` name; no refs -> the latest version of every online view.

        Raises one RegistryError listing every declaration problem of the views concerned
        (of all views when `refs` is empty) and every reference that does not resolve.
        """
        names = {_name(r) for r in refs}
        self.check(names or None)
        if not refs:
            return [v for v in self.views if v.online and v.is_latest]
        chosen: list[FeatureView] = []
        errors: list[str] = []
        for ref in refs:
            try:
                view = self.resolve(ref)
            except RegistryError as exc:
                errors.append(str(exc))
                continue
            if view not in chosen:
                chosen.append(view)
        if errors:
            raise RegistryError("; ".join(errors))
        return chosen

    def check(self, names: set[str] | None = None) -> None:
        """Raise one RegistryError listing every declaration problem (of views `names`)."""
        problems = [p for p in self.problems if names is None or p.name in names]
        _raise_all(problems, "feature view problem")


def _name(ref: str) -> str:
    try:
        return parse_view(ref.strip()).name
    except BadReference:
        return ref.strip()


def build_registry(manifest: Manifest) -> Registry:
    """Feature views from every model with config.meta.feature_store, problems collected."""
    views: list[FeatureView] = []
    problems: list[Problem] = []
    for node in sorted(manifest.models(), key=lambda n: (n.name, n.version or 0)):
        spec = node.meta.get("feature_store")
        if spec is None:
            continue
        view, found = _view_from_node(node, spec)
        problems.extend(found)
        if view is not None:
            views.append(view)
    problems.extend(_entity_problems(views))
    return Registry(views=tuple(views), problems=tuple(problems))


def validate_built(
    views: Iterable[FeatureView],
    artifacts: Artifacts,
    relation_exists: Callable[[FeatureView], bool] | None = None,
) -> None:
    """Raise one RegistryError naming every view that was never built, and how to build it."""
    results = artifacts.run_results.results if artifacts.run_results else {}
    catalog = artifacts.catalog.columns if artifacts.catalog else {}
    problems: list[Problem] = []
    for view in views:
        result = results.get(view.unique_id)
        if result is not None and result.status in _BUILT:
            continue
        if view.unique_id in catalog or (relation_exists is not None and relation_exists(view)):
            continue
        problems.append(
            Problem(
                view.ref,
                "relation",
                f"{view.relation} is not built: run `dbt build --select {view.ref}`",
            )
        )
    _raise_all(problems, "feature view problem")


def _raise_all(problems: Sequence[Problem], what: str) -> None:
    if not problems:
        return
    plural = "s" if len(problems) > 1 else ""
    raise RegistryError(f"{len(problems)} {what}{plural}: " + "; ".join(map(str, problems)))


def _view_from_node(node: Node, spec: object) -> tuple[FeatureView | None, list[Problem]]:
    columns = {c.name.lower(): c for c in node.columns}
    checked = check_feature_store(spec, {c.name: c.data_type for c in node.columns})
    if checked.problems:
        return None, [Problem(node.label, key, message) for key, message in checked.problems]
    assert checked.event_timestamp is not None and checked.entity is not None
    meta = dict(spec) if isinstance(spec, dict) else {}
    keys = tuple(_key(columns[name]) for name in checked.keys)
    features = tuple(_feature(columns[name]) for name in checked.features)
    return FeatureView(
        name=node.name,
        version=node.version,
        latest_version=node.latest_version,
        unique_id=node.unique_id,
        relation=Relation(node.database, node.schema, node.alias or node.name),
        entity=checked.entity,
        keys=keys,
        event_timestamp=checked.event_timestamp,
        created_timestamp=checked.created_timestamp,
        ttl=checked.ttl,
        ttl_seconds=checked.ttl_seconds,
        online=checked.online,
        owner=str(meta.get("owner") or ""),
        description=str(meta.get("description") or node.description or ""),
        features=features,
        deprecation_date=node.deprecation_date,
    ), []


def _key(column: Column) -> Key:
    """A checked key column: lower-case name, contract type, online type."""
    return Key(column.name.lower(), str(column.data_type), str(online_type(column.data_type)))


def _feature(column: Column) -> Feature:
    kind = str(online_type(column.data_type))
    return Feature(column.name.lower(), str(column.data_type), kind, column.description)


def _entity_problems(views: Sequence[FeatureView]) -> list[Problem]:
    """An entity must have the same key columns in every view that serves it."""
    first: dict[str, FeatureView] = {}
    problems = []
    for view in views:
        other = first.setdefault(view.entity, view)
        mine = [k.name for k in view.keys]
        theirs = [k.name for k in other.keys]
        if mine != theirs:
            problems.append(
                Problem(
                    view.ref,
                    "meta.feature_store.keys",
                    f"entity {view.entity!r} has keys {theirs} in {other.ref}, not {mine}",
                )
            )
    return problems
