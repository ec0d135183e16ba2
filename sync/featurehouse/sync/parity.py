"""Online/offline parity: does Redis serve what the warehouse says, at the sync's as-of time?

Per published view version: the warehouse's rows come from the dbt macro `latest_feature_rows`
at the as-of stored with the sync (rendered like the sync renders it); Redis is read through
`OnlineStore.read` with its clock at that same as-of. Values compare exactly (floats bit for bit,
NaN equal to NaN; arrays element-wise), feature by feature, plus the event timestamp.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from featurehouse.errors import RegistryError
from featurehouse.online import OnlineStore, ReadRequest, ReadResult, ViewSchema, ViewState
from featurehouse.online.encoding import EVENT_AT
from featurehouse.online.keys import canonical_key_array
from featurehouse.project import render
from featurehouse.project.manifest import Artifacts
from featurehouse.project.registry import FeatureView, Registry, validate_built
from featurehouse.project.settings import Project, Target
from featurehouse.sync.compare import differs, to_python
from featurehouse.sync.materialize import Progress
from featurehouse.types import arrow_type
from featurehouse.warehouse import Warehouse, adapter, connect, relation_exists
from featurehouse.warehouse.latest import read_latest
from featurehouse.warehouse.schema import view_schema

DEFAULT_SAMPLE = 1_000
DEFAULT_BATCH = 10_000


@dataclass(frozen=True)
class Example:
    """One value that differs: the entity, the feature, both sides, Redis's status."""

    keys: dict[str, Any]
    feature: str
    warehouse: Any
    redis: Any
    status: str


@dataclass(frozen=True)
class FeatureParity:
    feature: str
    compared: int
    mismatched: int


@dataclass(frozen=True)
class ViewParity:
    """One view version's check. `extra` (entities Redis serves that the warehouse has no row
    for at the as-of) is counted only when every entity is checked (`sampled` false)."""

    view: str
    as_of: datetime
    clock: str
    generation: int
    sampled: bool
    entities: int  # warehouse entities compared
    warehouse_entities: int
    redis_entities: int
    not_served: int  # of the compared, Redis returned not_found or expired
    extra: int | None
    features: tuple[FeatureParity, ...]
    examples: tuple[Example, ...]
    seconds: float
    notes: tuple[str, ...] = ()

    @property
    def compared(self) -> int:
        return sum(f.compared for f in self.features)

    @property
    def mismatched(self) -> int:
        return sum(f.mismatched for f in self.features) + (self.extra or 0)

    @property
    def mismatch_rate(self) -> float:
        return self.mismatched / self.compared if self.compared else 0.0

    @property
    def ok(self) -> bool:
        return self.mismatched == 0 and not self.notes


@dataclass(frozen=True)
class ParityOptions:
    sample: int | None = DEFAULT_SAMPLE  # None: every entity
    batch_size: int = DEFAULT_BATCH
    examples: int = 10
    seed: int = 0


@dataclass
class _Tally:
    names: list[str]
    counts: dict[str, list[int]] = field(default_factory=dict)  # name -> [compared, mismatched]
    examples: list[Example] = field(default_factory=list)
    entities: int = 0
    not_served: int = 0


def check(
    project: Project,
    target: Target,
    artifacts: Artifacts,
    registry: Registry,
    store: OnlineStore,
    refs: Sequence[str],
    options: ParityOptions,
    progress: Progress | None = None,
) -> list[ViewParity]:
    """Check the selected view versions (default: every published version the project has)."""
    pairs = _published(registry, store.views(), refs)
    views = [view for view, _ in pairs]
    with connect(project, target) as warehouse:
        validate_built(views, artifacts, lambda view: relation_exists(warehouse, view.relation))
    placeholder = adapter(target).param("as_of")
    sqls = render.latest_rows_sql(project, target, artifacts.manifest, views, placeholder)
    with connect(project, target) as warehouse:
        return [
            check_view(view, sqls[view.ref], warehouse, store, options, progress, state)
            for view, state in pairs
        ]


