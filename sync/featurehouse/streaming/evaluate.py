"""Recompute streaming views for the entities a batch touched, in the consumer's engine.

Per view: the chain of its compiled models over the source's rows, restricted to what the
touched entities depend on (`lineage.restrict`, proved from the SQL), its latest rows picked
by the latest_feature_rows macro at the consumer's clock, projected and encoded exactly as
the sync does (`read_latest`). Nothing of a view's logic is written in Python.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from featurehouse.errors import StreamError
from featurehouse.lineage import chain as chains
from featurehouse.lineage import closure_sql, restrict
from featurehouse.lineage.sql import dialect_of
from featurehouse.project.registry import FeatureView
from featurehouse.project.settings import Project, Target
from featurehouse.streaming.compile import CLOCK, CompiledChain
from featurehouse.streaming.spec import StreamSource
from featurehouse.warehouse.duckdb import Engine
from featurehouse.warehouse.latest import arrow_schema, read_latest

log = logging.getLogger(__name__)
BATCH = "fh_batch"  # the source's rows in the warehouse, copied
LANDED = "fh_landed"  # the events landed so far
ALL = "fh_all"  # both: what a dbt build of the source sees
TOUCHED = "fh_touched"  # the keys to recompute
NEW = "fh_new"  # a batch's new rows


@dataclass(frozen=True)
class ViewPlan:
    """How one view is recomputed: the proved restriction and the two queries."""

    view: FeatureView
    restriction: restrict.Restriction
    rows_sql: str  # the view's rows of the TOUCHED entities (of all: not proved) at $as_of
    rows_table: str  # where they are put for latest_sql
    latest_sql: str  # the sync's latest_feature_rows, reading rows_table
    affected_sql: str | None  # keys whose rows NEW may change (None: every entity may)

    @property
    def keys(self) -> list[str]:
        return [k.name for k in self.view.keys]


class Evaluator:
    """The engine's copies and each view's plan; `refresh` re-copies after a dbt build."""

    def __init__(
        self,
        engine: Engine,
        project: Project,
        target: Target,
        source: StreamSource,
        chains_: Sequence[CompiledChain],
    ) -> None:
        self.engine = engine
        self.project = project
        self.target = target
        self.source = source
        self.dialect = dialect_of(target.type)
        self.queries = {
            c.view.ref: chains.chain_query(c.models, c.source_relations, self.dialect)
            for c in chains_
        }
        self.chains = {c.view.ref: c for c in chains_}
        self.sides = {
            relation: f"fh_side_{i}"
            for i, relation in enumerate(
                dict.fromkeys(r for q in self.queries.values() for r in chains.base_relations(q))
            )
        }
        self.plans: dict[str, ViewPlan] = {}

    def refresh(self) -> None:
        """Copy the source's rows and the side inputs from the warehouse; plan each view."""
        relations = {BATCH: _key(self.source)} | {name: r for r, name in self.sides.items()}
        self.engine.copy_from(self.project, self.target, relations)
        if LANDED not in {name for name, _ in self._tables()}:
            self.engine.execute(f"create table {LANDED} as select * from {BATCH} limit 0")
        self.engine.execute(
            f"create or replace view {ALL} as select * from {BATCH} "
            f"union all by name select * from {LANDED}"
        )
        self.plans = {ref: self._plan(self.chains[ref]) for ref in self.chains}

    def source_schema(self) -> pa.Schema:
        return self.engine.query(f"select * from {BATCH} limit 0").schema

    def event_timestamp(self) -> str:
        """The source column every view's event timestamp is computed from (declared in
        the stream, else found in the compiled SQL)."""
        if self.source.event_timestamp:
            return self.source.event_timestamp
        schema = {chains.SOURCE_TABLE: [n for n, _ in self.engine.columns(BATCH)]}
        schema |= {r: [n for n, _ in self.engine.columns(name)] for r, name in self.sides.items()}
        found: set[str] = set()
        for ref, query in self.queries.items():
            column = self.chains[ref].view.event_timestamp
            found |= chains.value_sources(query, column, schema, self.dialect)
        if len(found) != 1:
            views = ", ".join(self.chains)
            raise StreamError(
                f"{views} (meta.feature_store.stream.event_timestamp): cannot tell which column "
                f"of {self.source.name} holds the event time (found: {sorted(found) or 'none'}); "
                "set it"
            )
        return found.pop()

    def affected(self, plan: ViewPlan, new_rows: pa.Table) -> pa.Table | None:
        """Keys of the entities whose rows `new_rows` may change; None: all of them."""
        if plan.affected_sql is None:
            return None
        with self.engine.registered(NEW, new_rows):
            return self.engine.query(plan.affected_sql)

    def latest(
        self, plan: ViewPlan, keys: pa.Table | None, as_of: datetime, batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        """The recomputed latest rows of those entities (of all when the restriction is not
        proved), in `arrow_schema(view)`, the shape a sync publishes: the chain's
        rows go to a table, the sync's own latest_feature_rows picks from it."""
        if keys is None:
            keys = _no_keys(plan)
        with self.engine.registered(TOUCHED, keys):
            self.engine.execute(
                f"create or replace table {plan.rows_table} as {plan.rows_sql}", {"as_of": as_of}
            )
        yield from read_latest(
            self.engine.warehouse(), plan.view, plan.latest_sql, as_of, batch_size=batch_size
        )

    def _plan(self, compiled: CompiledChain) -> ViewPlan:
        view = compiled.view
        query = chains.swap_tables(
            self.queries[view.ref],
            {r: chains.exp_table(name) for r, name in self.sides.items()},
        )
        schema = self._schema()
        found = restrict.restriction(query, [k.name for k in view.keys], schema, self.dialect)
        if not found.proved:
            log.warning(
                "%s: recomputing every entity on each batch: restricting to the touched ones "
                "is not proved safe (%s)", view.ref, found.reason,
            )  # fmt: skip
        keys = [k.name for k in view.keys]
        source_sql = closure_sql.restricted_sql(found, ALL, TOUCHED, keys, self.dialect)
        rows_sql = chains.view_rows_sql(
            query, source_sql, keys, TOUCHED if found.proved else None, self.dialect, CLOCK
        )
        table = "fh_rows__" + re.sub(r"\W", "_", view.ref)
        latest_sql = chains.reading(compiled.latest_sql, [_relation(view)], table, self.dialect)
        affected = (
            closure_sql.affected_sql(found, ALL, NEW, keys, self.dialect) if found.proved else None
        )
        return ViewPlan(view, found, rows_sql, table, latest_sql, affected)

    def _schema(self) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
        """The source stand-in's and the side inputs' columns, for `restrict`."""
        catalog, schema, table = chains.SOURCE_TABLE
        found = {catalog: {schema: {table: dict(self.engine.columns(BATCH))}}}
        for name in self.sides.values():
            table = chains.exp_table(name)
            found.setdefault(table.catalog, {}).setdefault(table.db, {})[name] = dict(
                self.engine.columns(name)
            )
        return found

    def _tables(self) -> list[tuple[str, str]]:
        rows = self.engine.query("select table_name, table_type from information_schema.tables")
        return list(zip(rows.column(0).to_pylist(), rows.column(1).to_pylist(), strict=True))


def _no_keys(plan: ViewPlan) -> pa.Table:
    schema = arrow_schema(plan.view)
    return pa.table({k: pa.array([], schema.field(k).type) for k in plan.keys})


def _key(source: StreamSource) -> tuple[str, ...]:
    r = source.relation
    return tuple(p for p in (r.database, r.schema, r.alias) if p)


def _relation(view: FeatureView) -> tuple[str, ...]:
    r = view.relation
    return chains.relation_key(r.database, r.schema, r.alias)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def keys_table(view: FeatureView, rows: Sequence[Mapping[str, object]]) -> pa.Table:
    """Explicit entity keys as a table (tests, `--entities`)."""
    names = [k.name for k in view.keys]
    return pa.table({n: [r[n] for r in rows] for n in names})
