"""Sync from the Postgres target (psycopg2 server-side cursor, the macro's default__ variant):
every online view version serves the same values as the DuckDB sync."""

from __future__ import annotations

import math
from typing import Any

from featurehouse.api.context import Context
from featurehouse.online import ReadRequest
from featurehouse.sync import materialize
from sync_fixtures import AS_OF, REPO_ROOT, fh_environment, online_views


def close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_postgres_sync_serves_what_duckdb_serves(
    dbt_build_postgres: Any, pg_schema: str, redis_prefix: str, synced: Any, context: Context
) -> None:
    assert dbt_build_postgres.returncode == 0, dbt_build_postgres.summary()
    env = fh_environment(dbt_build_postgres.target_dir, None, f"{redis_prefix}:pg")
    env["FEATUREHOUSE_PG_SCHEMA"] = pg_schema
    pg = Context(project_dir=REPO_ROOT, target_name="pg", env=env)
    assert pg.target.type == "postgres"
    refs = [v.ref for v in online_views(pg)]
    summaries = materialize.sync(
        pg.project,
        pg.target,
        pg.artifacts,
        pg.registry,
        refs,
        pg.store,
        materialize.SyncOptions(as_of=AS_OF, clock="as_of"),
    )
    by_ref = {s.view: s for s in synced}
    for summary in summaries:
        assert summary.entities_written == by_ref[summary.view].entities_written, summary.view
        assert summary.skipped == by_ref[summary.view].skipped, summary.view  # ties counted alike
    for view in online_views(pg):
        state = next(
            s
            for s in pg.store.views()
            if (s.schema.view, s.schema.version) == (view.name, view.version)
        )
        assert state.rows > 0
        keys = [k.name for k in view.keys]
        entity_rows = [{k: row[k] for k in keys} for row in _some_keys(context, view)]
        request = ReadRequest(view=view.name, version=view.version)
        [from_pg] = pg.store.read([request], entity_rows, now=AS_OF)
        [from_duckdb] = context.store.read([request], entity_rows, now=AS_OF)
        assert from_pg.event_at == from_duckdb.event_at, view.ref
        for mine, theirs in zip(from_pg.values, from_duckdb.values, strict=True):
            assert all(close(a, b) for a, b in zip(mine, theirs, strict=True)), view.ref


def _some_keys(context: Context, view: Any) -> list[dict[str, Any]]:
    import duckdb

    keys = ", ".join(f'"{k.name}"' for k in view.keys)
    sql = f'select distinct {keys} from "main"."{view.relation.alias}" order by {keys} limit 300'
    with duckdb.connect(str(context.target.settings["path"]), read_only=True) as connection:
        return connection.sql(sql).to_arrow_table().to_pylist()
