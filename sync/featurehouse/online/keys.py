"""Entity keys as people type them: `42`, `42,de` (key order) or `customer_id=42,country=de`."""

from __future__ import annotations

from collections.abc import Sequence

from featurehouse.errors import ConfigError


def parse_entity(text: str, keys: Sequence[str]) -> dict[str, str]:
    """One entity's key values by name; values stay strings (the online store coerces them)."""
    if "=" in text:
        return _named(text, keys)
    if len(keys) == 1:
        return {keys[0]: text}
    values = [v.strip() for v in text.split(",")]
    if len(values) != len(keys):
        raise ConfigError(
            f"entity {text!r} has {len(values)} value(s) but the view's key is "
            f"({', '.join(keys)}): give them in that order, comma separated, or as name=value"
        )
    return dict(zip(keys, values, strict=True))


def _named(text: str, keys: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in keys:
            raise ConfigError(
                f"entity {text!r}: {name!r} is not a key of the view (keys: {', '.join(keys)})"
            )
        result[name] = value.strip()
    missing = [k for k in keys if k not in result]
    if missing:
        raise ConfigError(f"entity {text!r} lacks key(s) {', '.join(missing)}")
    return result
