"""The event decoder: a batch of good events is decoded column by column with exactly the
values and checks of the per-event path, which still names every bad event's reason."""

from __future__ import annotations

import datetime as dt

import orjson
import pyarrow as pa
import pytest
from featurehouse.streaming.events import Decoder, Message

pytestmark = pytest.mark.fast
NOW = dt.datetime(2026, 5, 1, 12)
SCHEMA = pa.schema(
    [
        ("id", pa.int64()), ("name", pa.string()), ("score", pa.float64()),
        ("ok", pa.bool_()), ("at", pa.timestamp("us")),
    ]
)  # fmt: skip
GOOD = [
    {"id": 1, "name": "a", "score": 1, "ok": True, "at": "2026-05-01T10:00:00Z"},
    {"id": 2, "name": None, "score": 2.5, "ok": False, "at": "2026-05-01T11:30:00+01:30"},
    {"id": 3, "score": None, "at": "2026-05-01T09:00:00.123456Z"},
]
EXPECTED = pa.table(
    {
        "id": [1, 2, 3], "name": ["a", None, None], "score": [1.0, 2.5, None],
        "ok": [True, False, None],
        "at": [dt.datetime(2026, 5, 1, 10), dt.datetime(2026, 5, 1, 10),
               dt.datetime(2026, 5, 1, 9, 0, 0, 123456)],
    },
    schema=SCHEMA,
)  # fmt: skip


def _decoder() -> Decoder:
    return Decoder(SCHEMA, ("id", "at"), "at", dt.timedelta(minutes=5))


def _messages(values: list[bytes | None]) -> list[Message]:
    return [Message("s", f"{i}-0", v, i) for i, v in enumerate(values)]


def test_a_good_batch_decodes_by_column_as_each_event_would() -> None:
    events = [orjson.dumps(e) for e in GOOD]
    batch = _decoder().decode(_messages(events), NOW)
    assert batch.rejected == () and batch.rows.equals(EXPECTED)
    one_by_one = [_decoder().decode(_messages([e]), NOW).rows for e in events]
    assert pa.concat_tables(one_by_one).equals(EXPECTED)
    # an empty message sends the batch through the per-event path: same rows for the rest
    mixed = _decoder().decode(_messages([*events, None]), NOW)
    assert mixed.rows.equals(EXPECTED) and [r.kind for r in mixed.rejected] == ["empty"]


@pytest.mark.parametrize(
    ("bad", "kind"),
    [
        ({"id": True, "at": "2026-05-01T10:00:00"}, "wrong_type"),  # a bool is no integer
        ({"id": 4, "score": "1.5", "at": "2026-05-01T10:00:00"}, "wrong_type"),
        ({"id": 4, "name": 7, "at": "2026-05-01T10:00:00"}, "wrong_type"),
        ({"id": 4, "at": 1_746_000_000}, "wrong_type"),
        ({"id": 4, "at": "2026-05-01 12:30:00"}, "future"),
        ({"id": None, "at": "2026-05-01T10:00:00"}, "missing"),
        ({"id": 4, "at": "2026-05-01T10:00:00", "colour": "red"}, "unknown_column"),
    ],
)
def test_one_bad_event_is_rejected_with_its_reason_and_the_rest_kept(
    bad: dict[str, object], kind: str
) -> None:
    events = [orjson.dumps(e) for e in GOOD] + [orjson.dumps(bad)]
    batch = _decoder().decode(_messages(events), NOW)
    assert batch.rows.equals(EXPECTED)
    assert [r.kind for r in batch.rejected] == [kind]
    assert batch.produced_ms == (0, 1, 2)
