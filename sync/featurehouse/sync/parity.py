"""Online/offline parity: does the online store answer what the warehouse says, at the sync's
as-of, for every entity the warehouse has and every record the store holds?

Per published view version: the warehouse's answer comes from the dbt macro
`latest_feature_rows` at the as-of stored with the sync (rendered as the sync renders it, with
its expired flag); the store is read through `OnlineStore.read` at that same clock. Per entity:
the status (present or expired), the event time, and for present entities every feature,
exactly (floats bit for bit, NaN equal to NaN; arrays element-wise). Then every record the
store holds for an entity the warehouse has no row for is counted as extra.
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

DEFAULT_BATCH = 10_000
STATUS, EXTRA = "status", "extra in Redis"  # what an Example's `feature` says besides names


@dataclass(frozen=True)
class Example:
    """One entity whose answer differs: its keys, what differs first (`status`, the event
    timestamp's name, a feature, or `extra in Redis`), both sides, the store's status."""

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
    """One view version's check. `extra` (records the store holds for entities the warehouse
    has no row for at the as-of) is counted only when every entity is checked."""

    view: str
    as_of: datetime
    clock: str
    generation: int
    sampled: bool
    entities: int  # warehouse entities compared
    warehouse_entities: int
    redis_entities: int
    expired: int  # of the compared, expired at the as-of by the warehouse's rows
    status_mismatched: int  # of the compared, served with another status
    extra: int | None
    features: tuple[FeatureParity, ...]  # the event timestamp first
    examples: tuple[Example, ...]
    seconds: float
    notes: tuple[str, ...] = ()
    entities_mismatched: int = 0  # of the compared, any difference (status, time, value)

    @property
    def compared(self) -> int:
        return sum(f.compared for f in self.features)

    @property
    def mismatched(self) -> int:
        """Entities answered differently, plus records the warehouse does not justify."""
        return self.entities_mismatched + (self.extra or 0)

    @property
    def mismatch_rate(self) -> float:
        checked = self.entities + (self.extra or 0)
        return self.mismatched / checked if checked else 0.0

    @property
    def ok(self) -> bool:
        return self.mismatched == 0 and not self.notes


@dataclass(frozen=True)
class ParityOptions:
    sample: int | None = None  # None: every entity (and the store's extra records)
    batch_size: int = DEFAULT_BATCH
    examples: int = 10
    seed: int = 0


@dataclass
class _Tally:
    names: list[str]  # the event timestamp, then the features compared
    counts: dict[str, list[int]] = field(default_factory=dict)  # name -> [compared, mismatched]
    examples: list[Example] = field(default_factory=list)
    entities: int = 0
    expired: int = 0
    status: int = 0
    mismatched: int = 0

    def count(self, name: str, compared: int, mismatched: int) -> None:
        counts = self.counts.setdefault(name, [0, 0])
        counts[0] += compared
        counts[1] += mismatched


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
    names = [f.name for f in view.features if f.name in state.schema.feature_names]
    tally = _Tally(names=[view.event_timestamp, *names])
    counted: list[int] = [0]
    batches: Iterable[pa.RecordBatch] = _counting(
        read_latest(
            warehouse, view, macro_sql, state.as_of, batch_size=options.batch_size, expired=True
        ),
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
        view=view.ref, as_of=state.as_of, clock=state.clock, generation=state.generation,
        sampled=options.sample is not None, entities=tally.entities,
        warehouse_entities=counted[0], redis_entities=redis_entities, expired=tally.expired,
        status_mismatched=tally.status, extra=extra,
        features=tuple(FeatureParity(n, *tally.counts.get(n, [0, 0])) for n in tally.names),
        examples=tuple(tally.examples), seconds=time.monotonic() - started,
        notes=_schema_notes(view, state.schema), entities_mismatched=tally.mismatched,
    )  # fmt: skip
    if progress is not None:
        progress.finish(result)
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
    """One batch of warehouse entities against the store's answers for them."""
    entity_rows = batch.select([k.name for k in view.keys]).to_pylist()
    request = ReadRequest(view.name, view.version, tuple(tally.names[1:]))
    result = store.read([request], entity_rows, now=state.as_of)[0]
    served = pa.array([_status(result, i) for i in range(batch.num_rows)], pa.string())
    expected = pc.if_else(batch.column(render.EXPIRED), "expired", "present")
    present = pc.and_(pc.equal(served, "present"), pc.equal(expected, "present"))
    bad_status = pc.not_equal(served, expected)
    theirs = _redis_columns(result, batch.num_rows)
    event = differs(batch.column(EVENT_AT), theirs[EVENT_AT], "timestamp")
    bad_event = pc.and_(pc.not_equal(served, "not_found"), event)
    tally.count(view.event_timestamp, batch.num_rows, pc.sum(bad_event).as_py() or 0)
    bad_values = {}
    for name in tally.names[1:]:
        kind = _kind(state.schema, name)
        bad = pc.and_(present, differs(batch.column(name), theirs[name], kind))
        tally.count(name, pc.sum(present).as_py() or 0, pc.sum(bad).as_py() or 0)
        bad_values[name] = bad
    any_bad = pc.or_(bad_status, bad_event)
    for bad in bad_values.values():
        any_bad = pc.or_(any_bad, bad)
    tally.entities += batch.num_rows
    tally.expired += pc.sum(batch.column(render.EXPIRED)).as_py() or 0
    tally.status += pc.sum(bad_status).as_py() or 0
    tally.mismatched += pc.sum(any_bad).as_py() or 0
    room = options.examples - len(tally.examples)
    for i in pc.indices_nonzero(any_bad).to_pylist()[: max(room, 0)]:
        status = served[i].as_py()
        if bad_status[i].as_py():
            what, ours, redis = STATUS, expected[i].as_py(), status
        elif bad_event[i].as_py():
            what, ours, redis = view.event_timestamp, batch.column(EVENT_AT)[i], theirs[EVENT_AT][i]
        else:
            what = next(n for n, bad in bad_values.items() if bad[i].as_py())
            ours, redis = batch.column(what)[i], theirs[what][i]
        tally.examples.append(Example(entity_rows[i], what, _py(ours), _py(redis), status))


