"""Feature views, their versions and features, read from models with `config.meta.feature_store`.

References use dbt's selector syntax: `feat_customer__orders` (latest version),
`feat_customer__orders.v1` (pinned) and `<view>[.vN]:<feature>` for one feature.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from featurehouse.errors import RegistryError
from featurehouse.project.manifest import Artifacts, Column, Manifest, Node

ONLINE_TYPES = ("int64", "float64", "string", "bool", "timestamp", "list<float64>")
KEY_TYPES = ("int64", "string")
_TTL = re.compile(r"^(?P<n>\d+)(?P<unit>[smhdw])$")
_TTL_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_REF = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\.v(?P<version>\d+))?$")
_BUILT = ("success", "pass")
_SCALAR_TYPES = {
    "int64": ("bigint", "integer", "int", "int4", "int8", "int64", "smallint", "hugeint"),
    "float64": (
        "double",
        "double precision",
        "float",
        "float4",
        "float8",
        "float64",
        "real",
        "numeric",
        "decimal",
    ),
    "string": ("varchar", "text", "string", "character varying", "char", "character"),
    "bool": ("boolean", "bool"),
    "timestamp": ("timestamp", "timestamp without time zone", "datetime"),
}


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
    online_type: str  # one of ONLINE_TYPES
    description: str = ""


@dataclass(frozen=True)
class Key:
    name: str
    data_type: str
    online_type: str  # one of KEY_TYPES


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
        return self.name if self.version is None else f"{self.name}.v{self.version}"

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
        return self.model.split(".v")[0]

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
        match = _REF.match(ref.strip())
        if match is None:
            raise RegistryError(f"{ref!r} is not a view reference; use `name` or `name.vN`")
        candidates = [v for v in self.views if v.name == match["name"]]
        if not candidates:
            known = ", ".join(self.names()) or "none"
            raise RegistryError(f"no feature view named {match['name']!r} (views: {known})")
        if match["version"] is None:
            return next((v for v in candidates if v.is_latest), candidates[-1])
        version = int(match["version"])
        for view in candidates:
            if view.version == version:
                return view
        have = ", ".join(v.ref for v in candidates)
        raise RegistryError(f"{match['name']} has no version {version} (versions: {have})")

    def resolve_feature(self, ref: str) -> tuple[FeatureView, Feature]:
        """`<view>[.vN]:<feature>` -> the view version and the feature."""
        view_ref, sep, feature = ref.partition(":")
        if not sep or not feature:
            raise RegistryError(f"{ref!r} is not a feature reference; use `view[.vN]:feature`")
        view = self.resolve(view_ref)
        return view, view.feature(feature)

    def select(self, refs: Sequence[str]) -> list[FeatureView]:
        """The view versions `refs` name; no refs -> the latest version of every online view.

        Raises one RegistryError listing every declaration problem of the views concerned
        (of all views when `refs` is empty) and every reference that does not resolve.
        """
        names = {_REF.sub(r"\g<name>", r.strip()) for r in refs}
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


def parse_ttl(value: object) -> int | None:
    """`90m`, `36h`, `1d`, `2w` -> seconds; None -> None (no TTL)."""
    if value is None:
        return None
    match = _TTL.match(str(value).strip())
    if match is None or isinstance(value, bool):
        raise ValueError(f"{value!r} is not <int><s|m|h|d|w> (e.g. 90m, 36h, 1d) or null")
    return int(match["n"]) * _TTL_SECONDS[match["unit"]]


def online_type(data_type: str | None) -> str | None:
    """The online type of a contract data type, or None when it is not supported."""
    if not data_type:
        return None
    text = re.sub(r"\s+", " ", data_type.strip().lower())
    if text.endswith("[]"):
        inner = online_type(text[:-2])
        return "list<float64>" if inner == "float64" else None
    base = re.sub(r"\(.*\)$", "", text).strip()
    for kind, names in _SCALAR_TYPES.items():
        if base in names:
            return kind
    return None


def _view_from_node(node: Node, spec: object) -> tuple[FeatureView | None, list[Problem]]:
    label = node.label
    if not isinstance(spec, dict):
        return None, [Problem(label, "meta.feature_store", "must be a mapping")]
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem(label, f"meta.feature_store.{key}" if key else "columns", message))

    columns = {c.name: c for c in node.columns}
    keys = _keys(spec, columns, bad)
    event_ts = _timestamp(spec, "event_timestamp", columns, bad, required=True)
    created_ts = _timestamp(spec, "created_timestamp", columns, bad, required=False)
    ttl_seconds = _ttl(spec, bad)
    entity = spec.get("entity")
    if not isinstance(entity, str) or not entity:
        bad("entity", "missing: name the entity (e.g. `entity: customer`)")
    online = spec.get("online", True)
    if not isinstance(online, bool):
        bad("online", f"{online!r} is not true or false")
    reserved = {k.name for k in keys} | {event_ts, created_ts}
    features = _features(node.columns, reserved, bad)
    if problems:
        return None, problems
    return FeatureView(
        name=node.name,
        version=node.version,
        latest_version=node.latest_version,
        unique_id=node.unique_id,
        relation=Relation(node.database, node.schema, node.alias or node.name),
        entity=str(entity),
        keys=keys,
        event_timestamp=str(event_ts),
        created_timestamp=created_ts,
        ttl=None if ttl_seconds is None else str(spec["ttl"]),
        ttl_seconds=ttl_seconds,
        online=bool(online),
        owner=str(spec.get("owner") or ""),
        description=str(spec.get("description") or node.description or ""),
        features=features,
        deprecation_date=node.deprecation_date,
    ), []


def _keys(
    spec: dict, columns: dict[str, Column], bad: Callable[[str, str], None]
) -> tuple[Key, ...]:
    raw = spec.get("keys")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        bad("keys", "missing: list the entity key column(s), e.g. `keys: [customer_id]`")
        return ()
    keys: list[Key] = []
    for name in raw:
        column = columns.get(str(name))
        if column is None:
            bad("keys", f"unknown column {name!r} (columns: {', '.join(columns) or 'none'})")
            continue
        kind = online_type(column.data_type)
        if kind not in KEY_TYPES:
            bad(
                "keys",
                f"column {name!r} has type {column.data_type!r}; keys must be integers or strings",
            )
            continue
        keys.append(Key(column.name, str(column.data_type), kind))
    return tuple(keys)


def _timestamp(
    spec: dict,
    key: str,
    columns: dict[str, Column],
    bad: Callable[[str, str], None],
    *,
    required: bool,
) -> str | None:
    name = spec.get(key)
    if name is None:
        if required:
            bad(key, "missing: name the timestamp column (e.g. `event_timestamp: effective_at`)")
        return None
    column = columns.get(str(name))
    if column is None:
        bad(key, f"unknown column {name!r} (columns: {', '.join(columns) or 'none'})")
        return None
    if online_type(column.data_type) != "timestamp":
        bad(key, f"column {name!r} has type {column.data_type!r}, not timestamp")
    return column.name


def _ttl(spec: dict, bad: Callable[[str, str], None]) -> int | None:
    try:
        return parse_ttl(spec.get("ttl"))
    except ValueError as exc:
        bad("ttl", str(exc))
        return None


def _features(
    columns: Sequence[Column], reserved: set[str | None], bad: Callable[[str, str], None]
) -> tuple[Feature, ...]:
    features: list[Feature] = []
    seen: dict[str, str] = {}
    for column in columns:
        if column.name in reserved:
            continue
        kind = online_type(column.data_type)
        folded = column.name.lower()
        if column.data_type is None:
            bad("", f"column {column.name!r} has no data_type: declare it (contract enforced)")
        elif kind is None:
            bad(
                "",
                f"column {column.name!r} has unsupported type {column.data_type!r} "
                f"(supported: {', '.join(ONLINE_TYPES)})",
            )
        elif folded in seen or folded.startswith("__"):
            clash = seen.get(folded, "a reserved name")
            bad("", f"duplicate feature name {column.name!r} (clashes with {clash!r})")
        else:
            features.append(Feature(column.name, str(column.data_type), kind, column.description))
        seen.setdefault(folded, column.name)
    return tuple(features)


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
