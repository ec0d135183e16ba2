"""The Python API: `FeatureStore(...)`: `get_online_features` (Redis) and
`get_historical_features` (training sets through the dbt point-in-time macro, on DuckDB).

Feature references are `<view>[.vN]:<feature>`; with a `project_dir` they resolve through the
dbt manifest (unpinned views mean the project's latest version), else through what Redis holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from featurehouse import training
from featurehouse.api.context import Context
from featurehouse.api.online import OnlineFeatures, assemble
from featurehouse.errors import RegistryError
from featurehouse.lineage.render import lineage_dict
from featurehouse.online import ReadRequest
from featurehouse.refs import ViewRef, parse_feature, parse_ref

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
        planned = self._requests(features)
        requests = [request for _, request in planned]
        results = self._context.store.read(requests, list(entity_rows), now=now)
        return assemble(planned, results, entity_rows, full_feature_names)

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

    def _requests(self, features: Sequence[str]) -> list[tuple[ViewRef, ReadRequest]]:
        """One ReadRequest per view version, with the view as the references name it."""
        if not features:
            raise RegistryError("no features asked for: pass `view[.vN]:feature` references")
        wanted: dict[tuple[str, int | None], tuple[ViewRef, list[str]]] = {}
        registry = self._context.maybe_registry()
        for text in features:
            ref = parse_feature(text.strip())
            if registry is not None:
                view, feature = registry.resolve_feature(text)
                key, name = (view.name, view.version), feature.name
            else:
                state = self._context.online_view(str(ref.view))
                key, name = (state.schema.view, state.schema.version), ref.feature
            _, names = wanted.setdefault(key, (ref.view, []))
            if ref.view.version is not None:  # pinned by any reference: qualified with it
                wanted[key] = (ref.view, names)
            if name not in names:
                names.append(name)
        return [
            (written, ReadRequest(view=v, version=n, features=tuple(f)))
            for (v, n), (written, f) in wanted.items()
        ]
