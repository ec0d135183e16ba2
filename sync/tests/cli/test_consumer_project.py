"""Adopting Featurehouse in a shop project nobody here wrote, the way a user does: the built
wheel in a fresh venv (not editable), then `featurehouse init` (twice), `featurehouse deps`,
their `dbt seed` and `dbt run`, `featurehouse init --view customers`, `dbt build`,
`featurehouse sync`, `featurehouse get` and `featurehouse lineage`, all as real processes. The
served values equal a SQL computation of our own over the raw tables, and `dbt ls` shows the
shop's nodes plus the scaffolded view and its grain test, nothing else. On DuckDB and Postgres
with dbt-core 1.11 (the default install), and on DuckDB with dbt-core 1.12.0.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from conftest import PG_SETTINGS, _drop_pg_schemas, pg_connect
from consumer_support import ConsumerVenv
from online_support import SHARED_URL

SHOP = Path(__file__).resolve().parents[1] / "fixtures" / "shop"
VIEW = "feat_customer__customers"
SCENARIOS = [("1.11", "duckdb"), ("1.11", "postgres"), ("1.12", "duckdb")]
# Our own computation over the raw tables (not the shop's models): per customer with orders.
INDEPENDENT_SQL = """
select
    orders.user_id as customer_id,
    count(distinct orders.id) as number_of_orders,
    max(orders.order_date) as most_recent_order,
    sum(payments.amount) / 100.0 as customer_lifetime_value
from {raw}.raw_orders as orders
inner join {raw}.raw_payments as payments
    on payments.order_id = orders.id
