"""One definition of the feature_store rules: the Jinja check the macros run
(`featurehouse._fh_check_feature_store`) and the Python one the registry runs
(`project.feature_store`) give the same result, problem for problem and word for word, on
the same inputs; and the Jinja type map equals `types.online_type` on every spelling.

All cases render through real dbt in one `dbt compile --inline`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from dbt_inline import render_inline
from featurehouse.project.feature_store import check_feature_store
from featurehouse.types import TYPES, online_type

COLUMNS = {
    "customer_id": "bigint",
    "effective_at": "timestamp",
    "loaded_at": "timestamp",
    "count_orders_7d": "bigint",
    "avg_amount_7d": "double precision",
    "country": "varchar(2)",
    "is_repeat": "boolean",
    "embedding": "double[]",
}
GOOD = {
    "entity": "customer",
    "keys": ["customer_id"],
    "event_timestamp": "effective_at",
    "created_timestamp": "loaded_at",
    "ttl": "1d",
    "online": True,
}


def _case(edit: dict[str, Any], columns: dict[str, Any] | None = None, **kw: Any) -> tuple:
    spec = {k: v for k, v in {**GOOD, **edit}.items() if v != "<absent>"}
    return spec, COLUMNS if columns is None else columns, kw.get("stand_in", False)


CASES: dict[str, tuple] = {
    "good": _case({}),
    # durations: units, zero, whitespace, case, non-strings
    "ttl_90m": _case({"ttl": "90m"}),
    "ttl_2w": _case({"ttl": "2w"}),
    "ttl_0d": _case({"ttl": "0d"}),
    "ttl_00h": _case({"ttl": "00h"}),
    "ttl_01d": _case({"ttl": "01d"}),
    "ttl_padded": _case({"ttl": "  36h "}),
    "ttl_inner_space": _case({"ttl": "1 day"}),
    "ttl_upper": _case({"ttl": "1D"}),
    "ttl_empty": _case({"ttl": ""}),
    "ttl_int": _case({"ttl": 86400}),
    "ttl_bool": _case({"ttl": True}),
    "ttl_null": _case({"ttl": None}),
    "ttl_absent": _case({"ttl": "<absent>"}),
    # key and column case, whitespace
    "key_upper": _case({"keys": ["CUSTOMER_ID"]}),
    "key_string": _case({"keys": "Customer_Id"}),
    "key_padded": _case({"keys": [" customer_id"]}),
    "columns_upper": _case({}, {k.upper(): v for k, v in COLUMNS.items()}),
    "event_padded": _case({"event_timestamp": " Effective_At "}),
    "duplicate_by_case": _case({}, {**COLUMNS, "COUNT_ORDERS_7D": "bigint"}),
    "reserved_name": _case({}, {**COLUMNS, "__event_at": "timestamp"}),
    # required fields
    "entity_absent": _case({"entity": "<absent>"}),
    "entity_blank": _case({"entity": "  "}),
    "entity_number": _case({"entity": 7}),
    "keys_absent": _case({"keys": "<absent>"}),
    "keys_empty": _case({"keys": []}),
    "keys_mapping": _case({"keys": {"customer_id": 1}}),
    "keys_unknown": _case({"keys": ["customer_id", "shop_id"]}),
    "event_absent": _case({"event_timestamp": "<absent>"}),
    "event_unknown": _case({"event_timestamp": "happened_at"}),
    "created_empty": _case({"created_timestamp": ""}),
    "created_unknown": _case({"created_timestamp": "arrived_at"}),
    "online_string": _case({"online": "yes"}),
    "online_false": _case({"online": False}),
    "not_a_mapping": ("keys: [customer_id]", COLUMNS, False),
    "no_columns": _case({}, {}),
    "everything_wrong": _case({"entity": None, "keys": "shop_id", "ttl": "soon"}, {"x": None}),
    # types
    "key_float": _case({"keys": ["avg_amount_7d"]}),
    "key_varchar": _case({"keys": ["country"]}),
    "event_not_timestamp": _case({"event_timestamp": "count_orders_7d"}),
    "feature_unsupported": _case({}, {**COLUMNS, "span": "interval"}),
    "feature_untyped": _case({}, {**COLUMNS, "note": None}),
    "feature_int_array": _case({}, {**COLUMNS, "ids": "bigint[]"}),
    "feature_numeric": _case({}, {**COLUMNS, "amount": "NUMERIC(12, 2)"}),
    # a unit test's stand-in: names only, no entity
    "stand_in": _case({"entity": "<absent>"}, dict.fromkeys(COLUMNS), stand_in=True),
    "stand_in_bad_ttl": _case({"ttl": "0d"}, dict.fromkeys(COLUMNS), stand_in=True),
}
SPELLINGS = sorted(
    {s for t in TYPES.values() for s in (*t.contract, t.sql)}
    | {"BIGINT", "Double  Precision", "varchar(64)", "numeric(12, 2)", "double precision[]"}
    | {"bigint[]", "interval", "date", "timestamptz", "timestamp with time zone", "json", ""}
    | {"array<double>", "ARRAY<DOUBLE>", "array<bigint>", "array<double"}
)


def _jinja_check(spec: Any, columns: dict[str, Any], stand_in: bool) -> str:
    flag = "true" if stand_in else "false"
    return f"{{{{ tojson(featurehouse._fh_check_feature_store({spec!r}, {columns!r}, {flag})) }}}}"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, dbt_deps: None) -> dict[str, Any]:
    calls = {f"case.{name}": _jinja_check(*case) for name, case in CASES.items()}
    calls |= {
        f"type.{i}": f"{{{{ tojson(featurehouse._fh_online_type({s!r})) }}}}"
        for i, s in enumerate(SPELLINGS)
    }
    return {
        k: json.loads(v) for k, v in render_inline(calls, tmp_path_factory.mktemp("fs")).items()
    }


@pytest.mark.parametrize("name", list(CASES))
def test_jinja_and_python_agree(name: str, rendered: dict[str, Any]) -> None:
    spec, columns, stand_in = CASES[name]
    python = check_feature_store(spec, columns, stand_in=stand_in).as_dict()
    assert rendered[f"case.{name}"] == python


def test_the_cases_cover_both_outcomes(rendered: dict[str, Any]) -> None:
    problems = {name: rendered[f"case.{name}"]["problems"] for name in CASES}
    assert problems["good"] == [] and problems["ttl_padded"] == [] and problems["key_upper"] == []
    assert problems["ttl_0d"] and problems["entity_absent"] and problems["key_float"]
    assert problems["stand_in"] == [] and problems["stand_in_bad_ttl"]
    assert len(problems["everything_wrong"]) >= 5


def test_the_type_maps_agree(rendered: dict[str, Any]) -> None:
    jinja = {s: rendered[f"type.{i}"] for i, s in enumerate(SPELLINGS)}
    assert jinja == {s: online_type(s) for s in SPELLINGS}
