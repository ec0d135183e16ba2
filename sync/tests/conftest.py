"""Session fixtures for the test suite: real dbt builds (DuckDB and Postgres) and live services.

The builds run the real dbt CLI in a subprocess in the demo project (the repo root) or the
integration-test project (integration_tests/), each into its own temporary target dir (and DuckDB
file or Postgres schema), once per session, after `dbt deps` installed the featurehouse package
there. A missing Postgres or Redis fails the tests that need it, naming the service; nothing is
skipped.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from featurehouse.project.render import dbt_executable
from hypothesis import settings
from online_support import SHARED_URL

# Property tests check values, not speed: no per-example deadline, which a shared, loaded
# machine (or CI) turns into flaky failures.
settings.register_profile("featurehouse", deadline=None)
settings.load_profile("featurehouse")

# The sync tests' fixtures (Featurehouse on the session build, one shared sync), the
# feature server's (test views on Redis, one `featurehouse serve`), a Kafka broker, and the
# consumer-project tests' wheel and venvs.
pytest_plugins = (
    "sync_fixtures",
    "lineage_fixtures",
    "server_support",
    "kafka_support",
    "consumer_support",
    "engines_support",
    "stream_support",
)

REPO_ROOT = Path(__file__).resolve().parents[2]
# Fixtures that start or reach a service (dbt, Redis, Postgres, Kafka, a server process): a test
# marked `fast` (`make test-fast`, pure code only) must use none of them, even indirectly.
SERVICE_FIXTURES = frozenset(
    {
        "dbt_runner", "fixtures_build", "pg_schema", "pg_connection", "redis_client",
        "kafka_broker", "lineage_build", "mini_env", "docs_target", "server", "store",
        "demo_server", "rendered", "compile_inline", "dbt_deps", "valkey_url",
        "redis_cluster", "engine_url", "dbt_build_spark",
    }
)  # fmt: skip
INTEGRATION_DIR = REPO_ROOT / "integration_tests"
PACKAGE_DIR = REPO_ROOT / "sync" / "featurehouse" / "dbt_package"
# The small projects of sync/tests/fixtures/, which install the package too.
FIXTURE_PROJECTS = (
    REPO_ROOT / "sync" / "tests" / "fixtures" / "mini",
    REPO_ROOT / "sync" / "tests" / "fixtures" / "lineage",
    REPO_ROOT / "sync" / "tests" / "fixtures" / "runs",
)
DBT_TIMEOUT_SECONDS = 1200
PG_SETTINGS = {
    "host": os.environ.get("FEATUREHOUSE_PG_HOST", "127.0.0.1"),
    "port": int(os.environ.get("FEATUREHOUSE_PG_PORT", "5432")),
    "user": os.environ.get("FEATUREHOUSE_PG_USER", "postgres"),
    "password": os.environ.get("FEATUREHOUSE_PG_PASSWORD", ""),
    "dbname": os.environ.get("FEATUREHOUSE_PG_DATABASE", "test"),
}
REDIS_URL = SHARED_URL
# Results that mean "not OK" in run_results.json, across seeds, models, tests and unit tests.
BAD_STATUSES = frozenset({"error", "fail", "warn", "skipped", "runtime error"})


@dataclass(frozen=True)
class DbtRun:
    """One finished dbt invocation: its arguments, exit code, output and artifacts."""

    args: tuple[str, ...]
    returncode: int
    output: str
    target_dir: Path
    duckdb_path: Path | None = None
    pg_schema: str | None = None
    run_results: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def manifest_path(self) -> Path:
        return self.target_dir / "manifest.json"

    @property
    def run_results_path(self) -> Path:
        return self.target_dir / "run_results.json"

    def manifest(self) -> dict[str, Any]:
        return json.loads(self.manifest_path.read_text())

    @property
    def results(self) -> list[dict[str, Any]]:
        return self.run_results.get("results", [])

    def status_counts(self) -> Counter[tuple[str, str]]:
        """(resource type, status) -> count, e.g. ("test", "pass") -> 37."""
        return Counter((r["unique_id"].split(".")[0], r["status"]) for r in self.results)

    def bad_results(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] in BAD_STATUSES]

    def summary(self) -> str:
        counts = ", ".join(
            f"{kind} {status}: {n}" for (kind, status), n in sorted(self.status_counts().items())
        )
        lines = [f"`dbt {' '.join(self.args)}` exited {self.returncode}; {counts or 'no results'}"]
        lines += [
            f"  {r['status']}: {r['unique_id']}: {(r.get('message') or '').strip()[:300]}"
            for r in self.bad_results()
        ]
        if not self.results:
            lines.append(self.output[-3000:])
        return "\n".join(lines)


def ensure_dbt_deps(project_dir: Path) -> None:
    """`dbt deps` in project_dir unless its dbt_packages/featurehouse is this repo's package.

    Under a file lock, so parallel test processes install it once; the packages.yml entry's
    default (the source tree) applies, as for a developer's plain `dbt deps`."""
    lock_path = REPO_ROOT / ".cache" / "dbt-deps.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    installed = project_dir / "dbt_packages" / "featurehouse"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed.is_dir() and installed.resolve() == PACKAGE_DIR.resolve():
            return
        env = {k: v for k, v in os.environ.items() if k != "FEATUREHOUSE_DBT_PACKAGE"}
        env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        done = subprocess.run(
            [dbt_executable(), "deps", "--project-dir", str(project_dir)],
            cwd=project_dir, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"`dbt deps` in {project_dir} failed:\n{done.stdout[-3000:]}{done.stderr}")


