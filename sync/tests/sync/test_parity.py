"""`featurehouse parity` on the demo: zero mismatches after a sync; one Redis value corrupted on
purpose (one float ulp), one entity dropped and one invented are each found exactly."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager

import msgpack
import numpy as np
import pytest
from click.testing import CliRunner, Result
from featurehouse.api.context import Context
from featurehouse.cli import cli
from featurehouse.online import packed
from featurehouse.online.redis import layout
from featurehouse.sync import materialize, parity
from sync_fixtures import AS_OF, REPO_ROOT, online_views

V2 = "feat_customer__orders.v2"


@pytest.fixture(scope="module")
def parity_env(base_env: dict[str, str], redis_prefix: str) -> dict[str, str]:
    """Every online view version synced at AS_OF under a prefix of this module's own."""
    env = {**base_env, "FEATUREHOUSE_REDIS_PREFIX": f"{redis_prefix}:parity"}
    context = Context(project_dir=REPO_ROOT, env=env)
    materialize.sync(
        context.project,
        context.target,
        context.artifacts,
        context.registry,
        [v.ref for v in online_views(context)],
        context.store,
        materialize.SyncOptions(as_of=AS_OF, clock="as_of"),
    )
    return env


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, ["parity", *args], env=env, catch_exceptions=False)


def record_key(env: dict[str, str], view: str, version: int, entity: str) -> str:
    """The Redis hash holding `entity`'s record (layout.py: bucket = crc32(key) % buckets)."""
    client = Context(project_dir=REPO_ROOT, env=env).store.client
    meta = layout.meta_key(env["FEATUREHOUSE_REDIS_PREFIX"], view, version)
    prefix, name, buckets, tags = (
        v.decode() for v in client.hmget(meta, "key_prefix", "entity", "buckets", "tags")
    )
    return layout.data_key(prefix, name, layout.bucket_of(entity, int(buckets)), int(tags))


@contextmanager
def edited(env: dict[str, str], key: str, field: str, value: bytes | None) -> Iterator[bytes]:
    """Set (or delete, value None) one hash field; put the original back afterwards."""
    client = Context(project_dir=REPO_ROOT, env=env).store.client
    original = client.hget(key, field)
    if value is None:
        client.hdel(key, field)
    else:
        client.hset(key, field, value)
    try:
        yield original
    finally:
        if original is None:
            client.hdel(key, field)
        else:
            client.hset(key, field, original)


def next_float(x: float) -> float:
    """The next representable double above a positive x (one ulp up)."""
    (bits,) = struct.unpack("<q", struct.pack("<d", x))
    return struct.unpack("<d", struct.pack("<q", bits + 1))[0]


def test_zero_mismatches_after_a_sync(parity_env: dict[str, str]) -> None:
    every = run(parity_env, "--json")  # every entity and record is the default
    assert every.exit_code == 0, every.output
    report = json.loads(every.stdout)
    assert report["ok"] and report["mismatched"] == 0
    refs = {v["view"] for v in report["views"]}
    assert {"feat_customer__orders.v1", V2, "feat_customer__category_affinity.v1"} <= refs
    for view in report["views"]:
        assert view["mode"] == "all" and view["as_of"] == AS_OF.isoformat()
        assert view["entities_compared"] == view["warehouse_entities"] == view["redis_entities"]
        assert view["extra_in_redis"] == 0 and view["entities_mismatched"] == 0
        assert view["values_compared"] > 0 and view["mismatch_rate"] == 0.0
    assert sum(v["expired"] for v in report["views"]) > 0  # expired entities compared too
    sampled = run(parity_env, "--sample", "50", "--select", V2, "--json")
    assert sampled.exit_code == 0, sampled.output
    [view] = json.loads(sampled.stdout)["views"]
    assert view["mode"] == "sample" and view["entities_compared"] == 50
    assert view["extra_in_redis"] is None
    text = run(parity_env, "--select", V2, "-q")
    assert text.exit_code == 0 and f"{V2}" in text.stdout and " ok " in text.stdout


def _record(env: dict[str, str], entity: str) -> tuple[str, list]:
    """The entity's msgpack record as stored (its event a tagged time: online/packed.py)."""
    key = record_key(env, "feat_customer__orders", 2, entity)
    client = Context(project_dir=REPO_ROOT, env=env).store.client
    return key, msgpack.unpackb(client.hget(key, entity))


def _dumps(record: list) -> bytes:
    return msgpack.packb(record)


