"""The read protocol (read.ReadSteps): a round trip of plain HGETs on the cached generation's
keys, then the generation check; a generation switched, deleted or dropped between the two
is never served, on every engine (Redis, Valkey, a cluster).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from featurehouse.online import NotPublishedError, OnlineStore, ReadRequest, ReadResult
from featurehouse.online.redis import RedisStore, read
from featurehouse.online.redis import answer as answer_module
from featurehouse.online.redis.cluster import open_client
from featurehouse.online.redis.connection import endpoint
from featurehouse.online.redis.read import Reader, Round
from online_support import AS_OF, schema, simple_batch
from online_support import test_store as make_store

VIEW = schema().view
ROWS = [{"customer_id": i} for i in (3, 41, 97)]


@pytest.fixture
def store(engine_url: str) -> Iterator[RedisStore]:
    """A store of each engine (Redis, Valkey, a cluster) under a prefix of its own."""
    with make_store(open_client(endpoint(engine_url))) as s:
        yield s  # type: ignore[misc]


def publish(store: OnlineStore, tag: int, n: int = 100) -> None:
    store.publish(
        schema(), [simple_batch(n, tag=tag)], as_of=AS_OF, clock="as_of", mode="full",
        watermark=AS_OF, is_latest=True,
    )  # fmt: skip


def finish(reader: Reader, steps, replies) -> ReadResult:
    """Drive the remaining round trips of `steps` on `reader`; the one result."""
    try:
        trip = steps.send(replies)
        while True:
            trip = steps.send(reader.execute(trip))
    except StopIteration as done:
        [result] = done.value
        return result


def planned(store: RedisStore) -> tuple[Reader, object, Round]:
    """A warm reader's first round trip for ROWS, planned on the current generation."""
    reader: Reader = store._reader
    reader.read([ReadRequest(VIEW)], ROWS, None)  # caches the metadata
    steps = reader.steps([ReadRequest(VIEW)], ROWS, None)
    return reader, steps, next(steps)


def whole(result: ReadResult, tag: int) -> bool:
    """Every entity present and from the sync tagged `tag`."""
    pairs = zip(result.values, ROWS, strict=True)
    return all(s == ("present", "present") for s in result.statuses) and all(
        v == (r["customer_id"] + tag / 10, tag) for v, r in pairs
    )


def test_a_generation_switched_and_deleted_before_the_data_reads_is_not_served(
    store: RedisStore,
) -> None:
    publish(store, tag=1)
    reader, steps, trip = planned(store)
    old = store.describe(VIEW, 1).generation
    publish(store, tag=2)  # switches, then unlinks the old generation's keys
    assert [d[1] for d in trip.data if f":g{old}:" in d[1]] and not any(
        store.client.exists(d[1]) for d in trip.data
    )
    result = finish(reader, steps, reader.execute(trip))  # records gone: the check says stale
    assert whole(result, tag=2) and result.generation == old + 1


def test_data_read_before_a_switch_and_checked_after_it_is_asked_again(
    store: RedisStore,
) -> None:
    publish(store, tag=1)
    reader, steps, trip = planned(store)
    data, _ = reader.execute(Round(trip.data, []))
    publish(store, tag=2)
    _, check = reader.execute(Round([], trip.check))
    assert whole(finish(reader, steps, (data, check)), tag=2)


def test_a_version_dropped_between_plan_and_check_is_not_published(store: RedisStore) -> None:
    publish(store, tag=1)
    reader, steps, trip = planned(store)
    store.delete(VIEW, 1)
    with pytest.raises(NotPublishedError, match="not published"):
        finish(reader, steps, reader.execute(trip))


