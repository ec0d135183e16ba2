"""The rules of a model's `config.meta.feature_store`, checked in one pass.

The same rules run in Jinja when a macro resolves a view (`featurehouse._fh_check_feature_store`
in macros/features/_fh_feature_store_meta.sql): the two are one definition written twice, and
sync/tests/project/test_feature_store_rules.py renders the same inputs through both and asserts
the same outcome, message for message. Column names match case-insensitively and come out in
lower case (what unquoted SQL sees); durations are a positive `<int><s|m|h|d|w>`, surrounding
blanks ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from featurehouse.types import FEATURE_TYPES, KEY_TYPES, online_type

_DURATION = re.compile(r"^(?P<n>[0-9]+)(?P<unit>[smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
META = "meta.feature_store"


@dataclass(frozen=True)
class CheckedSpec:
    """A feature_store block checked against the model's columns; `problems` lists
    (key, message) pairs, every other field is what the block says (None when unusable)."""

    entity: str | None
    keys: tuple[str, ...]
    event_timestamp: str | None
    created_timestamp: str | None
    ttl: str | None
    ttl_seconds: int | None
    online: bool
    features: tuple[str, ...]
    problems: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        """The form the Jinja check returns (lists, not tuples)."""
        return {
            "entity": self.entity,
            "keys": list(self.keys),
            "event_timestamp": self.event_timestamp,
            "created_timestamp": self.created_timestamp,
            "ttl": self.ttl,
            "ttl_seconds": self.ttl_seconds,
            "online": self.online,
            "features": list(self.features),
            "problems": [list(p) for p in self.problems],
        }


def check_feature_store(
    spec: object, columns: Mapping[str, str | None], *, stand_in: bool = False
) -> CheckedSpec:
    """Check `spec` (the feature_store block) against `columns` (declared name -> contract
    data_type, in order). `stand_in`: a dbt unit test's stand-in for a view, which carries
    column names and keys, timestamps and TTL only: data types and entity are not checked."""
    if not isinstance(spec, Mapping):
        return CheckedSpec(
            None, (), None, None, None, None, True, (), ((META, "must be a mapping"),)
        )
    problems: list[tuple[str, str]] = []
    lower = {name.lower(): name for name in columns}
    if not columns:
        problems.append(("columns", "documents no columns: list each one with a data_type"))
    types = None if stand_in else columns
    keys = _keys(spec.get("keys"), lower, types, problems)
    event = _timestamp(spec, "event_timestamp", lower, types, problems, required=True)
    created = _timestamp(spec, "created_timestamp", lower, types, problems, required=False)
    ttl, ttl_seconds = _ttl(spec.get("ttl"), problems)
    entity = spec.get("entity")
    entity = entity.strip() if isinstance(entity, str) else ""
    if not entity and not stand_in:
        problems.append((f"{META}.entity", "missing: name the entity (e.g. `entity: customer`)"))
    online = spec.get("online", True)
    if not isinstance(online, bool):
        problems.append((f"{META}.online", f"{_repr(online)} is not true or false"))
    reserved = {*keys, event, created}
    features = _features(columns, reserved, stand_in, problems)
    return CheckedSpec(
        entity=entity or None,
        keys=tuple(keys),
        event_timestamp=event,
        created_timestamp=created,
        ttl=ttl,
        ttl_seconds=ttl_seconds,
        online=online if isinstance(online, bool) else True,
        features=tuple(features),
        problems=tuple(problems),
    )


def parse_ttl(value: object) -> int | None:
    """`90m`, `36h`, `1d`, `2w` (blanks around ignored) -> seconds; None -> None (no TTL).
    Raises ValueError naming the value for anything else, `0d` included."""
    problems: list[tuple[str, str]] = []
    _, seconds = _ttl(value, problems)
    if problems:
        raise ValueError(problems[0][1])
    return seconds


def _ttl(value: object, problems: list[tuple[str, str]]) -> tuple[str | None, int | None]:
    if value is None:
        return None, None
    match = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if match is None or int(match["n"]) == 0:
        problems.append(
            (
                f"{META}.ttl",
                f"{_repr(value)} is not a duration: write a positive <int><s|m|h|d|w> such as "
                "90m, 36h, 1d or 2w, or null",
            )
        )
        return None, None
    return f"{match['n']}{match['unit']}", int(match["n"]) * _SECONDS[match["unit"]]


def _keys(
    raw: object,
    lower: Mapping[str, str],
    types: Mapping[str, str | None] | None,
    problems: list[tuple[str, str]],
) -> list[str]:
    raw = [raw] if isinstance(raw, str) else raw
    if not isinstance(raw, list) or not raw:
        problems.append(
            (f"{META}.keys", "missing: list the entity key column(s), e.g. `keys: [customer_id]`")
        )
        return []
    keys = []
    for name in map(str, raw):
        declared = _column(f"{META}.keys", name, lower, problems)
        if declared is None:
            continue
        data_type = None if types is None else types[declared]
        if types is not None and online_type(data_type) not in KEY_TYPES:
            problems.append(
                (
                    f"{META}.keys",
                    f"column {_repr(name)} has type {_repr(data_type)}; keys must be integers "
                    "or strings",
                )
            )
            continue
        keys.append(declared.lower())
    return keys


def _timestamp(
    spec: Mapping[str, Any],
    key: str,
    lower: Mapping[str, str],
    types: Mapping[str, str | None] | None,
    problems: list[tuple[str, str]],
    *,
    required: bool,
) -> str | None:
    raw = spec.get(key)
    name = "" if raw is None else str(raw).strip()
    if not name:
        if required:
            problems.append(
                (
                    f"{META}.{key}",
                    "missing: name the timestamp column (e.g. `event_timestamp: effective_at`)",
                )
            )
        return None
    declared = _column(f"{META}.{key}", name, lower, problems)
    if declared is None:
        return None
    if types is not None and online_type(types[declared]) != "timestamp":
        problems.append(
            (
                f"{META}.{key}",
                f"column {_repr(name)} has type {_repr(types[declared])}, not timestamp",
            )
        )
    return declared.lower()


def _column(
    key: str, name: str, lower: Mapping[str, str], problems: list[tuple[str, str]]
) -> str | None:
    declared = lower.get(name.lower())
    if declared is None:
        known = ", ".join(lower.values()) or "none"
        problems.append((key, f"unknown column {_repr(name)} (columns: {known})"))
    return declared


def _features(
    columns: Mapping[str, str | None],
    reserved: set[str | None],
    stand_in: bool,
    problems: list[tuple[str, str]],
) -> list[str]:
    features: list[str] = []
    seen: dict[str, str] = {}
    for name, data_type in columns.items():
        folded = name.lower()
        if folded in reserved:
            continue
        if not stand_in and data_type is None:
            problems.append(
                (
                    "columns",
                    f"column {_repr(name)} has no data_type: declare it (contract enforced)",
                )
            )
        elif not stand_in and online_type(data_type) is None:
            supported = ", ".join(FEATURE_TYPES)
            problems.append(
                (
                    "columns",
                    f"column {_repr(name)} has unsupported type {_repr(data_type)} "
                    f"(supported: {supported})",
                )
            )
        elif folded in seen or folded.startswith("__"):
            clash = seen.get(folded, "a reserved name")
            problems.append(
                ("columns", f"duplicate feature name {_repr(name)} (clashes with {_repr(clash)})")
            )
        else:
            features.append(folded)
        seen.setdefault(folded, name)
    return features


def _repr(value: object) -> str:
    """Python's repr for plain values, as the Jinja check writes them (`'text'`, `5`, `None`)."""
    return f"'{value}'" if isinstance(value, str) else str(value)