def _published(
    registry: Registry, states: Sequence[ViewState], refs: Sequence[str]
) -> list[tuple[FeatureView, ViewState]]:
    by_version = {(s.schema.view, s.schema.version): s for s in states}
    if refs:
        views = registry.select(refs)
        missing = [v.ref for v in views if (v.name, v.version) not in by_version]
        if missing:
            raise RegistryError(
                f"{', '.join(missing)} not published in Redis: run `featurehouse sync "
                f"{' '.join('--select ' + m for m in missing)}`"
            )
    else:
        views = [v for v in registry.views if (v.name, v.version) in by_version]
        if not views:
            raise RegistryError("Redis serves no view of this project: run `featurehouse sync`")
    return [(v, by_version[(v.name, v.version)]) for v in views]


def check_view(
    view: FeatureView,
    macro_sql: str,
    warehouse: Warehouse,
    store: OnlineStore,
    options: ParityOptions,
    progress: Progress | None = None,
    state: ViewState | None = None,
) -> ViewParity:
    """Compare one view version; `state` is what Redis says about it (read when not given)."""
    started = time.monotonic()
    state = state or store.describe(view.name, view.version)
    notes = _schema_notes(view, state.schema)
    names = [f.name for f in view.features if f.name in state.schema.feature_names]
    tally = _Tally(names=[view.event_timestamp, *names])
    counted: list[int] = [0]
    batches = _counting(
        read_latest(warehouse, view, macro_sql, state.as_of, batch_size=options.batch_size),
        counted,
    )
    if options.sample is not None:
        batches = _reservoir(batches, options.sample, options.seed)
    if progress is not None:
        progress.start(view.ref, options.sample or state.rows)
    seen: set[str] | None = None if options.sample is not None else set()
    schema = view_schema(view)
    for batch in batches:
        if batch.num_rows:
            _compare(view, state, batch, store, tally, options)
            if seen is not None:
                seen.update(canonical_key_array(schema, batch).to_pylist())
        if progress is not None:
            progress.advance(batch.num_rows)
    redis_entities, extra = _extras(view, state, store, seen, tally, options)
    result = ViewParity(
        view=view.ref,
        as_of=state.as_of,
        clock=state.clock,
        generation=state.generation,
        sampled=options.sample is not None,
        entities=tally.entities,
        warehouse_entities=counted[0],
        redis_entities=redis_entities,
        not_served=tally.not_served,
        extra=extra,
        features=tuple(FeatureParity(n, *tally.counts.get(n, [0, 0])) for n in tally.names),
        examples=tuple(tally.examples),
        seconds=time.monotonic() - started,
        notes=notes,
    )
    if progress is not None:
        progress.finish(result)  # type: ignore[arg-type]
    return result


def _schema_notes(view: FeatureView, served: ViewSchema) -> tuple[str, ...]:
    mine, theirs = tuple(f.name for f in view.features), served.feature_names
    if mine == theirs and tuple(k.name for k in view.keys) == served.keys:
        return ()
    return (
        f"Redis serves features {', '.join(theirs)} but the manifest declares "
        f"{', '.join(mine)}: the view changed since the sync; run `featurehouse sync`",
    )


def _compare(
    view: FeatureView,
    state: ViewState,
    batch: pa.RecordBatch,
    store: OnlineStore,
    tally: _Tally,
    options: ParityOptions,
) -> None:
    keys = [k.name for k in view.keys]
    entity_rows = batch.select(keys).to_pylist()
    request = ReadRequest(view.name, view.version, tuple(tally.names[1:]))
    result = store.read([request], entity_rows, now=state.as_of)[0]
    status = pa.array([s[0] if s else _status(result, i) for i, s in enumerate(result.statuses)])
    served = pc.equal(status, "present")
    tally.entities += batch.num_rows
    tally.not_served += batch.num_rows - (pc.sum(served).as_py() or 0)
    redis_columns = _redis_columns(result, batch.num_rows)
    for name in tally.names:
        column = EVENT_AT if name == view.event_timestamp else name
        kind = "timestamp" if column == EVENT_AT else _kind(state.schema, name)
        ours, theirs = batch.column(column), redis_columns[column]
        bad = pc.or_(pc.invert(served), differs(ours, theirs, kind))
        counts = tally.counts.setdefault(name, [0, 0])
        counts[0] += batch.num_rows
        counts[1] += pc.sum(bad).as_py() or 0
        if len(tally.examples) < options.examples:
            for i in pc.indices_nonzero(bad).to_pylist()[: options.examples - len(tally.examples)]:
                tally.examples.append(
                    Example(
                        entity_rows[i],
                        name,
                        to_python(ours[i]),
                        to_python(theirs[i]),
                        status[i].as_py(),
                    )
                )


