"""The Python API: `FeatureStore(...)`: `get_online_features` (Redis) and
`get_historical_features` (training sets through the dbt point-in-time macro, on DuckDB).

Feature references are `<view>[.vN]:<feature>`; with a `project_dir` they resolve through the
dbt manifest (unpinned views mean the project's latest version), else through what Redis holds.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from featurehouse.api import services
from featurehouse.api.context import Context
from featurehouse.api.online import OnlineFeatures, assemble
from featurehouse.errors import RegistryError
from featurehouse.lineage.render import lineage_dict
from featurehouse.online import ReadRequest, ServiceRecord
from featurehouse.online.usage import UsageRecorder
from featurehouse.project.registry import Registry
from featurehouse.refs import FeatureRef, ViewRef, parse_feature, parse_ref

__all__ = ["FeatureStore", "OnlineFeatures"]


class FeatureStore:
    """Online feature reads from Redis (and the dbt project's registry when given)."""

    def __init__(
        self,
        project_dir: str | Path | None = None,
        redis_url: str | None = None,
        target: str | None = None,
        prefix: str | None = None,
    ) -> None:
        self._context = Context(
            project_dir=None if project_dir is None else Path(project_dir),
            target_name=target,
            redis_url_flag=redis_url,
            prefix_flag=prefix,
        )
        self._usage = UsageRecorder()
        # usage still counted is written when the store goes away or the process exits
        weakref.finalize(self, services.flush_opened, self._usage, self._context)

    @classmethod
    def from_context(cls, context: Context) -> FeatureStore:
        """A store on settings already resolved (the CLI's)."""
        store = cls.__new__(cls)
        store._context = context
        store._usage = UsageRecorder()
        weakref.finalize(store, services.flush_opened, store._usage, context)
        return store

    @property
    def redis_url(self) -> str:
        """The Redis URL in use, password redacted."""
        return self._context.redis_shown

    def describe(self, view: str) -> dict[str, Any]:
        """A view version (`name` or `name.vN`) as the project and Redis know it, with its
        lineage: per feature the seed/source columns behind it and the full tree. Works with
        Redis alone (the lineage `featurehouse sync` stored)."""
        return self._context.describe(view)

    def lineage(self, ref: str) -> dict[str, Any]:
        """`view[.vN]` or `view[.vN]:feature` -> per feature its sources and lineage tree."""
        view_ref, feature = parse_ref(ref.strip())
        found = self._context.view_lineage(str(view_ref))
        return lineage_dict(found, [feature] if feature else found.feature_names())

    def get_online_features(
        self,
        features: Sequence[str] | None = None,
        entity_rows: Sequence[Mapping[str, Any]] = (),
        *,
        service: str | None = None,
        full_feature_names: bool = False,
        now: datetime | None = None,
    ) -> OnlineFeatures:
        """Values, statuses and event timestamps of `features` for each of `entity_rows`.

        `features`: `["feat_customer__orders:count_orders_30d", "feat_x.v1:y", "feat_z:*"]`
        (`view:*`: every feature of the view), or `service="churn_model"` for a feature
        service's (its columns in its order, then their `__status` columns); `entity_rows`:
        `[{"customer_id": 42}, ...]` with every key the views need. `now`: answer at this time
        (naive UTC), not before the sync's as-of; default the store's clock
        (`online.clock.read_clock_us`). Reads are counted (usage history) and flushed every few
        seconds.
        """
        record = self._service(service, features)
        refs = record.refs.refs if record is not None else features
        planned = self._requests(refs or ())
        requests = [request for _, request in planned]
        results = self._context.store.read(requests, list(entity_rows), now=now)
        if record is None:
            answer = assemble(planned, results, entity_rows, full_feature_names)
        else:
            answer = services.assemble_service(
                record, planned, results, entity_rows, full_feature_names
            )
        services.count(self._usage, record, results, entity_rows, answer)
        if self._usage.due():
            services.flush_quietly(self._usage, self._context.store)
        return answer

    def flush_usage(self) -> None:
        """Write the usage counted so far now (it is also written every few seconds, and
        when the store is garbage-collected or the process exits)."""
        self._usage.flush(self._context.store)

    def feature_service(self, name: str) -> ServiceRecord:
        """A feature service: from the dbt project when at hand, else as Redis holds it
        (re-read at most every few seconds, and at once for a name not seen yet)."""
        registry = self._context.maybe_registry()
        if registry is not None:
            return services.find_record(self._context.services(), name, "the dbt project")
        cached = self.__dict__.get("_published")
        if cached is None or name not in cached[1] or time.monotonic() - cached[0] > 10:
            records = self._context.store.services()
            self._published = (time.monotonic(), {r.name: r for r in records})
        found = self._published[1]
        return services.find_record(list(found.values()), name, "the online store")

    def _service(self, name: str | None, features: Sequence[str] | None) -> ServiceRecord | None:
        if name is None:
            return None
        if features:
            raise RegistryError("pass features or service=, not both")
        return self.feature_service(name)

    def get_historical_features(
        self,
        spine: Any,
        features: Sequence[str] | None = None,
        *,
        service: str | None = None,
        as_known_at: bool = False,
        timestamp_column: str | None = None,
        keep_order: bool = True,
    ) -> pa.Table:
        """Every spine row once, with each feature's value as of the row's timestamp.

        `spine`: a pyarrow.Table, a pandas DataFrame, a Parquet path (`pathlib.Path` or a str
        ending in `.parquet`) or a SQL query on the DuckDB target; it holds the views' entity
        key columns and one timestamp column (`timestamp_column` when it has several).
        `features`: `["feat_customer__orders.v1:count_orders_7d", "feat_x:y", "feat_z:*"]`.
        Output: the spine's columns in its row order, then per reference `<view>[__vN]__<feature>`
        and `<view>[__vN]__<event timestamp>` (when the matched row took effect, null = none).
        `as_known_at`: only rows already loaded (created timestamp <= the spine timestamp).
        `service="churn_model"`: a feature service's features, named and ordered as its
        online read names them (the spine's columns, the service's columns, then each view's
        event timestamp column).
        `keep_order=False`: the rows in any order, for a set that is shuffled or joined on its
        columns anyway: without the sort that keeps the spine's (faster, less memory: README,
        "Output").
        """
        return self.stream_historical_features(
            spine,
            features,
            service=service,
            as_known_at=as_known_at,
            timestamp_column=timestamp_column,
            keep_order=keep_order,
        ).read_all()

    def stream_historical_features(
        self,
        spine: Any,
        features: Sequence[str] | None = None,
        *,
        service: str | None = None,
        as_known_at: bool = False,
        timestamp_column: str | None = None,
        batch_size: int = 100_000,
        keep_order: bool = True,
    ) -> pa.RecordBatchReader:
        """`get_historical_features` as record batches, for results larger than memory."""
        from featurehouse import training  # here: a sync or an online read never loads it

        context = self._context
        record = self._service(service, features)
        prepared = training.prepare(
            context.project,
            context.target,
            context.artifacts,
            context.registry,
            spine,
            record.refs.refs if record is not None else features or (),
            timestamp_column=timestamp_column,
            as_known_at=as_known_at,
            keep_order=keep_order,
        )
        reader = training.execute(context.project, context.target, prepared, batch_size)
        if record is None:
            return reader
        return training.as_service(reader, prepared, record.refs)

    def _requests(self, features: Sequence[str]) -> list[tuple[ViewRef, ReadRequest]]:
        """One ReadRequest per view version, with the view as the references name it."""
        if not features:
            raise RegistryError("no features asked for: pass `view[.vN]:feature` references")
        wanted: dict[tuple[str, int | None], tuple[ViewRef, list[str]]] = {}
        registry = self._context.maybe_registry()
        for text in features:
            ref = parse_feature(text.strip())
            key, found = self._features_of(ref, registry)
            _, names = wanted.setdefault(key, (ref.view, []))
            if ref.view.version is not None:  # pinned by any reference: qualified with it
                wanted[key] = (ref.view, names)
            names.extend(name for name in found if name not in names)
        return [
            (written, ReadRequest(view=v, version=n, features=tuple(f)))
            for (v, n), (written, f) in wanted.items()
        ]

    def _features_of(
        self, ref: FeatureRef, registry: Registry | None
    ) -> tuple[tuple[str, int | None], list[str]]:
        """The view version a reference names and its features (`view:*`: all of them)."""
        if registry is not None:
            view = registry.resolve(str(ref.view))
            if ref.feature == "*":
                return (view.name, view.version), [f.name for f in view.features]
            return (view.name, view.version), [view.feature(ref.feature).name]
        state = self._context.online_view(str(ref.view))
        names = list(state.schema.feature_names) if ref.feature == "*" else [ref.feature]
        return (state.schema.view, state.schema.version), names
