"""project.feature_store: the rules of config.meta.feature_store, without dbt (the agreement
with the Jinja check is test_feature_store_rules.py)."""

from __future__ import annotations

import pytest
from featurehouse.project.feature_store import check_feature_store, parse_ttl

pytestmark = pytest.mark.fast

COLUMNS = {
    "Customer_ID": "bigint",
    "effective_at": "timestamp",
    "loaded_at": "timestamp",
    "count_orders_7d": "bigint",
    "embedding": "double[]",
}
SPEC = {
    "entity": "customer",
    "keys": ["customer_id"],
    "event_timestamp": "effective_at",
    "created_timestamp": "loaded_at",
    "ttl": "1d",
}


def test_a_good_block_is_normalised() -> None:
    checked = check_feature_store(SPEC, COLUMNS)
    assert checked.problems == ()
    assert checked.keys == ("customer_id",)  # matched case-insensitively, lower case out
    assert (checked.event_timestamp, checked.created_timestamp) == ("effective_at", "loaded_at")
    assert (checked.ttl, checked.ttl_seconds, checked.online) == ("1d", 86400, True)
    assert checked.features == ("count_orders_7d", "embedding")


def test_ttl_parsing() -> None:
    assert [parse_ttl(t) for t in ("90m", "36h", "1d", "2w", "15s", " 7d ", None)] == [
        5400,
        129600,
        86400,
        1209600,
        15,
        604800,
        None,
    ]
    for bad in ("1 day", "d", "1.5h", "1y", "0d", "1D", "", True, 86400, 1.5):
        with pytest.raises(ValueError, match="is not a duration: write a positive"):
            parse_ttl(bad)


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [
        ({"entity": None}, "meta.feature_store.entity", "missing: name the entity"),
        ({"entity": "  "}, "meta.feature_store.entity", "missing: name the entity"),
        ({"keys": []}, "meta.feature_store.keys", "missing: list the entity key column(s)"),
        ({"keys": ["cust"]}, "meta.feature_store.keys", "unknown column 'cust' (columns: Cust"),
        ({"keys": ["loaded_at"]}, "meta.feature_store.keys", "keys must be integers or strings"),
        ({"event_timestamp": None}, "meta.feature_store.event_timestamp", "missing: name the"),
        ({"event_timestamp": "count_orders_7d"}, "meta.feature_store.event_timestamp", "'bigint'"),
        ({"ttl": "0d"}, "meta.feature_store.ttl", "'0d' is not a duration"),
        ({"ttl": 86400}, "meta.feature_store.ttl", "86400 is not a duration"),
        ({"online": "yes"}, "meta.feature_store.online", "'yes' is not true or false"),
    ],
)
def test_each_rule_names_its_key(edit: dict, key: str, message: str) -> None:
    checked = check_feature_store({**SPEC, **edit}, COLUMNS)
    assert [k for k, _ in checked.problems] == [key]
    assert message in checked.problems[0][1]


def test_columns_rules_and_every_problem_at_once() -> None:
    columns = {**COLUMNS, "COUNT_ORDERS_7D": "bigint", "span": "interval", "note": None}
    checked = check_feature_store({"keys": "customer_id", "ttl": "soon"}, columns)
    assert [k for k, _ in checked.problems] == [
        "meta.feature_store.event_timestamp",
        "meta.feature_store.ttl",
        "meta.feature_store.entity",
        "columns",
        "columns",
        "columns",
    ]
    messages = " | ".join(m for _, m in checked.problems)
    assert "duplicate feature name 'COUNT_ORDERS_7D' (clashes with 'count_orders_7d')" in messages
    assert "column 'span' has unsupported type 'interval' (supported: int64," in messages
    assert "column 'note' has no data_type" in messages


def test_a_stand_in_without_types_skips_type_and_entity_checks() -> None:
    names = dict.fromkeys(COLUMNS)  # a unit test's stand-in: column names only, no entity
    checked = check_feature_store({**SPEC, "entity": None}, names, stand_in=True)
    assert checked.problems == () and checked.features == ("count_orders_7d", "embedding")
    assert check_feature_store("nope", COLUMNS).problems == (
        ("meta.feature_store", "must be a mapping"),
    )
