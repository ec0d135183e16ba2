"""The server's request parsing, read plans and answer shapes, without HTTP or Redis (pure):
the same functions the endpoints call, on a hand-made catalog and read results."""

from __future__ import annotations

from datetime import datetime

import pytest
from featurehouse.online import FeatureSpec, ReadResult, ViewSchema, ViewState
from featurehouse.server.catalog import Catalog, RequestError
from featurehouse.server.payloads import (
    Limits,
    check_keys,
    check_names,
    feast_answer,
    feast_body,
    json_body,
    native_answer,
    parse_feast,
    parse_native,
)
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.fast
AT = datetime(2026, 5, 1)
LIMITS = Limits(max_entities=3, max_features=2)


def _state(version: int, latest: bool, features: tuple[str, ...]) -> ViewState:
    schema = ViewSchema(
        view="feat_customer__orders",
        version=version,
        entity="customer",
        keys=("customer_id",),
        key_types=("int64",),
        features=tuple(FeatureSpec(f, "float64") for f in features),
        ttl_seconds=None,
    )
    return ViewState(schema, 1, AT, AT, "as_of", None, 2, 1024, latest, "full", 40, {})


CATALOG = Catalog((_state(1, False, ("avg_7d", "old")), _state(2, True, ("avg_7d",))))


def _result(values: list[float | None], version: int) -> ReadResult:
    statuses = tuple(("present",) if v is not None else ("not_found",) for v in values)
    return ReadResult(
        view="feat_customer__orders",
        version=version,
        generation=1,
        features=("avg_7d",),
        types=("float64",),
        values=tuple((v,) for v in values),
        statuses=statuses,
        event_at=tuple(AT if v is not None else None for v in values),
    )


def test_a_feast_request_is_planned_and_answered_column_wise() -> None:
    refs = ["feat_customer__orders:avg_7d", "feat_customer__orders.v1:avg_7d"]
    body = {"features": refs, "entities": {"customer_id": [1, 2]}, "full_feature_names": True}
    asked = parse_feast(body, LIMITS)
    plan = CATALOG.plan(asked.features)
    check_keys(plan, asked)
    check_names(plan, asked)
    assert [(r.version, r.features) for r in plan.requests] == [(2, ("avg_7d",)), (1, ("avg_7d",))]
    answer = feast_answer(plan, asked, [_result([0.5, None], 2), _result([float("nan"), 1.0], 1)])
    assert answer["metadata"]["feature_names"] == [
        "customer_id",
        "feat_customer__orders__avg_7d",
        "feat_customer__orders__v1__avg_7d",  # qualified names: refs.qualified
    ]
    keys, latest, pinned = answer["results"]
    assert keys["values"] == [1, 2] and keys["statuses"] == ["PRESENT", "PRESENT"]
    assert list(latest["values"]) == [0.5, None] and latest["statuses"] == ["PRESENT", "NOT_FOUND"]
    assert pinned["values"] == ["NaN", 1.0]  # non-finite floats spelled as proto3 JSON
    assert latest["event_timestamps"][1] == datetime(1970, 1, 1)


def test_a_native_request_answers_row_wise() -> None:
    body = {"features": ["feat_customer__orders:avg_7d"], "entities": [{"customer_id": "7"}]}
    asked = parse_native(body, LIMITS)
    plan = CATALOG.plan(asked.features)
    check_keys(plan, asked)
    [row] = native_answer(plan, asked, [_result([2.5], 2)])["rows"]
    assert row == {
        "customer_id": "7",
        "feat_customer__orders:avg_7d": {"value": 2.5, "status": "present", "event_at": AT},
    }


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ([], "bad_body", "JSON object"),
        ({"entities": {"customer_id": [1]}}, "bad_features", "non-empty list"),
        ({"features": ["a:b", "a:c", "a:d"], "entities": {"k": [1]}}, "too_many_features", "2"),
        ({"features": ["a:b"], "entities": {"k": [1, 2, 3, 4]}}, "too_many_entities", "3"),
        ({"features": ["a:b"], "entities": {"k": [1], "j": [1, 2]}}, "bad_entities", "length"),
        ({"features": ["a:b"], "entities": {"k": [1]}, "full_feature_names": 1}, "bad_body", ""),
    ],
)
def test_bad_feast_bodies_name_what_is_wrong(body: object, code: str, words: str) -> None:
    with pytest.raises(RequestError) as error:
        parse_feast(body, LIMITS)
    assert error.value.code == code and words in error.value.message


@pytest.mark.parametrize(
    ("ref", "code", "words"),
    [
        ("count_orders_7d", "bad_feature_ref", "use `view:feature` or `view.vN:feature`"),
        ("nope:x", "unknown_view", "published views: feat_customer__orders"),
        ("feat_customer__orders.v9:x", "unknown_version", "published versions"),
        ("feat_customer__orders:old", "unknown_feature", "it serves avg_7d"),
    ],
)
def test_bad_references_are_refused_with_a_code(ref: str, code: str, words: str) -> None:
    with pytest.raises(RequestError) as error:
        CATALOG.plan([ref])
    assert (error.value.status, error.value.code) == (400, code)
    assert words in error.value.message


_KEY = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=0, max_value=10**6),
    st.booleans(),
    st.floats(),
    st.text(max_size=3),
    st.sampled_from(["12", " -5 ", None]),
)


