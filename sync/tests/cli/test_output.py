"""The CLI's output formatting on hand-made records (pure): sync and parity summaries, get,
list and describe, as text and as JSON-able dicts."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from featurehouse.api.describe import describe_dict
from featurehouse.cli.output import to_json
from featurehouse.cli.sync import parity_dict, parity_text, summary_dict, summary_text
from featurehouse.cli.views import describe_text, get_rows, get_text, list_rows, list_text
from featurehouse.online import FeatureSpec, ReadResult, ViewSchema, ViewState
from featurehouse.sync.materialize import ViewSummary
from featurehouse.sync.parity import Example, FeatureParity, ViewParity

pytestmark = pytest.mark.fast
AT = datetime(2026, 5, 1)
SCHEMA = ViewSchema(
    view="feat_customer__orders",
    version=2,
    entity="customer",
    keys=("customer_id",),
    key_types=("int64",),
    features=(FeatureSpec("count_7d", "int64"), FeatureSpec("avg_7d", "float64")),
    ttl_seconds=86400,
    description="Orders per customer.",
)
STATE = ViewState(SCHEMA, 3, AT, AT, "as_of", AT, 1151, 1024, True, "full", 40, {})


def test_sync_summary_text_and_json() -> None:
    summary = ViewSummary(
        "feat_customer__orders.v2", "full", AT, 2000, 1151, {"null keys": 2}, AT, 3, 1.234,
        notes=("one note",), entities=1151, expired=12,
    )  # fmt: skip
    text = summary_text([summary], "redis://127.0.0.1:6379/0", "fh")
    first = "synced 1 view version(s) to redis://127.0.0.1:6379/0 (prefix 'fh')"
    assert text.splitlines()[0] == first
    assert "1,151 entities (12 expired)  skipped: 2 null keys  generation 3  1.2s" in text
    assert text.endswith("    note: one note")
    row = json.loads(to_json(summary_dict(summary)))
    assert row["as_of"] == "2026-05-01T00:00:00" and row["seconds"] == 1.234


def test_get_rows_and_text() -> None:
    result = ReadResult(
        "feat_customer__orders", 2, 3, ("count_7d", "avg_7d"), ("int64", "float64"),
        ((3, 1.0 / 3), (None, None)), (("present", "present"), ("not_found", "not_found")),
        (AT, None),
    )  # fmt: skip
    rows = get_rows(SCHEMA, [{"customer_id": "42"}, {"customer_id": "-1"}], result)
    assert rows[0]["keys"] == {"customer_id": 42} and rows[0]["view"] == "feat_customer__orders.v2"
    assert rows[1]["features"]["avg_7d"] == {"value": None, "status": "not_found"}
    text = get_text(STATE, rows)
    assert "feat_customer__orders.v2  customer_id=42  event_at 2026-05-01 00:00:00" in text
    assert "avg_7d    0.333333" in text and "count_7d  null" in text


def test_list_and_describe_from_the_store_alone() -> None:
    rows = list_rows(None, [STATE])
    assert rows[0]["view"] == "feat_customer__orders.v2" and rows[0]["ttl"] == "86400s"
    table = list_text(rows).splitlines()
    header = "VIEW ENTITY KEYS FEATURES TTL ONLINE LATEST ROWS SYNCED AS OF"
    assert table[0].split() == header.split()
    assert "1,151" in table[1] and list_text([]).startswith("no feature views")
    info = describe_dict(None, STATE)
    text = describe_text(json.loads(to_json(info)) | {"online_state": info["online_state"]})
    assert text.splitlines()[0] == "feat_customer__orders.v2: Orders per customer."
    assert "online: generation 3, 1,151 entities, as of 2026-05-01 00:00:00 (as_of)" in text


def test_parity_text_and_json() -> None:
    bad = ViewParity(
        "feat_customer__orders.v2", AT, "as_of", 3, True, 100, 1151, 1151, 4, 1, None,
        (FeatureParity("avg_7d", 96, 2), FeatureParity("count_7d", 96, 0)),
        (Example({"customer_id": 7}, "avg_7d", 1.5, 1.25, "present"),), 0.5,
        entities_mismatched=3,
    )  # fmt: skip
    text = parity_text([bad])
    assert "MISMATCH 3 of 100 entities differ (1 in status); sampled of 1,151, 4 expired" in text
    assert "    avg_7d: 2 of 96" in text and "count_7d" not in text.split("\n", 1)[1]
    assert "e.g. customer_id=7 avg_7d: warehouse 1.5, redis 1.25 (present)" in text
    report = parity_dict([bad])
    assert (report["ok"], report["mismatched"], report["compared"]) == (False, 3, 192)
    assert report["views"][0]["mode"] == "sample"
