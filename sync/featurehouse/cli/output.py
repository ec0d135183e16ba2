"""Output helpers every command uses: JSON (datetimes as ISO text) and timestamps in tables."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=_default, ensure_ascii=False)


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def ts(value: datetime | None) -> str:
    """A timestamp in a table: seconds, a space, `-` for none."""
    return "-" if value is None else value.isoformat(sep=" ", timespec="seconds")