def _refusal(column: list) -> str | None:
    body = {"features": ["feat_customer__orders:avg_7d"], "entities": {"customer_id": column}}
    asked = parse_feast(body, Limits(max_entities=100))
    try:
        check_keys(CATALOG.plan(asked.features), asked)
    except RequestError as exc:
        return exc.message
    return None


@given(column=st.lists(_KEY, min_size=1, max_size=24), ints=st.integers(0, 16))
@settings(max_examples=300, deadline=None)
def test_a_long_key_column_is_checked_as_its_keys_one_by_one(column: list, ints: int) -> None:
    """From 8 keys on a column's types are checked in C loops first: it is accepted or
    refused exactly as its keys are, each alone (the first refused one named)."""
    column = list(range(ints)) + column
    alone = next((r for r in map(_refusal, ([v] for v in column)) if r is not None), None)
    assert _refusal(column) == alone


def test_a_store_that_lost_its_data_is_a_server_error() -> None:
    """No view published at all (Redis flushed or restarted empty): 503, not the client's 400."""
    with pytest.raises(RequestError) as error:
        Catalog(()).plan(["feat_customer__orders:avg_7d"])
    assert (error.value.status, error.value.code) == (503, "nothing_published")
    assert "`featurehouse sync`" in error.value.message


def test_keys_of_the_wrong_type_and_clashing_names_are_refused() -> None:
    asked = parse_native({"features": ["feat_customer__orders:avg_7d"], "entities": [{}]}, LIMITS)
    with pytest.raises(RequestError, match="needs entity key customer_id"):
        check_keys(CATALOG.plan(asked.features), asked)
    body = {"features": ["feat_customer__orders:avg_7d"], "entities": {"customer_id": [1.5]}}
    asked = parse_feast(body, LIMITS)
    with pytest.raises(RequestError, match="is not a 64-bit integer"):
        check_keys(CATALOG.plan(asked.features), asked)
    refs = ["feat_customer__orders:avg_7d", "feat_customer__orders.v1:avg_7d"]
    asked = parse_feast({"features": refs, "entities": {"customer_id": [1]}}, LIMITS)
    with pytest.raises(RequestError, match="full_feature_names"):
        check_names(CATALOG.plan(asked.features), asked)


_MIXED = (
    ("f", "float64"), ("i", "int64"), ("s", "string"), ("b", "bool"), ("l", "list<float64>"),
)  # fmt: skip
_MIXED_CATALOG = Catalog(
    (
        ViewState(
            ViewSchema(
                view="feat_mixed",
                version=3,
                entity="customer",
                keys=("customer_id",),
                key_types=("int64",),
                features=tuple(FeatureSpec(n, t) for n, t in _MIXED),
                ttl_seconds=None,
            ),
            1,
            AT,
            AT,
            "as_of",
            None,
            2,
            1024,
            True,
            "full",
            40,
            {},
        ),
        _state(2, True, ("avg_7d",)),
    )
)
_FLOATS = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([-0.0, 0.0, 1e16])
)
_ROW = st.tuples(
    _FLOATS,
    st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    st.one_of(st.none(), st.text(max_size=5)),
    st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.lists(_FLOATS, max_size=3)),
)
_STATUS = st.sampled_from(["present", "expired", "not_found"])
_AT = st.one_of(st.none(), st.datetimes(datetime(1971, 1, 1), datetime(2200, 1, 1)))


@given(
    rows=st.lists(st.tuples(_ROW, _STATUS, _AT, _FLOATS, _AT), max_size=12),
    full=st.booleans(),
    metadata=st.booleans(),
)
@settings(max_examples=300, deadline=None)
def test_the_feast_body_is_byte_for_byte_the_feast_answer(
    rows: list, full: bool, metadata: bool
) -> None:
    """`feast_body` (spliced bytes) writes exactly what orjson writes of `feast_answer`:
    NaN/Infinity strings, -0.0, exact floats, nulls, lists, timestamps, both views' shared
    statuses and times, metadata."""
    refs = [
        "feat_mixed:l",
        "feat_customer__orders:avg_7d",
        *(f"feat_mixed:{n}" for n, _ in _MIXED[:4]),
    ]
    body = {
        "features": refs,
        "entities": {"customer_id": list(range(len(rows)))},
        "full_feature_names": full,
        "include_feature_view_version_metadata": metadata,
    }
    asked = parse_feast(body, Limits())
    plan = _MIXED_CATALOG.plan(asked.features)
    names = plan.requests[0].features
    mixed = ReadResult(
        view="feat_mixed",
        version=3,
        generation=1,
        features=names,
        types=tuple(dict(_MIXED)[n] for n in names),
        values=tuple(tuple(dict(zip("fisbl", r[0], strict=True))[n] for n in names) for r in rows),
        statuses=tuple((r[1],) * len(names) for r in rows),
        event_at=tuple(r[2] for r in rows),
    )
    orders = _result([r[3] for r in rows], 2)
    orders = ReadResult(**{**orders.__dict__, "event_at": tuple(r[4] for r in rows)})
    expected = json_body(feast_answer(plan, asked, [mixed, orders]))
    assert feast_body(plan, asked, [mixed, orders]) == expected
