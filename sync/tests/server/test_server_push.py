"""POST /push on a real `featurehouse serve`: Feast's request shape, online writes under the
newer-wins rule, offline rows as Parquet in --push-dir, and a 4xx naming each problem."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from featurehouse.server.catalog import Catalog, RequestError
from featurehouse.server.push import handle_push
from online_support import SHARED_URL, batch, schema, shared_client
from online_support import test_store as scratch_store
from server_support import ServerProcess, serve

VIEW = dataclasses.replace(
    schema("feat_push__scores", 1, (("score", "float64"), ("label", "string"))),
    extra={"event_timestamp": "scored_at", "created_timestamp": "loaded_at"},
)
AS_OF = datetime(2026, 5, 1)


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    """A view published at 2026-05-01 (customer 1 scored an hour before) and a server."""
    workdir = tmp_path_factory.mktemp("push")
    with scratch_store(shared_client()) as store:
        rows = batch(
            [1], AS_OF - timedelta(hours=1), score=pa.array([0.5]), label=pa.array(["old"])
        )
        store.publish(VIEW, [rows], as_of=AS_OF, clock="as_of", mode="full", watermark=AS_OF,
                      is_latest=True)  # fmt: skip
        with serve(SHARED_URL, store.prefix, workdir, "--push-dir", str(workdir / "pushed")) as s:
            yield s, workdir / "pushed"


def _push(server: ServerProcess, df: dict[str, Any], to: str = "online") -> Any:
    body = {"push_source_name": "feat_push__scores", "df": df, "to": to}
    return server.post("/push", body)


def _read(server: ServerProcess, *customers: int) -> dict[str, Any]:
    body = {"features": ["feat_push__scores:score", "feat_push__scores:label"],
            "entities": {"customer_id": list(customers)}}  # fmt: skip
    return server.post("/get-online-features", body).json()


def _df(customers: list[int], at: datetime, scores: list[float]) -> dict[str, Any]:
    return {
        "customer_id": customers,
        "scored_at": [at.isoformat()] * len(customers),
        "score": scores,
        "label": ["pushed"] * len(customers),
    }


def test_a_push_is_served_and_an_older_one_is_not(pushed: tuple[ServerProcess, Path]) -> None:
    server, _ = pushed
    newer = _push(server, _df([1, 2], AS_OF - timedelta(minutes=10), [0.9, 0.2]))
    assert newer.status_code == 200, newer.text
    assert newer.json() | {"written": 2} == {
        "view": "feat_push__scores", "version": 1, "rows": 2, "to": "online", "written": 2,
        "skipped_older": 0,
    }  # fmt: skip
    older = _push(server, _df([1], AS_OF - timedelta(hours=5), [0.0]))
    assert older.json()["skipped_older"] == 1
    results = _read(server, 1, 2)["results"]
    assert results[1]["values"] == [0.9, 0.2]
    assert results[2]["values"] == ["pushed", "pushed"]


def test_offline_rows_land_as_parquet(pushed: tuple[ServerProcess, Path]) -> None:
    server, folder = pushed
    df = {**_df([7], AS_OF - timedelta(minutes=5), [0.7]), "loaded_at": ["2026-04-30T23:56:00Z"]}
    answer = _push(server, df, "online_and_offline").json()
    table = pq.read_table(answer["file"])
    assert Path(answer["file"]).parent == folder / "feat_push__scores_v1"
    assert table.column_names == ["customer_id", "scored_at", "loaded_at", "score", "label"]
    assert table.to_pylist() == [
        {"customer_id": 7, "scored_at": AS_OF - timedelta(minutes=5),
         "loaded_at": datetime(2026, 4, 30, 23, 56), "score": 0.7, "label": "pushed"}
    ]  # fmt: skip
    assert _read(server, 7)["results"][1]["values"] == [0.7]


def test_offline_only_lands_without_serving(pushed: tuple[ServerProcess, Path]) -> None:
    server, folder = pushed
    answer = _push(server, _df([8], AS_OF - timedelta(minutes=1), [0.8]), "offline").json()
    assert (
        "written" not in answer and Path(answer["file"]).parent == folder / "feat_push__scores_v1"
    )
    assert pq.read_table(answer["file"])["customer_id"].to_pylist() == [8]
    assert _read(server, 8)["results"][1]["statuses"] == ["NOT_FOUND"]


def test_a_pinned_version_is_pushed(pushed: tuple[ServerProcess, Path]) -> None:
    server, _ = pushed
    body = {"push_source_name": "feat_push__scores.v1", "to": "online",
            "df": _df([9], AS_OF - timedelta(minutes=2), [0.3])}  # fmt: skip
    assert server.post("/push", body).json()["written"] == 1
    assert _read(server, 9)["results"][1]["values"] == [0.3]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"push_source_name": "feat push", "df": {"a": [1]}}, "bad_push_source", "view.vN"),
        ({"push_source_name": "feat_nope", "df": {"a": [1]}}, "unknown_view", "feat_nope"),
        ({"push_source_name": "feat_push__scores", "df": {"customer_id": [1]}}, "bad_df",
         "missing column(s) scored_at, score, label"),
        ({"push_source_name": "feat_push__scores",
          "df": {**_df([1], AS_OF, [0.1]), "colour": ["red"]}}, "bad_df", "colour"),
        ({"push_source_name": "feat_push__scores",
          "df": {**_df([1], AS_OF, [0.1]), "score": ["high"]}}, "bad_value", "'score'"),
        ({"push_source_name": "feat_push__scores",
          "df": _df([1], datetime(2099, 1, 1), [0.1])}, "future_event", "scored_at"),
        ({"push_source_name": "feat_push__scores", "df": _df([1], AS_OF, [0.1]),
          "to": "somewhere"}, "bad_to", "online_and_offline"),
    ],
)  # fmt: skip
def test_bad_pushes_say_what_is_wrong(
    pushed: tuple[ServerProcess, Path], body: dict[str, Any], code: str, words: str
) -> None:
    server, _ = pushed
    answer = server.post("/push", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == code
    assert words in answer.json()["detail"]


def test_offline_needs_a_push_dir() -> None:
    with scratch_store(shared_client()) as store:
        rows = batch([1], AS_OF, score=pa.array([0.5]), label=pa.array(["a"]))
        store.publish(VIEW, [rows], as_of=AS_OF, clock="as_of", mode="full", watermark=AS_OF,
                      is_latest=True)  # fmt: skip
        catalog = Catalog(tuple(store.views()))
        body = {"push_source_name": "feat_push__scores", "df": _df([1], AS_OF, [0.1]),
                "to": "offline"}  # fmt: skip
        with pytest.raises(RequestError, match="--push-dir"):
            asyncio.run(handle_push(store, catalog, body, None, 100))
