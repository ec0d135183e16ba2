"""`make demo`: build the demo on DuckDB, sync it to the online store as of 2026-05-01, read back.

Runs the real dbt CLI (`dbt deps`, `dbt build`; output streamed), then `featurehouse sync
--as-of 2026-05-01`, then prints served features of a couple of entities per entity type.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from featurehouse.api import FeatureStore
from featurehouse.api.context import Context
from featurehouse.cli import main as cli_main
from featurehouse.errors import FeaturehouseError
from featurehouse.project.registry import FeatureView
from featurehouse.project.render import dbt_executable
from featurehouse.project.settings import find_project_dir
from featurehouse.refs import qualified
from featurehouse.warehouse import connect, query_arrow

DEMO_AS_OF = "2026-05-01"
ENTITIES_SHOWN = 2


def run_dbt_build(project_dir: Path, env: Mapping[str, str]) -> None:
    """`dbt deps` (the featurehouse package, as packages.yml says) and `dbt build`, output
    streamed; a failure stops the demo."""
    for command in ("deps", "build"):
        print(f"$ dbt {command}   (in {project_dir})", flush=True)
        done = subprocess.run(
            [dbt_executable(), command], cwd=project_dir, env=dict(env), check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"demo: `dbt {command}` failed (exit {done.returncode}); see above")


def run_sync(project_dir: Path) -> None:
    """`featurehouse sync --as-of 2026-05-01` in process (its progress bar and summary)."""
    argv = ["sync", "--as-of", DEMO_AS_OF, "--project-dir", str(project_dir)]
    print(f"\n$ featurehouse {' '.join(argv[:3])}", flush=True)
    try:
        cli_main(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise SystemExit("demo: `featurehouse sync` failed; see the error above") from exc


def sample_keys(context: Context, view: FeatureView, n: int) -> list[dict[str, Any]]:
    """The `n` entities of `view` with the most feature rows (busy ones show real numbers)."""
    keys = ", ".join(f'"{k.name}"' for k in view.keys)
    relation = ".".join(f'"{p}"' for p in (view.relation.schema, view.relation.alias) if p)
    not_null = " and ".join(f'"{k.name}" is not null' for k in view.keys)
    sql = (
        f"select {keys} from {relation} where {not_null}"
        f" group by {keys} order by count(*) desc, {keys} limit {int(n)}"
    )
    with connect(context.project, context.target) as warehouse:
        return query_arrow(warehouse, sql, {}).to_pylist()


def show(store: FeatureStore, view: FeatureView, entities: Sequence[Mapping[str, Any]]) -> None:
    features = [f"{view.ref}:{f.name}" for f in view.features]
    result = store.get_online_features(features=features, entity_rows=entities)
    print(f"\n{view.ref} ({view.entity}):")
    for row in result.rows():
        keys = ", ".join(f"{k.name}={row[k.name]}" for k in view.keys)
        print(f"  {keys}   event_at {row[qualified(view.name, view.version, 'event_at')]}")
        for feature in view.features:
            value = row[feature.name]
            shown = _short(value)
            print(f"    {feature.name:<28} {shown!s:<22} {row[feature.name + '__status']}")


def _short(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return "[" + ", ".join(str(_short(v)) for v in value) + "]"
    return value


def main() -> None:
    project_dir = find_project_dir(None, os.environ)
    env = {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(project_dir),
        **os.environ,
    }
    os.environ.update(env)
    run_dbt_build(project_dir, env)
    run_sync(project_dir)
    context = Context(project_dir=project_dir)
    store = FeatureStore(project_dir=project_dir)
    try:
        entities: dict[str, list[dict[str, Any]]] = {}
        for view in context.registry.select([]):
            if view.entity not in entities:
                entities[view.entity] = sample_keys(context, view, ENTITIES_SHOWN)
            show(store, view, entities[view.entity])
    except FeaturehouseError as exc:
        raise SystemExit(f"demo: {exc}") from exc
    print_where(context)


def print_where(context: Context) -> None:
    duckdb_path = Path(str(context.target.settings.get("path", "")))
    if not duckdb_path.is_absolute():
        duckdb_path = context.project.project_dir / duckdb_path
    print("\nWhere things are:")
    print(f"  DuckDB warehouse   {duckdb_path}")
    print(f"  dbt artifacts      {context.project.target_dir}")
    online = context.online
    kind = "embedded valkey-server, " if online.embedded else ""
    print(f"  Online store       {kind}{context.redis_shown}  (key prefix {context.prefix!r})")
    if online.data_dir is not None:
        print(f"  Its data           {online.data_dir}  (featurehouse online status | stop)")
    print("  Feature catalog    dbt docs generate && dbt docs serve")
    print("  Try                featurehouse list; featurehouse describe feat_customer__orders")


if __name__ == "__main__":
    sys.exit(main())
