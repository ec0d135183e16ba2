"""`featurehouse init --view MODEL`: plan a feature view over an existing model, from what dbt
knows (the model's columns in the warehouse, its `unique` tests) and a few naming guesses, each
with the reason given, then write it as a versioned model (`<name>_v1.sql` + `<name>.yml`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from featurehouse.errors import ConfigError
from featurehouse.project.manifest import Manifest, Node
from featurehouse.types import KEY_TYPES, online_type

# Warehouse types that become a timestamp feature (or event timestamp) through a cast.
_TIMESTAMP_CASTS = ("date", "datetime", "timestamptz", "timestamp with time zone")
_CANONICAL = {"int64": ("bigint", "int8"), "float64": ("double", "double precision", "float8")}
# Event timestamp names, most likely first: when a row's values took effect or last changed.
_TIMESTAMP_HINTS = (
    re.compile(r"^(updated_at|.*_updated_at|valid_from|effective_at|as_of)$"),
    re.compile(r"^(last|latest|most_recent|max)_.*|.*_(last|latest)_.*"),
    re.compile(r".*_(at|date|time|ts)$"),
)
_COMBINATION_TESTS = ("unique_combination", "unique_combination_of_columns")


@dataclass(frozen=True)
class WarehouseColumn:
    """A column of the built model as the warehouse reports it (via dbt)."""

    name: str
    data_type: str


@dataclass(frozen=True)
class ViewColumn:
    """A column of the scaffolded view: its SELECT expression and contract type."""

    name: str
    expression: str
    data_type: str
    note: str = ""


@dataclass(frozen=True)
class Guess:
    """A scaffolding decision and how it was made."""

    what: str
    value: str
    reason: str


@dataclass(frozen=True)
class ViewPlan:
    """Everything the files of a scaffolded feature view say."""

    name: str
    model: Node
    entity: str
    keys: tuple[str, ...]
    event_timestamp: str
    columns: tuple[ViewColumn, ...]
    guesses: tuple[Guess, ...]
    left_out: tuple[str, ...]


def columns_query(model: Node) -> str:
    """The Jinja that makes dbt print the built model's columns and the adapter's double type
    (rendered by `dbt compile --inline`: dbt's introspection, not ours)."""
    ref = f"ref('{model.name}'" + (f", v={model.version})" if model.version else ")")
    return (
        f"{{%- set found = [] -%}}{{%- for c in adapter.get_columns_in_relation({ref}) -%}}"
        "{%- do found.append({'name': c.name, 'data_type': c.data_type}) -%}{%- endfor -%}"
        "{{ tojson({'columns': found, 'double': featurehouse.type_double()}) }}"
    )


def parse_columns(compiled: str, model: Node) -> tuple[list[WarehouseColumn], str]:
    """The columns and double type out of columns_query's rendered text."""
    try:
        doc = json.loads(compiled.strip())
    except ValueError as exc:
        raise ConfigError(f"unexpected output reading the columns of {model.label}") from exc
    columns = [WarehouseColumn(str(c["name"]), str(c["data_type"])) for c in doc["columns"]]
    if not columns:
        raise ConfigError(
            f"{model.label} has no relation in the warehouse yet: run "
            f"`dbt build --select {model.label}`, then init --view again"
        )
    return columns, str(doc["double"])


def find_model(manifest: Manifest, name: str) -> Node:
    """The model `name` (its latest version when versioned), or an error listing near names."""
    found = [n for n in manifest.models() if n.name == name]
    if not found:
        near = sorted(n.name for n in manifest.models() if name.lower() in n.name.lower())
        hint = f" (similar: {', '.join(near[:5])})" if near else ""
        raise ConfigError(f"no model named {name!r} in {manifest.path}{hint}: run `dbt parse`?")
    return next((n for n in found if n.version == n.latest_version), found[-1])


def plan_view(
    manifest: Manifest,
    model: Node,
    columns: Sequence[WarehouseColumn],
    double: str,
    *,
    name: str | None = None,
    keys: Sequence[str] = (),
    event_timestamp: str | None = None,
) -> ViewPlan:
    """Choose keys, entity, event timestamp and the contract of the view over `model`."""
    by_name = {c.name: c for c in columns}
    key_guess = _keys(manifest, model, columns, keys)
    key_names = tuple(key_guess.value.split(", "))
    for key in key_names:
        if key not in by_name:
            raise ConfigError(f"{model.label} has no column {key!r} (columns: {_names(columns)})")
        if online_type(by_name[key].data_type) not in KEY_TYPES:
            raise ConfigError(
                f"{model.label}.{key} is {by_name[key].data_type}; an entity key must be an "
                "integer or a string: pass --key with another column"
            )
    entity = _entity(model, key_names)
    ts_guess = _event_timestamp(model, columns, key_names, event_timestamp)
    view_columns, left_out = _view_columns(columns, key_names, ts_guess.value, double)
    if ts_guess.value not in by_name:  # the build's as-of time as a snapshot timestamp
        view_columns.insert(
            len(key_names),
            ViewColumn(
                ts_guess.value,
                f"cast('{{{{ featurehouse.as_of() }}}}' as timestamp) as {ts_guess.value}",
                "timestamp",
            ),
        )
    view_name = name or f"feat_{entity.value}__{model.name}"
    return ViewPlan(
        view_name, model, entity.value, key_names, ts_guess.value,
        tuple(view_columns), (key_guess, entity, ts_guess), tuple(left_out),
    )  # fmt: skip


def _names(columns: Sequence[WarehouseColumn]) -> str:
    return ", ".join(c.name for c in columns)


def _unique_tests(manifest: Manifest, model: Node) -> list[tuple[str, ...]]:
    """Column sets the model's `unique` and unique-combination tests declare unique."""
    found: list[tuple[str, ...]] = []
    for test in manifest.tests_of({model.unique_id}):
        if test.test_name == "unique" and test.column_name:
            found.append((test.column_name,))
        elif test.test_name in _COMBINATION_TESTS:
            columns = test.test_kwargs.get("combination_of_columns") or []
            found.append(tuple(str(c) for c in columns))
    return found


def _keys(
    manifest: Manifest, model: Node, columns: Sequence[WarehouseColumn], given: Sequence[str]
) -> Guess:
    if given:
        return Guess("keys", ", ".join(given), "given with --key")
    names = {c.name for c in columns}
    singles = [u[0] for u in _unique_tests(manifest, model) if len(u) == 1 and u[0] in names]
    if singles:
        singular = model.name.removesuffix("s")
        singles.sort(key=lambda c: (c != f"{singular}_id", not c.endswith("_id")))
        return Guess("keys", singles[0], f"{model.name} has a `unique` test on {singles[0]}")
    for combination in _unique_tests(manifest, model):
        keys = [c for c in combination if c in names and "_at" not in c and "date" not in c]
        if keys:
            return Guess(
                "keys", ", ".join(keys),
                f"{model.name} tests {', '.join(combination)} unique together",
            )  # fmt: skip
    named = [c.name for c in columns if c.name == "id" or c.name.endswith("_id")]
    if named:
        return Guess("keys", named[0], f"no unique test on {model.name}; the first id column")
    raise ConfigError(
        f"cannot guess the entity key of {model.label}: it has no `unique` test and no *_id "
        f"column; pass --key COLUMN (columns: {_names(columns)})"
    )


def _entity(model: Node, keys: Sequence[str]) -> Guess:
    first = keys[0]
    if first.endswith("_id") and first != "_id":
        return Guess("entity", first.removesuffix("_id"), f"the key {first} without _id")
    return Guess("entity", model.name.removesuffix("s"), f"{model.name} in the singular")


def _event_timestamp(
    model: Node, columns: Sequence[WarehouseColumn], keys: Sequence[str], given: str | None
) -> Guess:
    if given:
        return Guess("event_timestamp", given, "given with --event-timestamp")
    candidates = [c.name for c in columns if c.name not in keys and _is_timestamp(c.data_type)]
    for rank, hint in enumerate(_TIMESTAMP_HINTS):
        matching = [c for c in candidates if hint.match(c)]
        if matching:
            why = ("names when the row last changed", "names the latest event", "is a time")
            return Guess("event_timestamp", matching[0], f"{matching[0]} {why[rank]}")
    if candidates:
        return Guess("event_timestamp", candidates[0], "the only kind of time column there is")
    return Guess(
        "event_timestamp", "effective_at",
        f"{model.name} has no time column: effective_at is the build's as-of time "
        "(one snapshot per build)",
    )  # fmt: skip


def _is_timestamp(data_type: str) -> bool:
    base = data_type.lower().strip()
    return online_type(base) == "timestamp" or base in _TIMESTAMP_CASTS


def _view_columns(
    columns: Sequence[WarehouseColumn], keys: Sequence[str], event_ts: str, double: str
) -> tuple[list[ViewColumn], list[str]]:
    """Keys, the event timestamp, then the features; types the registry serves, cast where
    the warehouse's differ (integers to bigint, decimals to double, dates to timestamp)."""
    order = {name: i for i, name in enumerate([*keys, event_ts])}
    ranked = sorted(columns, key=lambda c: order.get(c.name, len(order)))
    chosen: list[ViewColumn] = []
    left_out: list[str] = []
    for column in ranked:
        converted = _converted(column, double)
        if converted is None:
            left_out.append(f"{column.name} ({column.data_type}: not a servable type)")
        else:
            chosen.append(converted)
    return chosen, left_out


def _converted(column: WarehouseColumn, double: str) -> ViewColumn | None:
    data_type = column.data_type.lower().strip()
    kind = online_type(data_type)
    if data_type in _TIMESTAMP_CASTS:
        return _cast(column, "timestamp", "timestamp", f"cast from {data_type}")
    if kind in _CANONICAL and data_type not in _CANONICAL[kind]:
        target = "bigint" if kind == "int64" else double
        sql_type = "bigint" if kind == "int64" else "{{ featurehouse.type_double() }}"
        return _cast(column, sql_type, target, f"cast from {data_type}")
    if kind is None:
        return None
    return ViewColumn(column.name, column.name, data_type)


def _cast(column: WarehouseColumn, sql_type: str, data_type: str, note: str) -> ViewColumn:
    expression = f"cast({column.name} as {sql_type}) as {column.name}"
    return ViewColumn(column.name, expression, data_type, note)
