"""Output helpers every command uses: JSON (datetimes as ISO text, non-finite floats as the
strings `types.json_safe` writes) and timestamps in tables."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from featurehouse.types import json_safe


def to_json(value: Any) -> str:
    """Strict JSON (`allow_nan=False`): NaN, Infinity, -Infinity travel as strings."""
    return json.dumps(
        json_safe(value), indent=2, default=_default, ensure_ascii=False, allow_nan=False
    )


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return json_safe(list(value))
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def ts(value: datetime | None) -> str:
    """A timestamp in a table: seconds, a space, `-` for none."""
    return "-" if value is None else value.isoformat(sep=" ", timespec="seconds")
