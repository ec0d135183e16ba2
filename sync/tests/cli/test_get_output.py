"""`featurehouse get` on an edge-value view read from Redis alone: `--json` is strict JSON
(non-finite floats as "NaN"/"Infinity"/"-Infinity"), the text shows floats exactly, a single
string key may hold `=` and `,`, and every answer says its clock."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner
from featurehouse.cli import cli
from featurehouse.online import OnlineStore
from online_support import AS_OF, SHARED_URL, batch, schema, shared_client
from online_support import test_store as make_store

EDGE = schema(
    "feat_edge__values",
    1,
    (("f", "float64"), ("i", "int64"), ("l", "list<float64>")),
    ttl=3600,
    keys=(("edge_id", "string"),),
    entity="edge",
)
FLOATS = [math.nan, math.inf, -math.inf, -0.0, 0.1, 1e300]
KEYS = ["nan", "inf", "-inf", "x=y", "a,b", "big"]
EVENT = AS_OF - timedelta(minutes=5)


@pytest.fixture(scope="module")
def edge_store() -> Iterator[OnlineStore]:
    with make_store(shared_client()) as store:
        rows = batch(
            KEYS,
            EVENT,
            key="edge_id",
            f=pa.array(FLOATS),
            i=pa.array([-(2**63), 2**63 - 1, 0, 1, -1, 7], pa.int64()),
            l=pa.array([[math.nan, -0.0, math.inf]] * 6, pa.list_(pa.float64())),
        )
        store.publish(
            EDGE, [rows], as_of=AS_OF, clock="as_of", mode="full", watermark=AS_OF, is_latest=True
        )
        yield store


def get(store: OnlineStore, tmp_path: Path, *args: str) -> Any:
    env = {"FEATUREHOUSE_REDIS_URL": SHARED_URL, "FEATUREHOUSE_REDIS_PREFIX": store.prefix}
    with CliRunner().isolated_filesystem(temp_dir=tmp_path):  # no dbt project here
        result = CliRunner().invoke(cli, ["get", EDGE.view, *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def strict(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"not JSON: bare {name}")

    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_and_keeps_every_value(edge_store: OnlineStore, tmp_path: Path) -> None:
    rows = strict(get(edge_store, tmp_path, "--json", "--", *KEYS))
    values = [row["features"]["f"]["value"] for row in rows]
    assert values == ["NaN", "Infinity", "-Infinity", -0.0, 0.1, 1e300]
    assert math.copysign(1.0, values[3]) == -1.0  # -0.0 travels as -0.0
    assert [row["features"]["i"]["value"] for row in rows] == [-(2**63), 2**63 - 1, 0, 1, -1, 7]
    assert rows[0]["features"]["l"]["value"] == ["NaN", -0.0, "Infinity"]
    assert [row["keys"]["edge_id"] for row in rows] == KEYS  # `=` and `,` in a single key
    assert {row["features"]["f"]["status"] for row in rows} == {"present"}
    assert {row["clock"] for row in rows} == {AS_OF.isoformat()}
    assert rows[0]["event_at"] == EVENT.isoformat()


def test_a_later_now_ages_the_answer(edge_store: OnlineStore, tmp_path: Path) -> None:
    [row] = strict(get(edge_store, tmp_path, "x=y", "--json", "--now", "2026-05-01T01:00:00"))
    assert row["features"]["f"] == {"value": None, "status": "expired"}
    assert row["event_at"] == EVENT.isoformat() and row["clock"] == "2026-05-01T01:00:00"


def test_text_shows_floats_exactly(edge_store: OnlineStore, tmp_path: Path) -> None:
    text = get(edge_store, tmp_path, "--", "nan", "-inf", "a,b", "big")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert (
        "feat_edge__values.v1 edge_id=a,b event_at 2026-04-30 23:55:00 (at 2026-05-01 00:00:00)"
        in lines
    )
    for shown in ("f nan present", "f -inf present", "f 0.1 present", "f 1e+300 present"):
        assert shown in lines, (shown, lines)
    assert "i -9223372036854775808 present" in lines
    assert "l [nan, -0.0, inf] present" in lines
