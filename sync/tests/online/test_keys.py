"""Entity keys as people type them: a single key verbatim, composite keys by order or by name,
backslash escapes."""

from __future__ import annotations

import pytest
from featurehouse.errors import ConfigError
from featurehouse.online.keys import canonical_key, keyer, parse_entity
from featurehouse.online.records import InvalidKeyError
from online_support import schema

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


def test_the_keyer_of_many_rows_writes_each_rows_canonical_key() -> None:
    """`keyer` (rows at once, a fast path for one int/str key) agrees with `canonical_key`
    row by row, and refuses what it refuses (bools, missing keys, non-integral floats)."""
    import enum

    class Big(enum.IntEnum):
        ONE = 1

    sch = schema()
    rows = [{"customer_id": v} for v in (1, -7, 2**63 - 1, "42", " 3 ", 5.0, Big.ONE)]
    assert keyer(sch)(rows) == [canonical_key(sch, row) for row in rows]
    assert keyer(sch)(rows[:3]) == ["1", "-7", str(2**63 - 1)]
    assert keyer(sch)([]) == []
    for bad in ({"customer_id": True}, {"customer_id": 1.5}, {"other": 1}):
        with pytest.raises(InvalidKeyError):
            keyer(sch)([{"customer_id": 1}, bad])
    text = schema(keys=(("code", "string"),))
    assert keyer(text)([{"code": "é"}, {"code": 7}]) == ["é", "7"]
