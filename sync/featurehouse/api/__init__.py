"""The Python API: `FeatureStore(...)`: `get_online_features` (Redis) and
`get_historical_features` (training sets through the dbt point-in-time macro, on DuckDB).

Feature references are `<view>[.vN]:<feature>`; with a `project_dir` they resolve through the
dbt manifest (unpinned views mean the project's latest version), else through what Redis holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from featurehouse import training
from featurehouse.api.context import Context
from featurehouse.errors import RegistryError
from featurehouse.lineage.render import lineage_dict
from featurehouse.online import ReadRequest, ReadResult


@dataclass(frozen=True)
class OnlineFeatures:
    """Per entity row: keys, every requested feature's value and status, event timestamps.

    Columns: the key columns given, then per feature `<name>` (the value) and
    `<name>__status` ("present", "not_found" or "expired"), then per view version
    `<view>[.vN]__event_at`. `<name>` is the feature name, or `<view>[.vN]__<feature>` when
    `full_feature_names` was asked for or two views serve the same name.
    """

    columns: Mapping[str, list[Any]]

    def to_dict(self) -> dict[str, list[Any]]:
        return {name: list(values) for name, values in self.columns.items()}

    def to_arrow(self) -> pa.Table:
        return pa.table({name: pa.array(values) for name, values in self.columns.items()})

    def rows(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [
            dict(zip(names, values, strict=True))
            for values in zip(*self.columns.values(), strict=True)
        ]


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
        view_ref, _, feature = ref.partition(":")
        found = self._context.view_lineage(view_ref)
        return lineage_dict(found, [feature] if feature else found.feature_names())

    def get_online_features(
        self,
        features: Sequence[str],
        entity_rows: Sequence[Mapping[str, Any]],
        *,
        full_feature_names: bool = False,
        now: datetime | None = None,
    ) -> OnlineFeatures:
        """Values, statuses and event timestamps of `features` for each of `entity_rows`.

        `features`: `["feat_customer__orders:count_orders_30d", "feat_x.v1:y"]`;
        `entity_rows`: `[{"customer_id": 42}, ...]` with every key the views need.
        """
        requests = self._requests(features)
        results = self._context.store.read(requests, list(entity_rows), now=now)
        return _assemble(requests, results, entity_rows, full_feature_names)

    def get_historical_features(
        self,
        spine: Any,
        features: Sequence[str],
        *,
        as_known_at: bool = False,
        timestamp_column: str | None = None,
    ) -> pa.Table:
        """Every spine row once, with each feature's value as of the row's timestamp.

        `spine`: a pyarrow.Table, a pandas DataFrame, a Parquet path (`pathlib.Path` or a str
        ending in `.parquet`) or a SQL query on the DuckDB target; it holds the views' entity
        key columns and one timestamp column (`timestamp_column` when it has several).
        `features`: `["feat_customer__orders.v1:count_orders_7d", "feat_x:y", "feat_z:*"]`.
        Output: the spine's columns in its row order, then per reference `<view>[__vN]__<feature>`
        and `<view>[__vN]__<event timestamp>` (when the matched row took effect, null = none).
        `as_known_at`: only rows already loaded (created timestamp <= the spine timestamp).
        """
        return self.stream_historical_features(
            spine, features, as_known_at=as_known_at, timestamp_column=timestamp_column
        ).read_all()

    def stream_historical_features(
        self,
        spine: Any,
        features: Sequence[str],
        *,
        as_known_at: bool = False,
        timestamp_column: str | None = None,
        batch_size: int = 100_000,
    ) -> pa.RecordBatchReader:
        """`get_historical_features` as record batches, for results larger than memory."""
        context = self._context
        prepared = training.prepare(
            context.project,
            context.target,
            context.artifacts,
            context.registry,
            spine,
            features,
            timestamp_column=timestamp_column,
            as_known_at=as_known_at,
        )
        return training.execute(context.project, context.target, prepared, batch_size)

    def _requests(self, features: Sequence[str]) -> list[ReadRequest]:
        if not features:
            raise RegistryError("no features asked for: pass `view[.vN]:feature` references")
        wanted: dict[tuple[str, int | None], list[str]] = {}
        registry = self._context.maybe_registry()
        for ref in features:
            if registry is not None:
                view, feature = registry.resolve_feature(ref)
                key, name = (view.name, view.version), feature.name
            else:
                view_ref, sep, name = ref.partition(":")
                if not sep or not name:
                    raise RegistryError(f"{ref!r} is not a feature reference; use view[.vN]:name")
                state = self._context.online_view(view_ref)
                key = (state.schema.view, state.schema.version)
            names = wanted.setdefault(key, [])
            if name not in names:
                names.append(name)
        return [ReadRequest(view=v, version=n, features=tuple(f)) for (v, n), f in wanted.items()]


def _assemble(
    requests: Sequence[ReadRequest],
    results: Sequence[ReadResult],
    entity_rows: Sequence[Mapping[str, Any]],
    full_names: bool,
) -> OnlineFeatures:
    key_names: list[str] = []
    for row in entity_rows:
        key_names.extend(k for k in row if k not in key_names)
    columns: dict[str, list[Any]] = {k: [row.get(k) for row in entity_rows] for k in key_names}
    counts: dict[str, int] = {}
    for result in results:
        for name in result.features:
            counts[name] = counts.get(name, 0) + 1
    for request, result in zip(requests, results, strict=True):
        ref = request.view if result.version is None else f"{request.view}.v{result.version}"
        for j, name in enumerate(result.features):
            column = f"{ref}__{name}" if full_names or counts[name] > 1 else name
            columns[column] = [values[j] for values in result.values]
            columns[f"{column}__status"] = [statuses[j] for statuses in result.statuses]
        columns[f"{ref}__event_at"] = list(result.event_at)
    return OnlineFeatures(columns=columns)
