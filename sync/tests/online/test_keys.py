"""Entity keys as people type them: a single key verbatim, composite keys by order or by name,
backslash escapes."""

from __future__ import annotations

import pytest
from featurehouse.errors import ConfigError
from featurehouse.online.keys import parse_entity

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("text", ["x=y", "a,b", "a=b,c=d", "\\", " spaced ", "", "customer_id=7"])
def test_a_single_string_key_is_taken_verbatim(text: str) -> None:
    assert parse_entity(text, ["customer_id"], ["string"]) == {"customer_id": text}
    assert parse_entity(text, ["customer_id"]) == {"customer_id": text}  # no types: verbatim


def test_a_single_int_key_also_takes_its_name() -> None:
    assert parse_entity("42", ["customer_id"], ["int64"]) == {"customer_id": "42"}
    assert parse_entity("customer_id=42", ["customer_id"], ["int64"]) == {"customer_id": "42"}
    assert parse_entity("other=42", ["customer_id"], ["int64"]) == {"customer_id": "other=42"}


def test_composite_keys_by_order_by_name_and_escaped() -> None:
    keys, types = ["customer_id", "country_code"], ["int64", "string"]
    assert parse_entity("42, de", keys, types) == {"customer_id": "42", "country_code": "de"}
    named = parse_entity("country_code=de,customer_id=42", keys, types)
    assert named == {"customer_id": "42", "country_code": "de"}
    assert parse_entity("42,a\\,b\\=c", keys, types) == {
        "customer_id": "42",
        "country_code": "a,b=c",
    }
    escaped = parse_entity("customer_id=42,country_code=x\\=y\\\\", keys, types)
    assert escaped == {"customer_id": "42", "country_code": "x=y\\"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("42", "has 1 value(s) but the view's key is (customer_id, country_code)"),
        ("42,de,x", "has 3 value(s)"),
        ("customer_id=42,country=de", "'country' is not a key of the view"),
        ("customer_id=42", "lacks key(s) country_code"),
    ],
)
def test_composite_key_errors_name_the_entity_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match="entity") as info:
        parse_entity(text, ["customer_id", "country_code"], ["int64", "string"])
    assert message in str(info.value)