def _earlier(tagged: int, us: int) -> int:
    """A tagged time `us` microseconds earlier."""
    return int(packed.tagged(np.array([packed.untagged(tagged) - us]))[0])


def _fault(env: dict[str, str], kind: str) -> tuple[str, str, bytes | None, str]:
    """(data key, field, value to write or None to delete, what parity must name)."""
    key, record = _record(env, "1151")
    if kind == "changed value":  # one float ulp: only an exact comparison sees it
        names = ["count_orders_1d", "sum_order_amount_1d", "count_orders_7d", "sum_order_amount_7d"]
        position = 2 + names.index("sum_order_amount_7d")  # [event_at, last_ordered_at, ...]
        assert isinstance(record[position], float) and record[position] > 0
        record[position] = next_float(record[position])
        return key, "1151", _dumps(record), "sum_order_amount_7d"
    if kind == "stale record":  # an older row's event time
        record[0] = _earlier(record[0], 86_400_000_000)
        return key, "1151", _dumps(record), "effective_at"
    if kind == "wrong status":  # a tombstone (expired) for an entity the warehouse serves
        created = (
            Context(project_dir=REPO_ROOT, env=env)
            .store.describe("feat_customer__orders", 2)
            .schema.created
        )
        return key, "1151", _dumps([record[0], *record[-1:]] if created else [record[0]]), "status"
    if kind == "missing record":
        return key, "1151", None, "status"
    ghost = record_key(env, "feat_customer__orders", 2, "987654321")  # an extra record
    return ghost, "987654321", _dumps(record), parity.EXTRA


@pytest.mark.parametrize(
    "kind", ["changed value", "stale record", "wrong status", "missing record", "extra record"]
)
def test_each_injected_fault_fails_parity_naming_the_entity(
    parity_env: dict[str, str], kind: str
) -> None:
    key, entity, value, named = _fault(parity_env, kind)
    with edited(parity_env, key, entity, value):
        result = run(parity_env, "--select", V2, "--json")
        assert result.exit_code == 1, (kind, result.output)
        [view] = json.loads(result.stdout)["views"]
        assert view["mismatched"] == 1 and not view["ok"], (kind, view)
        [example] = view["examples"]
        assert example["keys"] == {"customer_id": int(entity)} and example["feature"] == named
        assert view["status_mismatched"] == (named == "status")
        assert view["extra_in_redis"] == (named == parity.EXTRA)
        assert "answered differently" in result.stderr and V2 in result.stderr
        text = run(parity_env, "--select", V2, "-q")
        assert text.exit_code == 1 and f"customer_id={entity} {named}" in text.stdout
    assert run(parity_env, "--select", V2, "-q").exit_code == 0  # restored


def test_a_changed_float_is_reported_bit_for_bit(parity_env: dict[str, str]) -> None:
    key, entity, value, _ = _fault(parity_env, "changed value")
    _, original = _record(parity_env, entity)
    with edited(parity_env, key, entity, value):
        for args in ([], ["--sample", "5000"]):
            result = run(parity_env, "--select", V2, "--json", *args)
            assert result.exit_code == 1, result.output
            [view] = json.loads(result.stdout)["views"]
            bad = {n: f for n, f in view["features"].items() if f["mismatched"]}
            assert (
                list(bad) == ["sum_order_amount_7d"]
                and bad["sum_order_amount_7d"]["mismatched"] == 1
            )
            [example] = view["examples"]
            assert example["warehouse"] == original[5] and example["status"] == "present"
            assert example["redis"] == next_float(original[5])


def test_library_results_and_bad_usage(parity_env: dict[str, str]) -> None:
    context = Context(project_dir=REPO_ROOT, env=parity_env)
    [result] = parity.check(
        context.project,
        context.target,
        context.artifacts,
        context.registry,
        context.store,
        ["feat_customer__category_affinity"],
        parity.ParityOptions(sample=None),
    )
    assert result.ok and result.compared > 0
    names = [f.feature for f in result.features]
    assert names[0] == "effective_at" and "category_affinity_30d" in names  # double[]
    both = run(parity_env, "--sample", "5", "--all")
    assert both.exit_code == 2 and "exclude each other" in both.output
    unpublished = run({**parity_env, "FEATUREHOUSE_REDIS_PREFIX": "fhtest:nothing-here"}, "-q")
    assert unpublished.exit_code == 1 and "featurehouse sync" in unpublished.stderr


def test_help_documents_an_example() -> None:
    for command in ("parity", "dataset"):
        text = CliRunner().invoke(cli, [command, "--help"]).stdout
        assert "Example" in text and f"featurehouse {command}" in text
