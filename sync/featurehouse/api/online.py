"""`get_online_features`' answer: per entity row the keys, each feature's value and status,
and each view version's event timestamps, in columns named by the one convention (`refs`)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from featurehouse.online import ReadRequest, ReadResult
from featurehouse.refs import ViewRef, format_view


class Columns(dict[str, list[Any]]):
    """Columns by name. The spelling before the one convention (`<view>.vN__<feature>`,
    `<view>.vN__event_at`) still finds its column, with a DeprecationWarning."""

    def __init__(self, columns: Mapping[str, Any], aliases: Mapping[str, str]) -> None:
        super().__init__(columns)
        self.aliases = dict(aliases)

    def __missing__(self, key: str) -> Any:
        new = self.aliases.get(key)
        if new is None:
            raise KeyError(key)
        warnings.warn(
            f"column {key!r} is now {new!r} (qualified names are `<view>[__vN]__<name>`, "
            "as the reference is written); the old spelling will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return self[new]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self or key in self.aliases else default


@dataclass(frozen=True)
class OnlineFeatures:
    """Per entity row: keys, every requested feature's value and status, event timestamps.

    Columns: the key columns given, then per feature `<name>` (the value) and
    `<name>__status` ("present", "not_found" or "expired"), then per view version
    `<view>[__vN]__event_at`. `<name>` is the feature name, or its qualified name
    `<view>[__vN]__<feature>` (`__vN` when the reference pins the version) when
    `full_feature_names` was asked for or two views serve the same name.
    """

    columns: Columns

    def to_dict(self) -> dict[str, list[Any]]:
        return Columns({n: list(v) for n, v in self.columns.items()}, self.columns.aliases)

    def to_arrow(self) -> pa.Table:
        return pa.table({name: pa.array(values) for name, values in self.columns.items()})

    def rows(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [
            Columns(dict(zip(names, values, strict=True)), self.columns.aliases)
            for values in zip(*self.columns.values(), strict=True)
        ]


def assemble(
    planned: Sequence[tuple[ViewRef, ReadRequest]],
    results: Sequence[ReadResult],
    entity_rows: Sequence[Mapping[str, Any]],
    full_names: bool,
) -> OnlineFeatures:
    key_names: list[str] = []
    for row in entity_rows:
        key_names.extend(k for k in row if k not in key_names)
    columns: dict[str, list[Any]] = {k: [row.get(k) for row in entity_rows] for k in key_names}
    aliases: dict[str, str] = {}
    counts: dict[str, int] = {}
    for result in results:
        for name in result.features:
            counts[name] = counts.get(name, 0) + 1
    for (written, request), result in zip(planned, results, strict=True):
        old = format_view(request.view, result.version)
        for j, name in enumerate(result.features):
            qualified = full_names or counts[name] > 1
            column = written.column(name) if qualified else name
            columns[column] = [values[j] for values in result.values]
            columns[f"{column}__status"] = [statuses[j] for statuses in result.statuses]
            if qualified:
                aliases[f"{old}__{name}"] = column
                aliases[f"{old}__{name}__status"] = f"{column}__status"
        columns[written.column("event_at")] = list(result.event_at)
        aliases[f"{old}__event_at"] = written.column("event_at")
    return OnlineFeatures(Columns(columns, {a: n for a, n in aliases.items() if a != n}))
