"""Streaming declarations: `config.meta.feature_store.stream` of feature views, read once.

The one Python place that parses the `stream:` key. A stream names the seed or dbt source a
view reads (`source`), the Kafka topic or Redis stream its raw events arrive on (`topic`,
default: the source's name), and optionally the source column holding the event time
(`event_timestamp`, default: the one the view's event timestamp is computed from, found in
the compiled SQL by `evaluate`) and how far in the future an event may be stamped
(`max_future_skew`, default 5m).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from featurehouse.errors import StreamError
from featurehouse.project.feature_store import parse_ttl
from featurehouse.project.manifest import Manifest, Node
from featurehouse.project.registry import FeatureView, Registry, Relation

KEYS = ("source", "topic", "event_timestamp", "max_future_skew")
DEFAULT_SKEW = "5m"
STREAMED_MACRO = "streamed"  # featurehouse.streamed(): how a model reads the landed events
_TOPIC = re.compile(r"^[A-Za-z0-9._:{}-]{1,200}$")


@dataclass(frozen=True)
class StreamSource:
    """One streamed seed or source: the views it feeds and how its events are checked."""

    name: str  # as declared: the seed's name or `source_name.table`
    unique_id: str
    relation: Relation
    topic: str
    views: tuple[FeatureView, ...]
    event_timestamp: str | None  # the source column with the event time, when declared
    max_future_skew_seconds: int
    required: tuple[str, ...]  # columns an event must carry (not_null tests)
    readers: tuple[str, ...]  # the models reading it (through featurehouse.streamed)

    @property
    def identifier(self) -> str:
        return self.relation.alias


def stream_sources(
    manifest: Manifest, registry: Registry, names: Sequence[str] = ()
) -> list[StreamSource]:
    """Every streamed source (or those named: a source name or a view ref), its views and
    settings; one StreamError listing every declaration problem."""
    problems: list[str] = []
    declared: dict[str, list[tuple[FeatureView, Mapping[str, object]]]] = {}
    for view in registry.views:
        spec = (manifest.nodes[view.unique_id].meta.get("feature_store") or {}).get("stream")
        if spec is None:
            continue
        found = _check_spec(view, spec, manifest)
        problems += found
        if not found and view.online:
            declared.setdefault(_source_node(manifest, str(spec["source"])).unique_id, []).append(
                (view, spec)
            )
    sources = []
    for unique_id, entries in declared.items():
        try:
            sources.append(_source(manifest, unique_id, entries))
        except StreamError as exc:
            problems.append(str(exc))
    if problems:
        raise StreamError("; ".join(problems))
    return _selected(sources, names)


def _selected(sources: list[StreamSource], names: Sequence[str]) -> list[StreamSource]:
    if not sources:
        raise StreamError(
            "no feature view declares a stream: add `stream: {source: <seed or source>, "
            "topic: <topic>}` under config.meta.feature_store in its yml "
            "(README: Real-time features)"
        )
    if not names:
        return sources
    chosen = []
    for name in names:
        match = [s for s in sources if name in (s.name, s.topic, *(v.ref for v in s.views))]
        match += [s for s in sources if any(v.name == name for v in s.views)]
        if not match:
            known = ", ".join(f"{s.name} (topic {s.topic})" for s in sources)
            raise StreamError(f"no stream named {name!r}; streams: {known}")
        chosen += [s for s in match if s not in chosen]
    return chosen


def _check_spec(view: FeatureView, spec: object, manifest: Manifest) -> list[str]:
    where = f"{view.ref} (meta.feature_store.stream"
    if not isinstance(spec, Mapping):
        return [f"{where}): must be a mapping, e.g. {{source: raw_page_views, topic: clicks}}"]
    problems = [
        f"{where}.{key}): unknown key; use {', '.join(KEYS)}" for key in spec if key not in KEYS
    ]
    source = spec.get("source")
    if not isinstance(source, str) or not source:
        problems.append(f"{where}.source): missing; name the seed or source the view reads")
    else:
        try:
            node = _source_node(manifest, source)
            if node.unique_id not in manifest.upstream(view.unique_id) | _sources_upstream(
                manifest, view.unique_id
            ):
                problems.append(f"{where}.source): {view.ref} does not read {source}")
        except StreamError as exc:
            problems.append(f"{where}.source): {exc}")
    topic = spec.get("topic", source)
    if not isinstance(topic, str) or not _TOPIC.match(topic):
        problems.append(f"{where}.topic): {topic!r} is not a topic name (letters, digits, ._-:)")
    for key in ("event_timestamp",):
        if key in spec and not isinstance(spec[key], str):
            problems.append(f"{where}.{key}): name a column of the source")
    try:
        parse_ttl(spec.get("max_future_skew", DEFAULT_SKEW))
    except ValueError as exc:
        problems.append(f"{where}.max_future_skew): {exc}")
    if not view.online:
        problems.append(f"{where}): the view is not online (online: false); a stream serves it")
    return problems


def _source_node(manifest: Manifest, name: str) -> Node:
    """A seed by name, or a dbt source as `source_name.table`."""
    found = [
        n
        for n in manifest.nodes.values()
        if (n.resource_type == "seed" and n.name == name)
        or (n.resource_type == "source" and n.label == name)
    ]
    if len(found) != 1:
        seeds = sorted(n.name for n in manifest.nodes.values() if n.resource_type == "seed")
        sources = sorted(n.label for n in manifest.nodes.values() if n.resource_type == "source")
        known = ", ".join([*seeds, *sources]) or "none"
        raise StreamError(f"no seed or source named {name!r} (known: {known})")
    return found[0]


def _sources_upstream(manifest: Manifest, unique_id: str) -> set[str]:
    """Every node `unique_id` reads, transitively, sources included (`upstream` skips them:
    they are what its models depend on directly)."""
    upstream = manifest.upstream(unique_id)
    return upstream | {d for u in upstream for d in manifest.nodes[u].depends_on}


def _source(
    manifest: Manifest,
    unique_id: str,
    entries: list[tuple[FeatureView, Mapping[str, object]]],
) -> StreamSource:
    node = manifest.nodes[unique_id]
    label = node.label
    topics = {str(spec.get("topic", label)) for _, spec in entries}
    if len(topics) > 1:
        views = ", ".join(v.ref for v, _ in entries)
        raise StreamError(f"{views} stream {label} from different topics ({', '.join(topics)})")
    skews = {parse_ttl(spec.get("max_future_skew", DEFAULT_SKEW)) or 0 for _, spec in entries}
    views = tuple(view for view, _ in entries)
    declared = {str(spec["event_timestamp"]) for _, spec in entries if "event_timestamp" in spec}
    if len(declared) > 1:
        raise StreamError(f"{node.label}: its views declare event_timestamp {sorted(declared)}")
    return StreamSource(
        name=label,
        unique_id=unique_id,
        relation=Relation(node.database, node.schema, node.alias or node.name),
        topic=topics.pop(),
        views=views,
        event_timestamp=declared.pop() if declared else None,
        max_future_skew_seconds=min(skews),
        required=tuple(_not_null(manifest, unique_id)),
        readers=_readers(manifest, node, views),
    )


def _not_null(manifest: Manifest, unique_id: str) -> list[str]:
    return sorted(
        n.column_name
        for n in manifest.nodes.values()
        if n.resource_type == "test"
        and n.test_name == "not_null"
        and n.attached_node == unique_id
        and n.column_name
    )


def _readers(manifest: Manifest, node: Node, views: Sequence[FeatureView]) -> tuple[str, ...]:
    """The models reading the source on the way to the views; each must use
    featurehouse.streamed() so that dbt builds read the landed events too."""
    upstream: set[str] = set()
    for view in views:
        upstream |= _sources_upstream(manifest, view.unique_id)
    readers = [
        n for n in manifest.models() if node.unique_id in n.depends_on and n.unique_id in upstream
    ]
    plain = [
        n.label for n in readers if not any(m.endswith(f".{STREAMED_MACRO}") for m in n.macros)
    ]
    if plain:
        raise StreamError(
            f"{', '.join(plain)} read {node.label} without featurehouse.streamed(): make the "
            f"import CTE `{{{{ featurehouse.{STREAMED_MACRO}(ref('{node.name}')) }}}}` so that "
            "dbt builds see the streamed events (README: Real-time features)"
        )
    return tuple(n.label for n in readers)
