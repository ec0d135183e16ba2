"""The one type map: a contract's data type -> the online type -> its Arrow type and SQL cast.

Every layer speaks online types (`int64`, `float64`, `string`, `bool`, `timestamp`,
`list<float64>`): the registry classifies contract types here, warehouses cast to `sql`,
encoders and readers use `arrow`, the feature server and training sets check keys with it.
The Jinja check of feature view metadata (`featurehouse._fh_online_type`) mirrors
`online_type`; a test renders both over every spelling below. `json_safe` is how values of
every type travel as JSON (non-finite floats as strings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class OnlineType:
    """One online type and everything that depends on it."""

    name: str
    arrow: pa.DataType
    sql: str  # the portable SQL type rows are cast to when read (DuckDB, Postgres)
    contract: tuple[str, ...]  # contract data_type spellings (lower case, without a size)
    kind: str  # numeric | categorical | timestamp | array (how drift measures it)
    key: str | None = None  # as an entity key, what it accepts ("a 64-bit integer"); None: no key
    floats: bool = False  # holds doubles (NaN and infinities need spelling out in JSON)
    spark: str | None = None  # Spark's spelling of `sql` where it differs


_SCALARS = (
    OnlineType(
        "int64",
        pa.int64(),
        "bigint",
        ("bigint", "integer", "int", "int4", "int8", "int64", "smallint", "hugeint"),
        "numeric",
        key="a 64-bit integer",
    ),
    OnlineType(
        "float64",
        pa.float64(),
        "double precision",
        (
            "double",
            "double precision",
            "float",
            "float4",
            "float8",
            "float64",
            "real",
            "numeric",
            "decimal",
        ),
        "numeric",
        floats=True,
        spark="double",
    ),
    OnlineType(
        "string",
        pa.string(),
        "varchar",
        ("varchar", "text", "string", "character varying", "char", "character"),
        "categorical",
        key="a string",
        spark="string",
    ),
    OnlineType("bool", pa.bool_(), "boolean", ("boolean", "bool"), "categorical"),
    OnlineType(
        "timestamp",
        pa.timestamp("us"),
        "timestamp",
        ("timestamp", "timestamp without time zone", "datetime"),
        "timestamp",
    ),
)
# Arrays: a contract `<float type>[]` (Spark: `array<double>`).
_LIST = OnlineType(
    "list<float64>",
    pa.list_(pa.float64()),
    "double precision[]",
    (),
    "array",
    floats=True,
    spark="array<double>",
)
TYPES: dict[str, OnlineType] = {t.name: t for t in (*_SCALARS, _LIST)}
FEATURE_TYPES = tuple(TYPES)
KEY_TYPES = tuple(name for name, t in TYPES.items() if t.key)


def online_type(data_type: str | None) -> str | None:
    """The online type of a contract data type, or None when it is not supported."""
    if not data_type:
        return None
    text = re.sub(r"\s+", " ", data_type.strip().lower())
    array = re.fullmatch(r"array<(.*)>", text)  # Spark's spelling of `<type>[]`
    if text.endswith("[]") or array:
        inner = online_type(array.group(1) if array else text[:-2])
        return _LIST.name if inner == "float64" else None
    base = re.sub(r"\(.*\)$", "", text).strip()
    for kind in _SCALARS:
        if base in kind.contract:
            return kind.name
    return None


def arrow_type(name: str) -> pa.DataType:
    """The Arrow type of an online type."""
    return TYPES[name].arrow


def sql_type(name: str, dialect: str | None = None) -> str:
    """The SQL type values of an online type are cast to when read from a warehouse of
    `dialect` (dbt's adapter type)."""
    kind = TYPES[name]
    return kind.spark if dialect == "spark" and kind.spark else kind.sql


def accepts_key(name: str, arrow: pa.DataType) -> bool:
    """Whether a column of Arrow type `arrow` can hold keys of online type `name` as is."""
    if name == "int64":
        return pa.types.is_integer(arrow)
    return pa.types.is_string(arrow) or pa.types.is_large_string(arrow) or arrow == pa.string_view()


# --- floats in JSON: the one rule every JSON answer follows (CLI --json, the HTTP server) ---

NON_FINITE_JSON = ("NaN", "Infinity", "-Infinity")  # proto3's JSON mapping, as Feast sends


def json_float(value: float) -> float | str:
    """A float as JSON carries it: a number (`-0.0` stays `-0.0`), or for NaN and the
    infinities the strings "NaN", "Infinity", "-Infinity" (bare NaN is not JSON)."""
    if value - value == 0.0:  # finite
        return value
    if value != value:
        return NON_FINITE_JSON[0]
    return NON_FINITE_JSON[1] if value > 0 else NON_FINITE_JSON[2]


def json_safe(value: Any) -> Any:
    """`value` ready for any JSON writer: every non-finite float, however deep in dicts,
    lists and tuples, replaced by its `json_float` string; everything else as it was."""
    if isinstance(value, float):
        return json_float(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