@pytest.fixture(scope="session")
def dbt_deps() -> None:
    """The featurehouse dbt package installed in every dbt project the suite builds."""
    for project_dir in (REPO_ROOT, INTEGRATION_DIR, *FIXTURE_PROJECTS):
        ensure_dbt_deps(project_dir)


def run_dbt(
    args: list[str],
    workdir: Path,
    *,
    project_dir: Path = REPO_ROOT,
    duckdb_path: Path | None = None,
    pg_schema: str | None = None,
    timeout: int = DBT_TIMEOUT_SECONDS,
) -> DbtRun:
    """Run `dbt <args>` in project_dir (its profiles.yml) with target, logs and warehouse
    (the DuckDB file, the Spark warehouse and metastore) inside workdir."""
    target_dir = workdir / "target"
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(project_dir),
        "DBT_TARGET_PATH": str(target_dir),
        "DBT_LOG_PATH": str(workdir / "logs"),
        "FEATUREHOUSE_DUCKDB_PATH": str(duckdb_path or workdir / "featurehouse.duckdb"),
        "FEATUREHOUSE_PG_SCHEMA": pg_schema or "fh_pytest_unused",
        **spark_environment(workdir),
    }
    env.pop("FEATUREHOUSE_TARGET", None)
    completed = subprocess.run(
        [dbt_executable(), *args],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    results_path = target_dir / "run_results.json"
    run_results = json.loads(results_path.read_text()) if results_path.exists() else {}
    return DbtRun(
        args=tuple(args),
        returncode=completed.returncode,
        output=completed.stdout + completed.stderr,
        target_dir=target_dir,
        duckdb_path=duckdb_path,
        pg_schema=pg_schema,
        run_results=run_results,
    )


def spark_environment(workdir: Path) -> dict[str, str]:
    """The variables the `spark` target reads: its warehouse and metastore under workdir, and
    a Spark sized for the suite's 2-core machine and the demo's few thousand rows."""
    return {
        "FEATUREHOUSE_SPARK_DIR": str(workdir / "spark"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "FEATUREHOUSE_SPARK_MASTER": "local[2]",
        "FEATUREHOUSE_SPARK_SHUFFLE_PARTITIONS": "2",
        "FEATUREHOUSE_SPARK_DRIVER_MEMORY": "1g",
        "FEATUREHOUSE_SPARK_THREADS": "2",
    }


def _require_artifacts(run: DbtRun) -> DbtRun:
    """Fail (for every test using the build) when dbt produced nothing to inspect."""
    if not run.results or not run.manifest_path.exists():
        pytest.fail(f"dbt produced no run_results/manifest:\n{run.summary()}")
    return run


def pg_connect() -> Any:
    """A psycopg2 connection to the test Postgres, or a test failure naming the service."""
    import psycopg2

    try:
        connection = psycopg2.connect(connect_timeout=5, **PG_SETTINGS)
    except psycopg2.OperationalError as error:
        where = f"{PG_SETTINGS['host']}:{PG_SETTINGS['port']} db {PG_SETTINGS['dbname']}"
        pytest.fail(
            f"PostgreSQL is not reachable at {where} ({str(error).strip()}); "
            "start it (`.ci/run` does) or set FEATUREHOUSE_PG_HOST/PORT/USER/DATABASE"
        )
    connection.autocommit = True
    return connection


def _drop_pg_schemas(schema: str) -> None:
    """Drop the session schema and the ones dbt derived from it (e.g. <schema>_raw)."""
    connection = pg_connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select schema_name from information_schema.schemata"
                " where schema_name = %s or schema_name like %s",
                (schema, schema.replace("_", r"\_") + r"\_%"),
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'drop schema if exists "{name}" cascade')
    finally:
        connection.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a `fast` test that uses a service fixture (the fast tier runs without them)."""
    for item in items:
        used = SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("fast") and used:
            raise pytest.UsageError(
                f"{item.nodeid} is marked fast but uses {', '.join(sorted(used))}: "
                "drop the mark or the fixture"
            )


@pytest.fixture(scope="session")
def session_id() -> str:
    """A short id unique to this pytest session (schemas, key prefixes)."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def dbt_runner(tmp_path_factory: pytest.TempPathFactory, dbt_deps: None) -> Callable[..., DbtRun]:
    """`dbt_runner(args, name, **kw)`: run dbt into a fresh temp dir named after `name` (in the
    demo project unless `project_dir=` names another)."""

    def run(args: list[str], name: str, **kwargs: Any) -> DbtRun:
        workdir = tmp_path_factory.mktemp(name)
        kwargs.setdefault("duckdb_path", workdir / "featurehouse.duckdb")
        return run_dbt(args, workdir, **kwargs)

    return run


@pytest.fixture(scope="session")
def dbt_build_duckdb(dbt_runner: Callable[..., DbtRun]) -> DbtRun:
    """One full `dbt build` into a temporary DuckDB file.

    Returns the run (target_dir, manifest_path, duckdb_path, run_results) even when some nodes
    failed, so tests can report them; test_dbt_build.py asserts the build is clean.
    """
    return _require_artifacts(dbt_runner(["build", "--target", "dev"], "dbt_duckdb"))


@pytest.fixture(scope="session")
def fixtures_build(dbt_runner: Callable[..., DbtRun]) -> DbtRun:
    """One full `dbt build` of the integration-test project into a temporary DuckDB file: the
    point-in-time and monitoring fixture views, and the generic tests' cases (must_fail,
    must_pass, bad_arguments; enabled by featurehouse_must_fail). Its must_fail and
    bad_arguments tests fail by design; test_dbt_build.py asserts everything else is clean."""
    return _require_artifacts(
        dbt_runner(
            ["build", "--target", "dev", "--vars", "{featurehouse_must_fail: true}"],
            "dbt_integration",
            project_dir=INTEGRATION_DIR,
        )
    )


@pytest.fixture(scope="session")
def pg_schema(session_id: str) -> Iterator[str]:
    """A fresh Postgres schema for this session; it and its derived schemas are dropped after."""
    schema = f"fh_pytest_{session_id}"
    pg_connect().close()
    yield schema
    _drop_pg_schemas(schema)


@pytest.fixture(scope="session")
def pg_connection() -> Iterator[Any]:
    """A live autocommit psycopg2 connection to the test Postgres (fails naming the service)."""
    connection = pg_connect()
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def dbt_build_postgres(dbt_runner: Callable[..., DbtRun], pg_schema: str) -> DbtRun:
    """One full `dbt build --target pg` into the session's fresh schema (dropped at the end)."""
    return _require_artifacts(
        dbt_runner(["build", "--target", "pg"], "dbt_postgres", pg_schema=pg_schema)
    )


# dbt's own generic tests, which the DuckDB and Postgres builds run: on Spark (a second or
# more each) the build runs ours, the unit tests and the singular tests.
# 14 minutes under a load average of 12-18 on the 2-core machine (every model a Spark job).
SPARK_BUILD_TIMEOUT_SECONDS = 2400
SPARK_EXCLUDED = tuple(
    f"test_name:{name}" for name in ("not_null", "unique", "accepted_values", "relationships")
)


@pytest.fixture(scope="session")
def dbt_build_spark(dbt_runner: Callable[..., DbtRun]) -> DbtRun:
    """One `dbt build --target spark` (a local Spark session in the dbt process, Parquet
    tables and a Derby metastore in the run's temp dir): every seed and model, our generic
    tests (the monitoring macros), the unit tests and the singular tests."""
    args = ["build", "--target", "spark", "--exclude", *SPARK_EXCLUDED]
    return _require_artifacts(dbt_runner(args, "dbt_spark", timeout=SPARK_BUILD_TIMEOUT_SECONDS))


@pytest.fixture(scope="session")
def redis_client() -> Iterator[Any]:
    """A live Redis client (FEATUREHOUSE_REDIS_URL), or a test failure naming the service."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({error}); "
            "start it (`.ci/run` does) or set FEATUREHOUSE_REDIS_URL"
        )
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_key_prefix(redis_client: Any, session_id: str) -> Iterator[str]:
    """A key prefix of this session's own; every key under it is deleted afterwards."""
    prefix = f"fhtest:{session_id}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        redis_client.delete(*keys[start : start + 1000])
