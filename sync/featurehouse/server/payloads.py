"""The feature server's JSON bodies: request validation and the two answer shapes.

Feast shape (`POST /get-online-features`): entities column-wise in, and out one result per
column (entity keys first, then the features in the order asked), each with values, statuses
(PRESENT, NOT_FOUND, OUTSIDE_MAX_AGE) and event timestamps. Native shape (`POST /v1/features`):
entity rows in, the same rows out with each feature as {value, status, event_at}.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

from featurehouse.online import ReadResult
from featurehouse.server.catalog import Plan, RequestError, bad_request
from featurehouse.types import TYPES, json_float

FEAST_STATUS = {"present": "PRESENT", "not_found": "NOT_FOUND", "expired": "OUTSIDE_MAX_AGE"}
EPOCH = datetime(1970, 1, 1)  # Feast's event timestamp for entity keys and missing rows
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# The answers' JSON: naive datetimes are UTC, written with a Z (`1970-01-01T00:00:00Z`).
_JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
_SHARED_FROM = 8  # rows from which a view's statuses and times are encoded once (a Fragment)
_C_CHECK_FROM = 8  # keys from which a column's types are checked in C loops first


def json_body(value: Any) -> bytes:
    """The JSON bytes of every body the server writes (naive datetimes as UTC, with a Z)."""
    return orjson.dumps(value, option=_JSON_OPTIONS)


@dataclass(frozen=True)
class Limits:
    max_entities: int = 1000
    max_features: int = 500


class Asked(NamedTuple):
    """A validated request: feature references, entity columns and rows, options."""

    features: tuple[str, ...]
    columns: dict[str, list[Any]]  # entity key columns as given (Feast shape)
    rows: list[dict[str, Any]]  # the same, row-wise
    full_names: bool = False
    values_only: bool = False
    service: str | None = None  # a feature service's name (its features: `features`, empty)
    version_metadata: bool = False  # Feast's include_feature_view_version_metadata


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("bad_body", "the request body must be a JSON object")
    return body


def _service(body: Mapping[str, Any]) -> str | None:
    """Feast's `feature_service`: a service's name, instead of `features`."""
    if "feature_service" not in body:
        return None
    name = body["feature_service"]
    if "features" in body:
        raise bad_request("bad_features", "send features or feature_service, not both")
    if not isinstance(name, str) or not name:
        raise bad_request("bad_feature_service", "feature_service must be a service's name")
    return name


def _features(body: Mapping[str, Any], limits: Limits) -> tuple[str, ...]:
    if _service(body) is not None:
        return ()
    features = body.get("features")
    if not isinstance(features, list) or not features:
        raise bad_request(
            "bad_features", 'features must be a non-empty list like ["view:feature", ...]'
        )
    if len(features) > limits.max_features:
        raise RequestError(
            413,
            "too_many_features",
            f"{len(features)} features asked; the limit is {limits.max_features} per request "
            "(--max-features)",
            limits.max_features,
        )
    for ref in features:
        if not isinstance(ref, str):
            raise bad_request("bad_feature_ref", f"feature reference {ref!r} is not a string")
    return tuple(features)


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise bad_request("bad_body", f"{name} must be true or false")
    return value


def _count(n: int, limits: Limits) -> None:
    if n > limits.max_entities:
        raise RequestError(
            413,
            "too_many_entities",
            f"{n} entities asked; the limit is {limits.max_entities} per request (--max-entities)",
            limits.max_entities,
        )


def parse_feast(body: Any, limits: Limits) -> Asked:
    """`{"features": [...], "entities": {"key": [v, ...]}, "full_feature_names": false}`."""
    body = _object(body)
    features = _features(body, limits)
    entities = body.get("entities")
    if not isinstance(entities, dict) or not entities:
        raise bad_request(
            "bad_entities", 'entities must be an object of key columns like {"customer_id": [1]}'
        )
    lengths = set()
    for name, values in entities.items():
        if not isinstance(values, list):
            raise bad_request("bad_entities", f"entities.{name} must be a list of key values")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise bad_request(
            "bad_entities", f"entity key columns differ in length ({sorted(lengths)})"
        )
    n = lengths.pop()
    _count(n, limits)
    names = list(entities)
    if len(names) == 1:
        rows = [{names[0]: value} for value in entities[names[0]]]
    else:
        columns = zip(*entities.values(), strict=True)
        rows = [dict(zip(names, values, strict=True)) for values in columns]
    return Asked(
        features,
        entities,
        rows,
        full_names=_flag(body, "full_feature_names"),
        service=_service(body),
        version_metadata=_flag(body, "include_feature_view_version_metadata"),
    )


def parse_native(body: Any, limits: Limits) -> Asked:
    """`{"features": [...], "entities": [{"key": v}, ...], "values_only": false}`."""
    body = _object(body)
    features = _features(body, limits)
    rows = body.get("entities")
    if not isinstance(rows, list):
        raise bad_request(
            "bad_entities", 'entities must be a list of entity rows like [{"customer_id": 1}]'
        )
    _count(len(rows), limits)
    names: dict[str, None] = {}
    for row in rows:
        if not isinstance(row, dict):
            raise bad_request("bad_entities", f"entity row {row!r} is not an object")
        names.update(dict.fromkeys(row))
    columns = {name: [row[name] for row in rows if name in row] for name in names}
    return Asked(
        features, columns, rows, values_only=_flag(body, "values_only"), service=_service(body)
    )


def check_keys(plan: Plan, asked: Asked) -> None:
    """Every key the views need is there, of a type the view's key type accepts; any other
    entity column (echoed back) holds integers or strings too."""
    for name, kind, view in plan.keys:
        if name not in asked.columns:
            raise bad_request(
                "missing_entity_key", f"{view} needs entity key {name}; send it in entities"
            )
        column = asked.columns[name]
        if len(column) != len(asked.rows):
            raise bad_request("missing_entity_key", f"an entity row lacks key {name} ({view})")
        if len(column) >= _C_CHECK_FROM and _plain(column, kind):
            continue
        check = _int64_ok if kind == "int64" else _string_ok
        for value in column:
            if not check(value):
                raise bad_request(
                    "bad_entity_key",
                    f"entity key {name}={_short(value)} is not {TYPES[kind].key} as {view} expects",
                )
    needed = {name for name, _, _ in plan.keys}
    for name, column in asked.columns.items():
        if name not in needed:
            for value in column:
                if not (_string_ok(value) or _integral(value)):
                    raise bad_request(
                        "bad_entity_key",
                        f"entity key {name}={_short(value)} is not an integer or a string",
                    )


def _plain(column: list[Any], kind: str) -> bool:
    """Whether every key is of the usual type, told by C loops (each value's check is a
    Python call): ints within int64 (no bools) for int64 keys, str or int for the others.
    False sends the column through the value-by-value check."""
    types = set(map(type, column))
    if kind == "int64":
        return types == {int} and min(column) >= _INT64_MIN and max(column) <= _INT64_MAX
    return types <= {str, int}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int64_ok(value: Any) -> bool:
    if type(value) is int:
        return _INT64_MIN <= value <= _INT64_MAX
    if isinstance(value, float):
        return value.is_integer() and _INT64_MIN <= value <= _INT64_MAX
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        return digits.isascii() and digits.isdigit() and _INT64_MIN <= int(text) <= _INT64_MAX
    return False


def _integral(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _string_ok(value: Any) -> bool:
    return isinstance(value, str) or type(value) is int


def _json_floats(values: Sequence[Any], kind: str) -> Sequence[Any]:
    """NaN and infinities as `types.json_float` writes them ("NaN", "Infinity", "-Infinity",
    proto3's JSON mapping); the fast path leaves columns without them as they are."""
    if kind == "float64":
        if math.isfinite(sum(filter(None, values), 0.0)):  # a C loop: no NaN, no infinity
            return values
        return [None if v is None else json_float(v) for v in values]
    return [
        [None if x is None else json_float(x) for x in v]
        if v is not None and not math.isfinite(sum(filter(None, v), 0.0))
        else v
        for v in values
    ]


def feast_answer(
    plan: Plan, asked: Asked, results: Sequence[ReadResult], shared: Any = None
) -> dict[str, Any]:
    """Feast's GetOnlineFeaturesResponse as JSON: one result per column, keys first. The
    features of one view share the very same statuses and event-time lists, which go
    through `shared` (by default as they are)."""
    n = len(asked.rows)
    present, key_times = ["PRESENT"] * n, [EPOCH] * n
    if shared is not None:
        present, key_times = shared(present), shared(key_times)
    out: list[dict[str, Any]] = [
        {"values": values, "statuses": present, "event_timestamps": key_times}
        for values in asked.columns.values()
    ]
    by_request = []
    for res in results:
        columns, statuses, times = _feast_columns(res)
        if statuses is _ALL_PRESENT:
            statuses = present  # the same list (or its JSON, made once) as the keys'
        elif shared is not None:
            statuses = shared(statuses)
        by_request.append((columns, statuses, times if shared is None else shared(times)))
    for col, floats in zip(plan.columns, plan.floats, strict=True):
        columns, statuses, times = by_request[col.request]
        values = columns[col.index]
        if floats:
            values = _json_floats(values, col.type)
        out.append({"values": values, "statuses": statuses, "event_timestamps": times})
    metadata: dict[str, Any] = {"feature_names": [*asked.columns, *plan.names(asked.full_names)]}
    if asked.version_metadata:
        metadata["feature_view_metadata"] = [
            {"name": r.view, "version": r.version or 0} for r in results
        ]
    return {"metadata": metadata, "results": out}


def feast_body(plan: Plan, asked: Asked, results: Sequence[ReadResult]) -> bytes:
    """`feast_answer` as the JSON bytes `json_body` writes, built
    faster: from a few rows on, the statuses and event times a view's features share are
    encoded once and spliced into each column as a Fragment (sync/tests/server/
    test_payloads.py compares both byte for byte)."""
    if len(asked.rows) < _SHARED_FROM:
        return json_body(feast_answer(plan, asked, results))
    return json_body(feast_answer(plan, asked, results, _fragment))


def _fragment(values: list[Any]) -> orjson.Fragment:
    return orjson.Fragment(json_body(values))


_ALL_PRESENT: list[str] = []  # `_feast_columns`' statuses when every row is present


def _feast_columns(res: ReadResult) -> tuple[list[Sequence[Any]], list[str], list[datetime]]:
    """A result column-wise: each feature's values, then the statuses and event times, which
    the features of one view share (a row's status is its record's: present, expired or
    not found). When every row is present, the statuses are `_ALL_PRESENT` (a marker)."""
    columns = list(zip(*res.values, strict=True)) if res.values else [()] * len(res.features)
    rows = res.statuses
    if not res.features:
        statuses = []
    elif rows and rows.count(rows[0]) == len(rows):  # one status for all (a C loop tells)
        status = FEAST_STATUS[rows[0][0]]
        statuses = _ALL_PRESENT if status == "PRESENT" else [status] * len(rows)
    else:
        statuses = list(map(FEAST_STATUS.__getitem__, map(itemgetter(0), rows)))
    return columns, statuses, [t or EPOCH for t in res.event_at]


def native_answer(plan: Plan, asked: Asked, results: Sequence[ReadResult]) -> dict[str, Any]:
    """`{"rows": [{<keys as given>, "<ref>": {"value", "status", "event_at"}}, ...]}`."""
    columns = []
    for col in plan.columns:
        res = results[col.request]
        values = [v[col.index] for v in res.values]
        if TYPES[col.type].floats:
            values = _json_floats(values, col.type)
        columns.append((col.ref, values, res, col.index))
    rows = []
    for i, given in enumerate(asked.rows):
        row = dict(given)
        for ref, values, res, j in columns:
            if asked.values_only:
                row[ref] = values[i]
            else:
                row[ref] = {
                    "value": values[i],
                    "status": res.statuses[i][j],
                    "event_at": res.event_at[i],
                }
        rows.append(row)
    return {"rows": rows}


def check_names(plan: Plan, asked: Asked) -> None:
    """Feast names columns by feature name: two of one name need full_feature_names."""
    names = [*asked.columns, *plan.names(asked.full_names)]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise bad_request(
            "ambiguous_feature_names",
            f"column name(s) {', '.join(twice)} would appear twice in the answer; "
            'send "full_feature_names": true',
        )