def _status(result: ReadResult, i: int) -> str:
    return "present" if result.event_at[i] is not None else "not_found"


def _kind(schema: ViewSchema, name: str) -> str:
    return next(f.type for f in schema.features if f.name == name)


def _redis_columns(result: ReadResult, n: int) -> dict[str, pa.Array]:
    columns = {EVENT_AT: pa.array(result.event_at, pa.timestamp("us"), size=n)}
    for j, (name, kind) in enumerate(zip(result.features, result.types, strict=True)):
        columns[name] = pa.array([v[j] for v in result.values], arrow_type(kind))
    return columns


def _extras(
    view: FeatureView,
    state: ViewState,
    store: OnlineStore,
    seen: set[str] | None,
    tally: _Tally,
    options: ParityOptions,
) -> tuple[int, int | None]:
    """Redis's entity count; with every entity checked, how many it serves beyond them."""
    if seen is None:
        return state.rows, None
    total, extra = 0, 0
    for chunk in store.entity_keys(view.name, view.version):
        total += len(chunk)
        unknown = [key for key in chunk if key not in seen]
        for start in range(0, len(unknown), options.batch_size):
            part = unknown[start : start + options.batch_size]
            extra += _served_extras(view, state, store, part, tally, options)
    return total, extra


def _served_extras(
    view: FeatureView,
    state: ViewState,
    store: OnlineStore,
    keys: Sequence[str],
    tally: _Tally,
    options: ParityOptions,
) -> int:
    """Entities Redis holds but the warehouse has no row for: a mismatch unless expired."""
    rows = [_entity_row(view, key) for key in keys]
    request = ReadRequest(view.name, view.version, tuple(tally.names[1:]))
    result = store.read([request], rows, now=state.as_of)[0]
    served = [i for i, s in enumerate(result.statuses) if not s or s[0] == "present"]
    served = [i for i in served if result.event_at[i] is not None]
    for i in served[: max(0, options.examples - len(tally.examples))]:
        tally.examples.append(
            Example(rows[i], view.event_timestamp, None, result.event_at[i], "extra in Redis")
        )
    return len(served)


def _entity_row(view: FeatureView, key: str) -> dict[str, Any]:
    names = [k.name for k in view.keys]
    values = json.loads(key) if len(names) > 1 else [key]
    return {
        k.name: int(v) if k.online_type == "int64" else v
        for k, v in zip(view.keys, values, strict=True)
    }


def _counting(batches: Iterable[pa.RecordBatch], counted: list[int]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        counted[0] += batch.num_rows
        yield batch


def _reservoir(batches: Iterable[pa.RecordBatch], n: int, seed: int) -> Iterator[pa.RecordBatch]:
    """A uniform sample of n rows (all when fewer): the n smallest random priorities."""
    kept: pa.Table | None = None
    for i, batch in enumerate(batches):
        priority = pc.random(batch.num_rows, initializer=seed * 1_000_003 + i)
        table = pa.Table.from_batches([batch]).append_column("__priority", priority)
        kept = table if kept is None else pa.concat_tables([kept, table])
        if kept.num_rows > 4 * n:
            kept = _smallest(kept, n)
    if kept is not None:
        yield from _smallest(kept, n).drop_columns(["__priority"]).combine_chunks().to_batches()


def _smallest(table: pa.Table, n: int) -> pa.Table:
    order = pc.sort_indices(table, sort_keys=[("__priority", "ascending")])
    return table.take(order[:n])