group by orders.user_id
"""


@dataclass
class Shop:
    """The shop project in a temporary folder, run with one venv against one warehouse."""

    root: Path
    venv: ConsumerVenv
    warehouse: str
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, *command: str) -> str:
        """`dbt ...` or `featurehouse ...` from the venv's bin/, in the project; stdout."""
        started = time.monotonic()
        done = subprocess.run(
            [self.venv.executable(command[0]), *command[1:]],
            cwd=self.root, env=self.env, capture_output=True, text=True, timeout=900,
            check=False,
        )  # fmt: skip
        label = " ".join(command[:3])
        self.timings[label] = self.timings.get(label, 0.0) + time.monotonic() - started
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` exited {done.returncode}:\n"
                        f"{done.stdout[-4000:]}\n{done.stderr[-3000:]}")  # fmt: skip
        return done.stdout

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.warehouse == "duckdb":
            with duckdb.connect(self.env["SHOP_DUCKDB_PATH"], read_only=True) as connection:
                return connection.execute(sql).fetchall()
        connection = pg_connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            connection.close()

    @property
    def schema(self) -> str:
        return self.env.get("SHOP_PG_SCHEMA", "main")


@pytest.fixture
def shop(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    consumer_venv: Any,
    redis_key_prefix: str,
    session_id: str,
) -> Iterator[Shop]:
    dbt_version, warehouse = request.param
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    venv = consumer_venv(dbt_version)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if ".venv" not in p]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "FEATUREHOUSE_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        PATH=os.pathsep.join([str(venv.bin), *path]),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        SHOP_DUCKDB_PATH=str(tmp_path / "shop.duckdb"),
        FEATUREHOUSE_REDIS_URL=SHARED_URL,
        FEATUREHOUSE_REDIS_PREFIX=f"{redis_key_prefix}consumer-{dbt_version}-{warehouse}",
    )
    schema = f"fh_shop_{session_id}_{dbt_version.replace('.', '')}"
    if warehouse == "postgres":
        pg_connect().close()
        env.update(
            SHOP_TARGET="pg",
            SHOP_PG_SCHEMA=schema,
            **{f"SHOP_PG_{k.upper()}": str(PG_SETTINGS[k]) for k in ("host", "port", "user")},
            SHOP_PG_PASSWORD=str(PG_SETTINGS["password"]),
            SHOP_PG_DATABASE=str(PG_SETTINGS["dbname"]),
        )
    found = Shop(root, venv, warehouse, env)
    yield found
    print(f"consumer {dbt_version} {warehouse}: " + ", ".join(
        f"{k} {v:.1f} s" for k, v in found.timings.items()), file=sys.stderr)  # fmt: skip
    if warehouse == "postgres":
        _drop_pg_schemas(schema)


def user_nodes(manifest_path: Path) -> set[str]:
    """What `dbt ls` lists, from a manifest: nodes, sources, unit tests and the like (not the
    project hooks, operation nodes, which `dbt ls` leaves out: the package's on-run-start hook
    that checks feature services and its on-run-end hook are)."""
    manifest = json.loads(manifest_path.read_text())
    sections = ("nodes", "sources", "unit_tests", "exposures", "metrics", "semantic_models")
    return {
        uid
        for section in sections
        for uid in manifest.get(section, {})
        if not uid.startswith("operation.")
    }


@pytest.mark.slow
@pytest.mark.parametrize("shop", SCENARIOS, indirect=True, ids=lambda s: "-".join(s))
def test_a_shop_adopts_featurehouse(shop: Shop) -> None:
    packages_before = (shop.root / "packages.yml").read_text()
    added = shop.run("featurehouse", "init")
    assert "Added the featurehouse dbt package" in added and "featurehouse deps" in added
    packages = (shop.root / "packages.yml").read_text()
    assert packages.startswith(packages_before.rstrip("\n")), packages  # theirs kept as is
    entries = yaml.safe_load(packages)["packages"]
    assert entries[0] == {"local": "shop_utils"}
    assert "FEATUREHOUSE_DBT_PACKAGE" in entries[1]["local"]
    assert "nothing changed" in shop.run("featurehouse", "init")
    assert (shop.root / "packages.yml").read_text() == packages

    shop.run("featurehouse", "deps")  # dbt deps: their package and ours
    installed = (shop.root / "dbt_packages" / "featurehouse").resolve()
    assert installed.is_relative_to(shop.venv.root.resolve()), installed  # the wheel's copy
    assert (shop.root / "dbt_packages" / "shop_utils" / "dbt_project.yml").exists()

    # Their models, built: the package added no node (every node is the shop's).
    shop.run("dbt", "seed")
    shop.run("dbt", "run")
    before = user_nodes(shop.root / "target" / "manifest.json")
    assert {uid.split(".")[1] for uid in before} == {"shop"}, sorted(before)

    if shop.venv.dbt_version == "1.12":  # dbt's own latest-version view instead of our hook
        project = shop.root / "dbt_project.yml"
        pointer = "    +latest_version_pointer: {enabled: true}\n"
        project.write_text(project.read_text().replace("    marts:\n", pointer + "    marts:\n"))
    scaffolded = shop.run("featurehouse", "init", "--view", "customers")
    assert "customers has a `unique` test on customer_id" in scaffolded, scaffolded
    assert "most_recent_order" in scaffolded and "ttl" in scaffolded
    shop.run("dbt", "build")
    _check_latest_version_view(shop)

    # The wheel compiled the read path's C extension (setup.py), and the installed package
    # loads it from the venv, not from this checkout.
    where = shop.run(
        "python", "-c", "import featurehouse.online.redis._speedups as s; print(s.__file__)"
    )
    assert Path(where.strip()).resolve().is_relative_to(shop.venv.root.resolve()), where

    summary = json.loads(shop.run("featurehouse", "sync", "--json"))
    [published] = summary["views"]
    assert published["view"] == f"{VIEW}.v1", summary
    _check_served_values(shop)
    lineage = shop.run("featurehouse", "lineage", f"{VIEW}:number_of_orders")
    assert "raw_orders" in lineage, lineage

    # Last: `dbt ls` rewrites target/manifest.json without the compiled SQL lineage reads.
    listed = {
        json.loads(line)["unique_id"]
        for line in shop.run(
            "dbt", "ls", "--output", "json", "--output-keys", "unique_id"
        ).splitlines()
        if line.startswith("{")
    }
    added_nodes = listed - before
    assert before <= listed, sorted(before - listed)
    assert f"model.shop.{VIEW}.v1" in added_nodes, sorted(added_nodes)
    tests = added_nodes - {f"model.shop.{VIEW}.v1"}
    assert len(tests) == 1 and next(iter(tests)).startswith(
        f"test.shop.featurehouse_unique_combination_{VIEW}"
    ), sorted(added_nodes)


def _check_latest_version_view(shop: Shop) -> None:
    """The unversioned view exists; on 1.12 dbt made it and our post-hook stayed silent."""
    schema = "main" if shop.warehouse == "duckdb" else shop.schema
    [(n,)] = shop.query(f"select count(*) from {schema}.{VIEW}")
    [(expected,)] = shop.query(f"select count(*) from {schema}.{VIEW}_v1")
    assert n == expected > 0
    log = (shop.root / "logs" / "dbt.log").read_text()
    ours = re.search(rf'drop view if exists [^;\n]*"{VIEW}"', log) is not None
    assert ours == (shop.venv.dbt_version != "1.12"), "the post-hook ran on 1.12, or not on 1.11"


def _check_served_values(shop: Shop) -> None:
    raw = "main_raw" if shop.warehouse == "duckdb" else f"{shop.schema}_raw"
    expected = {row[0]: row[1:] for row in shop.query(INDEPENDENT_SQL.format(raw=raw))}
    assert len(expected) >= 10
    keys = [str(k) for k in sorted(expected)]
    rows = json.loads(shop.run("featurehouse", "get", VIEW, *keys, "--json"))
    assert len(rows) == len(keys)
    for row in rows:
        count, most_recent, value = expected[row["keys"]["customer_id"]]
        features = {name: f["value"] for name, f in row["features"].items()}
        assert {f["status"] for f in row["features"].values()} == {"present"}, row
        assert features["number_of_orders"] == count, row
        assert math.isclose(features["customer_lifetime_value"], float(value), rel_tol=1e-12)
        assert datetime.fromisoformat(row["event_at"]).date() == most_recent, row