def _py(value: Any) -> Any:
    return to_python(value) if isinstance(value, pa.Scalar) else value


def _status(result: ReadResult, i: int) -> str:
    if result.statuses[i]:
        return result.statuses[i][0]
    return "not_found" if result.event_at[i] is None else "present"  # no feature asked


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
    """The store's entity count; with every entity checked, how many records it holds for
    entities the warehouse has no row for at the as-of (present or expired alike)."""
    if seen is None:
        return state.rows, None
    total, extra = 0, 0
    for chunk in store.entity_keys(view.name, view.version):
        total += len(chunk)
        unknown = [key for key in chunk if key not in seen]
        for start in range(0, len(unknown), options.batch_size):
            part = unknown[start : start + options.batch_size]
            extra += _held(view, state, store, part, tally, options)
    return total, extra


def _held(
    view: FeatureView,
    state: ViewState,
    store: OnlineStore,
    keys: Sequence[str],
    tally: _Tally,
    options: ParityOptions,
) -> int:
    """How many of these entities (unknown to the warehouse) the store has a record for."""
    rows = [_entity_row(view, key) for key in keys]
    request = ReadRequest(view.name, view.version, tuple(tally.names[1:]))
    result = store.read([request], rows, now=state.as_of)[0]
    held = [i for i in range(len(rows)) if result.event_at[i] is not None]
    for i in held[: max(0, options.examples - len(tally.examples))]:
        tally.examples.append(Example(rows[i], EXTRA, None, result.event_at[i], _status(result, i)))
    return len(held)


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
