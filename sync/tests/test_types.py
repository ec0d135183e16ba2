"""types: the one map from contract data types to online, Arrow and SQL types."""

from __future__ import annotations

import json
import math
from datetime import datetime

import pyarrow as pa
import pytest
from featurehouse.cli.output import to_json
from featurehouse.types import (
    FEATURE_TYPES,
    KEY_TYPES,
    TYPES,
    accepts_key,
    arrow_type,
    json_float,
    json_safe,
    online_type,
    sql_type,
)

pytestmark = pytest.mark.fast


def test_contract_types_map_to_online_types() -> None:
    expected = {
        "bigint": "int64",
        "integer": "int64",
        "double": "float64",
        "float": "float64",
        "numeric": "float64",
        "numeric(12, 2)": "float64",
        "double precision": "float64",
        "DOUBLE  PRECISION": "float64",
        "varchar": "string",
        "text": "string",
        "string": "string",
        "varchar(64)": "string",
        "boolean": "bool",
        "timestamp": "timestamp",
        "double[]": "list<float64>",
        "double precision[]": "list<float64>",
        "interval": None,
        "date": None,
        "timestamp with time zone": None,
        "bigint[]": None,
        "": None,
        None: None,
    }
    assert {t: online_type(t) for t in expected} == expected


def test_every_contract_spelling_round_trips_through_its_online_type() -> None:
    for name, kind in TYPES.items():
        for spelling in kind.contract:
            assert online_type(spelling) == name
        assert online_type(kind.sql) == name  # what rows are cast to reads back the same
        assert arrow_type(name) == kind.arrow and sql_type(name) == kind.sql


def test_keys_are_integers_or_strings() -> None:
    assert KEY_TYPES == ("int64", "string")
    assert set(KEY_TYPES) < set(FEATURE_TYPES)
    assert accepts_key("int64", pa.int32()) and not accepts_key("int64", pa.float64())
    assert accepts_key("string", pa.large_string()) and not accepts_key("string", pa.int64())


def _strict(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"bare {name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_carries_non_finite_floats_as_strings_and_everything_else_as_is() -> None:
    assert [json_float(v) for v in (math.nan, math.inf, -math.inf)] == [
        "NaN",
        "Infinity",
        "-Infinity",
    ]
    assert math.copysign(1.0, json_float(-0.0)) == -1.0 and json_float(1e300) == 1e300
    value = {"a": [math.nan, (-math.inf, -0.0)], "b": {"c": 2**63 - 1, "d": None, "e": "NaN"}}
    assert json_safe(value) == {
        "a": ["NaN", ["-Infinity", -0.0]],
        "b": {"c": 2**63 - 1, "d": None, "e": "NaN"},
    }
    written = _strict(to_json({"at": datetime(2026, 5, 1), "v": (math.inf,), "w": [math.nan]}))
    assert written == {"at": "2026-05-01T00:00:00", "v": ["Infinity"], "w": ["NaN"]}
