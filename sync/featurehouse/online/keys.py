"""Entity keys: as people type them (`42`, any text for a single string key, `42,de` in key
order, `customer_id=42,country=de`) and as a store holds them (canonical key text: `42`, `abc`,
`[42,"US"]`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from featurehouse.errors import ConfigError
from featurehouse.online.encoding import json_escape
from featurehouse.online.records import InvalidKeyError, ViewSchema


def parse_entity(
    text: str, keys: Sequence[str], key_types: Sequence[str] | None = None
) -> dict[str, str]:
    """One entity's key values by name, as a person types them; values stay strings (the
    online store coerces them to the key types).

    A single key: the text is the value, verbatim, whatever it holds (`=` and `,` too); an
    int64 key also takes `name=value`. Composite keys: the values in key order separated by
    `,` (`42,de`), or `name=value` pairs (`customer_id=42,country_code=de`); a backslash
    takes the next character literally (`\\,` `\\=` `\\\\`), spaces around a part are dropped."""
    if len(keys) == 1:
        name = keys[0]
        if key_types and key_types[0] == "int64" and text.startswith(f"{name}="):
            return {name: text[len(name) + 1 :]}
        return {name: text}
    parts = _split(text, ",")
    pairs = [_split(part, "=", 1) for part in parts]
    if any(len(pair) > 1 for pair in pairs):
        return _named(text, keys, pairs)
    values = [_unescape(p).strip() for p in parts]
    if len(values) != len(keys):
        raise ConfigError(
            f"entity {text!r} has {len(values)} value(s) but the view's key is "
            f"({', '.join(keys)}): give them in that order, comma separated, or as name=value "
            "(a backslash escapes a `,` or `=` inside a value)"
        )
    return dict(zip(keys, values, strict=True))


def _split(text: str, separator: str, most: int = -1) -> list[str]:
    """`text` split at each `separator` not preceded by a backslash (escapes kept)."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator and most != 0:
            parts.append("".join(current))
            current, most = [], most - 1
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    out, escaped = [], False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out) + ("\\" if escaped else "")


def _named(text: str, keys: Sequence[str], pairs: list[list[str]]) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs:
        name = _unescape(pair[0]).strip()
        if len(pair) < 2 or name not in keys:
            raise ConfigError(
                f"entity {text!r}: {name!r} is not a key of the view (keys: {', '.join(keys)}); "
                "name every key, name=value, or give the values in key order"
            )
        result[name] = _unescape(pair[1]).strip()
    missing = [k for k in keys if k not in result]
    if missing:
        raise ConfigError(f"entity {text!r} lacks key(s) {', '.join(missing)}")
    return result


# --- canonical key text: how a store names an entity (Redis: its hash field and bucket) ---


def canonical_key(schema: ViewSchema, row: Mapping[str, Any]) -> str:
    """One entity's key text: `42`, `abc`, or for composite keys a JSON array `[42,"US"]`."""
    parts = []
    for name, kind in zip(schema.keys, schema.key_types, strict=True):
        if name not in row:
            raise InvalidKeyError(f"entity row {dict(row)!r} lacks key {name} of {schema.view}")
        parts.append(_coerce_key(schema, name, kind, row[name]))
    if len(parts) == 1:
        return str(parts[0])
    return json.dumps(parts, separators=(",", ":"), ensure_ascii=False)


def keyer(schema: ViewSchema) -> Callable[[Mapping[str, Any]], str]:
    """`canonical_key` for one schema, with a fast path for the usual single int/str key."""
    if len(schema.keys) > 1:
        return lambda row: canonical_key(schema, row)
    name, kind = schema.keys[0], schema.key_types[0]
    fast = int if kind == "int64" else str

    def key(row: Mapping[str, Any]) -> str:
        value = row.get(name, _MISSING)
        if type(value) is fast:
            return str(value)
        return canonical_key(schema, row)

    return key


_MISSING = object()


def _coerce_key(schema: ViewSchema, name: str, kind: str, value: Any) -> int | str:
    if kind == "string":
        if value is None or isinstance(value, bytes | bytearray):
            raise InvalidKeyError(f"key {name}={value!r} is not a string for {schema.view}")
        return str(value)
    try:
        if isinstance(value, bool) or value is None:
            raise ValueError
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            return int(value)
        return int(str(value).strip())
    except ValueError:
        raise InvalidKeyError(
            f"key {name}={value!r} is not an int64 as {schema.view} expects"
        ) from None


def canonical_key_array(schema: ViewSchema, batch: pa.RecordBatch) -> pa.Array:
    """The canonical key text of every row, column-wise (same text as `canonical_key`)."""
    cols = []
    for name, kind in zip(schema.keys, schema.key_types, strict=True):
        col = batch.column(name)
        if kind == "int64":
            col = pc.cast(pc.cast(col, pa.int64()), pa.string())
        else:
            col = pc.cast(col, pa.string())
            if len(schema.keys) > 1:
                col = pc.binary_join_element_wise('"', json_escape(col), '"', "")
        cols.append(col)
    if len(cols) == 1:
        return cols[0]
    return pc.binary_join_element_wise("[", pc.binary_join_element_wise(*cols, ","), "]", "")
