"""Sync from the Postgres target (psycopg2 server-side cursor, the macro's default__ variant):
every online view version serves the same values as the DuckDB sync."""

from __future__ import annotations

from typing import Any

from compare_support import assert_serves_like
from featurehouse.api.context import Context
from sync_fixtures import REPO_ROOT, fh_environment


def test_postgres_sync_serves_what_duckdb_serves(
    dbt_build_postgres: Any, pg_schema: str, redis_prefix: str, synced: Any, context: Context
) -> None:
    assert dbt_build_postgres.returncode == 0, dbt_build_postgres.summary()
    env = fh_environment(dbt_build_postgres.target_dir, None, f"{redis_prefix}:pg")
    env["FEATUREHOUSE_PG_SCHEMA"] = pg_schema
    pg = Context(project_dir=REPO_ROOT, target_name="pg", env=env)
    assert pg.target.type == "postgres"
    assert_serves_like(pg, context, synced)
