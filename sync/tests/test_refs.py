"""refs: the one grammar of view and feature references and their qualified column names."""

from __future__ import annotations

import pytest
from featurehouse.refs import (
    BadReference,
    FeatureRef,
    ViewRef,
    format_view,
    parse_feature,
    parse_view,
    qualified,
)

pytestmark = pytest.mark.fast


def test_views_parse_and_format_back() -> None:
    for text, ref in {
        "feat_customer__orders": ViewRef("feat_customer__orders"),
        "feat_customer__orders.v2": ViewRef("feat_customer__orders", 2),
        "_x.v10": ViewRef("_x", 10),
    }.items():
        assert parse_view(text) == ref and str(ref) == text
        assert format_view(ref.name, ref.version) == text


def test_features_parse_and_format_back() -> None:
    ref = parse_feature("feat_customer__orders.v1:count_orders_7d")
    assert ref == FeatureRef(ViewRef("feat_customer__orders", 1), "count_orders_7d")
    assert str(ref) == "feat_customer__orders.v1:count_orders_7d"
    assert parse_feature("v:*").feature == "*"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1view",
        "view.v",
        "view.x",
        "view.v1.v2",
        "view.V1",
        " view",
        "view ",
        "a-b",
        "v.v1234567890",
    ],
)
def test_bad_view_references_name_the_text_and_the_forms(text: str) -> None:
    with pytest.raises(BadReference, match=r"is not a view reference; use `name` or `name\.vN`"):
        parse_view(text)


@pytest.mark.parametrize(
    "text", ["view", "view:", ":f", "view:a:b", "view:a b", "view.x:f", "v: f"]
)
def test_bad_feature_references_name_the_text_and_the_form(text: str) -> None:
    with pytest.raises(BadReference) as error:
        parse_feature(text)
    assert repr(text) in str(error.value)
    assert "use `view:feature` or `view.vN:feature`" in str(error.value)


def test_one_qualified_column_convention() -> None:
    assert qualified("feat_customer__orders", None, "count_orders_7d") == (
        "feat_customer__orders__count_orders_7d"
    )
    assert qualified("feat_customer__orders", 1, "count_orders_7d") == (
        "feat_customer__orders__v1__count_orders_7d"
    )
    assert parse_feature("feat_x.v3:f").column == "feat_x__v3__f"
    assert parse_feature("feat_x:f").column == "feat_x__f"
    assert parse_view("feat_x.v3").prefix == "feat_x__v3__"
    assert parse_view("feat_x").column("effective_at") == "feat_x__effective_at"
