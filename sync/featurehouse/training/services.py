"""A training set by feature service: the point-in-time result renamed and reordered so its
feature columns are the service's online read columns, in the service's order."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from featurehouse.errors import TrainingSetError
from featurehouse.refs import ServiceRefs
from featurehouse.training.sets import Prepared


def service_columns(prepared: Prepared, refs: ServiceRefs) -> list[tuple[str, str]]:
    """(output column of the join, service column name) for each feature of the service."""
    names = refs.columns(False)
    pairs = []
    for ref, name in zip(refs.features, names, strict=True):
        pinned = ref.view.version is not None
        request = next(
            (
                r
                for r in prepared.requests
                if r.view.name == ref.view.name and r.pinned == pinned and ref.feature in r.features
            ),
            None,
        )
        if request is None:
            raise TrainingSetError(f"feature service {refs.name}: {ref} was not joined")
        pairs.append((request.prefix + ref.feature, name))
    return pairs


def as_service(
    reader: pa.RecordBatchReader, prepared: Prepared, refs: ServiceRefs
) -> pa.RecordBatchReader:
    """Spine columns, the service's columns in its order, then each view's event time."""
    pairs = service_columns(prepared, refs)
    produced = {c for r in prepared.requests for c in r.columns}
    schema = reader.schema
    spine = [n for n in schema.names if n not in produced]
    events = [r.event_column for r in prepared.requests]
    order = [*spine, *(source for source, _ in pairs), *events]
    names = [*spine, *(name for _, name in pairs), *events]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise TrainingSetError(
            f"feature service {refs.name}: output column(s) {', '.join(clash)} clash with "
            "spine columns: rename the spine columns"
        )
    fields = [
        schema.field(source).with_name(name) for source, name in zip(order, names, strict=True)
    ]
    out = pa.schema(fields, metadata=schema.metadata)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield pa.RecordBatch.from_arrays([batch.column(c) for c in order], schema=out)

    return pa.RecordBatchReader.from_batches(out, batches())
