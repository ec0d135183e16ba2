"""The whole demo synced at 2026-05-01 and read back from Redis, compared for every entity and
view version with what the dbt macro `latest_feature_rows` gives at the same as-of (its
rendered SQL run directly in DuckDB)."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from featurehouse.api.context import Context
from featurehouse.errors import FeaturehouseError
from featurehouse.online import ReadRequest
from featurehouse.project import render
from featurehouse.project.manifest import load_manifest
from featurehouse.project.registry import FeatureView
from featurehouse.sync import materialize
from sync_fixtures import AS_OF, REPO_ROOT, online_views


def reference_rows(context: Context, view: FeatureView) -> list[dict[str, Any]]:
    """The macro's rows at AS_OF, straight from DuckDB (read-only)."""
    sql = render.latest_rows_sql(
        context.project, context.target, context.artifacts.manifest, [view], "$as_of"
    )[view.ref]
    path = context.target.settings["path"]
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.sql(sql, params={"as_of": AS_OF}).to_arrow_table().to_pylist()


def same(served: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(served, float):
        return served == expected or (math.isnan(served) and math.isnan(expected))
    if hasattr(expected, "__float__") and not isinstance(expected, bool | int):
        return served == float(expected)  # decimals come back as float64
    return served == expected


def test_sync_publishes_every_online_view_version(synced: list[Any], context: Context) -> None:
    refs = {s.view for s in synced}
    assert refs == {v.ref for v in online_views(context)}
    assert {"feat_customer__orders.v1", "feat_customer__orders.v2"} <= refs
    for summary in synced:
        assert summary.mode == "full" and summary.as_of == AS_OF
        assert summary.entities_written > 0


def test_every_entity_and_version_matches_the_macro(synced: list[Any], context: Context) -> None:
    """Every entity with a row at or before the as-of is served: present with the macro's
    values, or expired (older than the TTL, the macro's _pit_expired) with its event time."""
    checked = expired = 0
    for view in online_views(context):
        expected = reference_rows(context, view)
        assert expected, f"{view.ref}: the macro returned no rows at {AS_OF}"
        keys = [k.name for k in view.keys]
        entity_rows = [{k: row[k] for k in keys} for row in expected]
        request = ReadRequest(view=view.name, version=view.version)
        result = context.store.read([request], entity_rows, now=AS_OF)[0]
        assert result.features == tuple(f.name for f in view.features)
        for i, row in enumerate(expected):
            assert result.event_at[i] == row[view.event_timestamp], (view.ref, entity_rows[i])
            status = "expired" if row[render.EXPIRED] else "present"
            expired += row[render.EXPIRED]
            for j, name in enumerate(result.features):
                assert result.statuses[i][j] == status, (view.ref, entity_rows[i], name)
                if status == "expired":
                    assert result.values[i][j] is None
                    continue
                assert same(result.values[i][j], row[name]), (
                    view.ref,
                    entity_rows[i],
                    name,
                    result.values[i][j],
                    row[name],
                )
                checked += 1
        state = next(
            s
            for s in context.store.views()
            if (s.schema.view, s.schema.version) == (view.name, view.version)
        )
        assert state.rows == len(expected) and state.as_of == AS_OF
    assert checked > 10_000 and expired > 0
    by_view = {s.view: s for s in synced}
    assert sum(s.expired for s in by_view.values()) == expired


def test_unknown_entities_are_not_found(synced: list[Any], context: Context) -> None:
    request = ReadRequest(view="feat_customer__orders", version=2)
    result = context.store.read([request], [{"customer_id": -1}], now=AS_OF)[0]
    assert set(result.statuses[0]) == {"not_found"} and result.event_at == (None,)


def test_rendered_sql_is_cached_per_project_code(
    synced: list[Any], context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    views = online_views(context)
    monkeypatch.setattr(render, "_run_dbt", lambda *a, **k: pytest.fail("dbt started"))
    sqls = render.latest_rows_sql(
        context.project, context.target, context.artifacts.manifest, views, "$as_of"
    )
    cache = (
        context.project.cache_dir
        / "sql"
        / render.render_key(context.project, context.artifacts.manifest)
    )
    assert len(list(cache.rglob("*.sql"))) >= len(views)
    for view in views:
        assert "$as_of" in sqls[view.ref] and view.relation.alias in sqls[view.ref]


def _sync(context: Context, ref: str, **options: Any) -> materialize.ViewSummary:
    [summary] = materialize.sync(
        context.project,
        context.target,
        context.artifacts,
        context.registry,
        [ref],
        context.store,
        materialize.SyncOptions(clock="as_of", **options),
    )
    return summary


def test_incremental_sync_catches_up_to_the_full_result(
    base_env: dict[str, str], redis_prefix: str
) -> None:
    """Full at 04-20, incremental to 05-01: Redis then serves what the macro gives at 05-01;
    a second incremental at the same as-of writes nothing; going back is refused."""
    env = {**base_env, "FEATUREHOUSE_REDIS_PREFIX": f"{redis_prefix}:incremental"}
    context = Context(project_dir=REPO_ROOT, env=env)
    view = context.registry.resolve("feat_customer__orders.v2")
    first = _sync(context, view.ref, as_of=datetime(2026, 4, 20), mode="full")
    assert first.mode == "full"
    caught_up = _sync(context, view.ref, as_of=AS_OF, mode="incremental")
    assert caught_up.mode == "incremental" and caught_up.entities_written > 0
    expected = reference_rows(context, view)
    entity_rows = [{"customer_id": row["customer_id"]} for row in expected]
    request = ReadRequest(view=view.name, version=view.version)
    result = context.store.read([request], entity_rows, now=AS_OF)[0]
    for i, row in enumerate(expected):
        assert result.event_at[i] == row["effective_at"]
        served = dict(zip(result.features, result.values[i], strict=True))
        assert all(same(served[f.name], row[f.name]) for f in view.features), row
    again = _sync(context, view.ref, as_of=AS_OF, mode="incremental")
    assert again.entities_written == 0
    assert again.skipped["unchanged"] == again.rows_read
    with pytest.raises(FeaturehouseError, match="cannot go back in time: use --full"):
        _sync(context, view.ref, as_of=datetime(2026, 4, 25), mode="incremental")


def test_render_key_survives_a_rebuild_of_the_same_code(context: Context, tmp_path: Path) -> None:
    """What each dbt invocation changes does not move the key; a macro or model edit does."""
    doc = json.loads(context.artifacts.manifest.path.read_text())
    original = context.artifacts.manifest.code_key
    doc["metadata"]["generated_at"] = "2030-01-01T00:00:00Z"
    doc["metadata"]["invocation_id"] = "another-invocation"
    for node in doc["nodes"].values():
        node["created_at"] = 1.0
        node.pop("compiled_code", None)
    rebuilt = tmp_path / "rebuilt.json"
    rebuilt.write_text(json.dumps(doc))
    assert load_manifest(rebuilt).code_key == original
    macro = next(m for m in doc["macros"].values() if m["name"] == "latest_feature_rows")
    macro["macro_sql"] += "\n"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    assert load_manifest(edited).code_key != original


def test_the_build_renders_the_sync_sql_as_dbt_does(context: Context) -> None:
    """The package's on-run-end hook recorded every online view's latest-rows SQL in
    run_results.json, the same text `dbt compile` renders; the first sync after the build
    reads it instead of starting dbt. Another invocation's manifest gets none of it."""
    manifest = context.artifacts.manifest
    built = render.rendered_by_build(context.project, context.target, manifest)
    views = online_views(context)
    assert {v.unique_id for v in views} <= set(built)
    by_dbt = render._render(context.project, context.target, views, "$as_of", False)
    for view in views:
        assert built[view.unique_id].replace(render.AS_OF_STAND_IN, "$as_of") == by_dbt[view.ref]
    other = dataclasses.replace(manifest, invocation_id="another-invocation")
    assert render.rendered_by_build(context.project, context.target, other) == {}