def test_reads_during_repeated_switches_are_always_one_whole_generation(
    store: RedisStore, engine_url: str
) -> None:
    """A writer switches generations (and deletes the old ones) in a loop while this
    thread reads: every answer is one whole generation's, never a half-deleted one."""
    publish(store, tag=1, n=2000)
    writer = RedisStore(open_client(endpoint(engine_url)), store.prefix)
    stop, switches = threading.Event(), []

    def switch() -> None:
        tag = 1
        while not stop.is_set():
            tag = tag % 9 + 1
            publish(writer, tag=tag, n=2000)
            switches.append(tag)

    thread = threading.Thread(target=switch)
    thread.start()
    reads, tags, bad = 0, set(), []
    start = time.monotonic()
    try:
        while time.monotonic() - start < (3 if len(switches) >= 3 else 60):
            [res] = store.read([ReadRequest(VIEW)], ROWS)
            got = {v[1] for v in res.values}
            if len(got) != 1 or not whole(res, tag=got.pop()):
                bad.append(res)
            tags.add(res.values[0][1])
            reads += 1
    finally:
        stop.set()
        thread.join(timeout=60)
    assert bad == [] and reads > 50 and len(switches) >= 3 and len(tags) >= 2


def test_a_round_packed_by_hand_is_what_hiredis_packs(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Round.packed()` (HGETs written as RESP by the C extension, else as text from 8
    entities on) sends the very bytes hiredis packs of its commands; without the extension,
    a key that is not ASCII falls back to hiredis."""
    import hiredis

    publish(store, 1)
    many = [{"customer_id": i} for i in range(12)]
    for c in (read._hget_round, None):
        monkeypatch.setattr(read, "_hget_round", c)
        reader, _, trip = planned(store)
        assert (trip.packed_data is None) == (c is None)  # a few entities: hiredis packs them
        assert trip.packed() == b"".join(map(hiredis.pack_command, [*trip.data, *trip.check]))
        trip = next(reader.steps([ReadRequest(VIEW)], many, None))
        assert trip.packed_data is not None
        assert trip.packed() == b"".join(map(hiredis.pack_command, [*trip.data, *trip.check]))
    unicode = Round([("HGET", "k", "é")], [("HGET", "m", "gen")])
    assert unicode.packed() == b"".join(map(hiredis.pack_command, unicode.data + unicode.check))


def test_reads_without_the_c_extension_answer_the_same(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python path (a machine without a C compiler) answers every read as the extension
    does: found, not found, a feature selection, 1 to 150 entities."""
    publish(store, 1, n=120)
    rows = [{"customer_id": i} for i in range(-10, 140)]
    asks = [[ReadRequest(VIEW)], [ReadRequest(VIEW, 1, ("count",))]]
    with_c = [store.read(ask, rows[:k]) for ask in asks for k in (1, 7, 8, 150)]
    monkeypatch.setattr(read, "_hget_round", None)
    monkeypatch.setattr(answer_module, "_present", None)
    python = [_fresh_read(store, ask, rows[:k]) for ask in asks for k in (1, 7, 8, 150)]
    assert python == with_c
    assert {s for res in with_c for row in res[0].statuses for s in row} == {
        "present",
        "not_found",
    }


def _fresh_read(store: RedisStore, ask: list[ReadRequest], rows: list) -> list[ReadResult]:
    """A read by a fresh reader (none of the first reader's cached plans)."""
    return RedisStore(store.client, store.prefix).read(ask, rows)


@pytest.mark.fast
def test_the_all_present_columns_are_the_record_by_record_ones() -> None:
    """`_all_present` (C loops) answers only when every record is found, not a tombstone and
    within the TTL, and then exactly as `_each` does; otherwise it leaves the answer to it."""
    from operator import itemgetter

    from featurehouse.online.redis.answer import _all_present, _each

    pick = itemgetter(1, 2)
    present = [[1_000, 1.5, "a"], [2_000, None, "b"], [-5, 0.0, ""]]
    for oldest in (None, -5):
        assert _all_present(present, 1, oldest, pick, 2) == _each(present, 1, oldest, pick, 2)
    assert _all_present(present, 1, -4, pick, 2) is None  # one exactly past the TTL boundary
    assert _all_present([*present, None], 1, None, pick, 2) is None  # one not found
    assert _all_present([*present, [3_000]], 1, None, pick, 2) is None  # a tombstone
    assert _all_present([], 1, None, pick, 2) is None
    assert _each(present, 1, -4, pick, 2)[1][2] == ("expired", "expired")
