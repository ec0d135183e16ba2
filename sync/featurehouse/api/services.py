"""Reads by feature service: a service expands into its references, read by the same path as a
list of references, answered in the service's column order; usage counted on the way."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from featurehouse.api.online import Columns, OnlineFeatures
from featurehouse.errors import FeaturehouseError, RegistryError
from featurehouse.online import OnlineStore, ReadRequest, ReadResult, ServiceRecord
from featurehouse.online.usage import LoggedRow, UsageRecorder
from featurehouse.refs import ViewRef, format_view

log = logging.getLogger(__name__)


def find_record(records: Sequence[ServiceRecord], name: str, where: str) -> ServiceRecord:
    for record in records:
        if record.name == name:
            return record
    known = ", ".join(r.name for r in records) or "none"
    raise RegistryError(
        f"no feature service named {name!r} in {where} (feature services: {known}): declare "
        "it in dbt (an exposure of type ml with config.meta.feature_service), then "
        "`featurehouse sync`"
    )


def assemble_service(
    service: ServiceRecord,
    planned: Sequence[tuple[ViewRef, ReadRequest]],
    results: Sequence[ReadResult],
    entity_rows: Sequence[Mapping[str, Any]],
    full_names: bool,
) -> OnlineFeatures:
    """Keys, then the service's feature columns in its order, then `<column>__status` in the
    same order, then `<view>[__vN]__event_at` per view version read."""
    key_names = list(dict.fromkeys(k for row in entity_rows for k in row))
    columns: dict[str, list[Any]] = {k: [row.get(k) for row in entity_rows] for k in key_names}
    names = service.refs.columns(full_names)
    where = _positions(planned, results)
    statuses: dict[str, list[str]] = {}
    for name, ref in zip(names, service.refs.features, strict=True):
        r, j = where[(ref.view.name, ref.view.version, ref.feature)]
        columns[name] = [values[j] for values in results[r].values]
        statuses[f"{name}__status"] = [s[j] for s in results[r].statuses]
    columns.update(statuses)
    for (written, _), result in zip(planned, results, strict=True):
        columns[written.column("event_at")] = list(result.event_at)
    return OnlineFeatures(Columns(columns, {}))


def _positions(
    planned: Sequence[tuple[ViewRef, ReadRequest]], results: Sequence[ReadResult]
) -> dict[tuple[str, int | None, str], tuple[int, int]]:
    """(view, version as written, feature) -> (result, feature index); an unpinned reference
    finds its feature in the view's request whatever version it resolved to."""
    found: dict[tuple[str, int | None, str], tuple[int, int]] = {}
    for r, ((written, _), result) in enumerate(zip(planned, results, strict=True)):
        for j, feature in enumerate(result.features):
            found[(result.view, result.version, feature)] = (r, j)
            found.setdefault((result.view, written.version, feature), (r, j))
            found.setdefault((result.view, None, feature), (r, j))
    return found


def count(
    recorder: UsageRecorder,
    service: ServiceRecord | None,
    results: Sequence[ReadResult],
    entity_rows: Sequence[Mapping[str, Any]],
    answer: OnlineFeatures | None = None,
) -> None:
    """Count one read (and sample its rows for the service's feature log)."""
    views = [format_view(r.view, r.version) for r in results]
    recorder.record(service.name if service else None, views, len(entity_rows))
    if service is not None and service.sample_rate and answer is not None:
        recorder.sample(
            service.sample_rate, len(entity_rows), lambda rows: _logged(service, answer, rows)
        )


def _logged(service: ServiceRecord, answer: OnlineFeatures, chosen: list[int]) -> list[LoggedRow]:
    columns = answer.columns
    names = service.refs.columns(False)
    if names and names[0] not in columns:
        names = service.refs.columns(True)
    keys = [c for c in columns if c not in names and not c.endswith(("__status", "__event_at"))]
    now = time.time()
    return [
        LoggedRow(
            service.name,
            now,
            {k: columns[k][i] for k in keys},
            {n: columns[n][i] for n in names if n in columns},
            {n: columns[f"{n}__status"][i] for n in names if f"{n}__status" in columns},
        )
        for i in chosen
    ]


def flush_opened(recorder: UsageRecorder, context: Any) -> None:
    """At exit: flush into the store the context opened, if it opened one."""
    flush_quietly(recorder, context.opened_store)


def flush_quietly(recorder: UsageRecorder, store: OnlineStore | None) -> None:
    """Flush usage; a failure is logged and the counts kept (usage never fails a read)."""
    if store is None:
        return
    try:
        recorder.flush(store)
    except FeaturehouseError as exc:
        log.warning("feature usage not recorded yet (kept for the next flush): %s", exc)
