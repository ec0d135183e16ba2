"""Raw events: broker messages checked against the source's columns and turned into rows.

An event is a JSON object with the source's columns (a seed's or dbt source's, as the
warehouse types them). Each message either becomes a row or is rejected with a reason that
names what is wrong: not JSON, an unknown or missing column, a value of the wrong type, an
event time too far in the future. Nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa

MAX_REASON = 300


@dataclass(frozen=True)
class Message:
    """One message as a broker delivered it."""

    part: str  # the positions key: a Redis stream, or a Kafka `topic:partition`
    position: str  # the entry id or offset
    value: bytes | None
    produced_ms: int  # when the broker received it (epoch ms): the latency's start


@dataclass(frozen=True)
class Rejected:
    message: Message
    kind: str  # for counters: empty, not_json, not_object, unknown_column, missing, wrong_type,
    #            future
    reason: str


@dataclass(frozen=True)
class Decoded:
    rows: pa.Table  # accepted events, in the source's schema
    produced_ms: tuple[int, ...]  # per row
    rejected: tuple[Rejected, ...]


class _Bad(Exception):
    """The message is rejected: `kind` and the reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


Convert = Callable[[Any], Any]


class Decoder:
    """Checks messages against a source's Arrow schema (from the warehouse)."""

    def __init__(
        self,
        schema: pa.Schema,
        required: Sequence[str],
        event_timestamp: str,
        max_future_skew: dt.timedelta,
    ) -> None:
        self.schema = schema
        self.names = tuple(schema.names)
        self.known = frozenset(self.names)
        self.required = frozenset(required)
        self.event_timestamp = event_timestamp
        self.skew = max_future_skew
        self.converters = {f.name: _converter(f.type) for f in schema}

    def decode(self, messages: Sequence[Message], now: dt.datetime | None = None) -> Decoded:
        """Rows for the good messages, reasons for the others; `now` is naive UTC."""
        limit = (now or dt.datetime.now(dt.UTC).replace(tzinfo=None)) + self.skew
        columns: dict[str, list[Any]] = {n: [] for n in self.names}
        produced: list[int] = []
        rejected: list[Rejected] = []
        for message in messages:
            try:
                row = self._row(message, limit)
            except _Bad as exc:
                rejected.append(Rejected(message, exc.kind, str(exc)[:MAX_REASON]))
                continue
            for name in self.names:
                columns[name].append(row[name])
            produced.append(message.produced_ms)
        arrays = [pa.array(columns[f.name], type=f.type) for f in self.schema]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        return Decoded(table, tuple(produced), tuple(rejected))

    def _row(self, message: Message, limit: dt.datetime) -> dict[str, Any]:
        if message.value is None:
            raise _Bad("empty", "empty message (no value)")
        try:
            event = orjson.loads(message.value)
        except orjson.JSONDecodeError as exc:
            raise _Bad("not_json", f"not JSON ({exc})") from None
        if not isinstance(event, dict):
            raise _Bad("not_object", f"not a JSON object but {type(event).__name__}")
        unknown = [k for k in event if k not in self.known]
        if unknown:
            raise _Bad("unknown_column", f"unknown column(s) {', '.join(map(repr, unknown[:5]))}")
        row: dict[str, Any] = {}
        for name in self.names:
            value = event.get(name)
            if value is None:
                if name in self.required:
                    raise _Bad("missing", f"missing {name!r} (required)")
                row[name] = None
                continue
            try:
                row[name] = self.converters[name](value)
            except (TypeError, ValueError, ArithmeticError) as exc:
                raise _Bad("wrong_type", f"{name!r}: {exc}") from None
        when = row.get(self.event_timestamp)
        if isinstance(when, dt.datetime) and when > limit:
            raise _Bad(
                "future",
                f"{self.event_timestamp!r} {when.isoformat(sep=' ')} is more than "
                f"{self.skew} in the future",
            )
        return row


def _converter(kind: pa.DataType) -> Convert:
    if pa.types.is_integer(kind):
        return _integer
    if pa.types.is_floating(kind):
        return _float
    if pa.types.is_decimal(kind):
        return _decimal
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _string
    if pa.types.is_boolean(kind):
        return _boolean
    if pa.types.is_timestamp(kind):
        return _timestamp
    if pa.types.is_date(kind):
        return _date
    return lambda value: value  # other types: Arrow checks them when the column is built


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, got {value!r}")
    try:
        return decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        raise ValueError(f"expected a number, got {value!r}") from None


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {value!r}")
    return value


def _timestamp(value: Any) -> dt.datetime:
    """ISO 8601 text; with an offset (or Z) it is converted to UTC."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 timestamp string, got {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 timestamp, got {value!r}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _date(value: Any) -> dt.date:
    if not isinstance(value, str):
        raise TypeError(f"expected a YYYY-MM-DD date string, got {value!r}")
    return dt.date.fromisoformat(value)


def typed_column(name: str, values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """`values` (JSON) checked and converted to `kind` as event columns are; nulls stay
    null. ValueError names the column and the value at fault."""
    convert = _converter(kind)
    try:
        return pa.array([None if v is None else convert(v) for v in values], type=kind)
    except (TypeError, ValueError, ArithmeticError, pa.ArrowException) as exc:
        raise ValueError(f"column {name!r}: {exc}") from None
