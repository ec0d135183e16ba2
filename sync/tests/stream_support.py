"""Fixtures of the streaming tests: the demo with its last clickstream days held back.

`stream_project` copies the demo project into a temporary folder, cuts `raw_page_views` at
CUTOFF and builds it once with dbt (DuckDB): the held-back events (`streamed_rows`) are what
the tests stream. `StreamRun` is one test's world: its own Redis prefix and stream names, its
own landing folder, a sync of the build, consumers run in process, and a second `dbt build`
that reads the landed events (to compare what Redis serves with the batch path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pytest
from featurehouse.api.context import Context
from featurehouse.streaming import replay, runner
from featurehouse.streaming.consumer import ConsumerOptions, StreamConsumer
from featurehouse.sync import materialize, parity
from online_support import SHARED_URL

REPO_ROOT = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 5, 1)
CUTOFF = "2026-04-28"  # the seed keeps the events before; the rest are streamed
SEED = "seeds/shop/raw_page_views.csv"
PROJECT_PARTS = (
    "dbt_project.yml", "profiles.yml", "packages.yml", "models", "macros", "seeds", "tests",
)  # fmt: skip
PACKAGE = REPO_ROOT / "sync" / "featurehouse" / "dbt_package"


@dataclass(frozen=True)
class StreamProject:
    directory: Path
    env: dict[str, str]  # dbt and Featurehouse pointed at the copy's build
    rows: pa.Table  # every clickstream event (the seed before the cut)

    @property
    def streamed_rows(self) -> pa.Table:
        return self.rows.filter(pc.greater_equal(self.rows["viewed_at"], _ts(CUTOFF)))


def _ts(value: str) -> pa.Scalar:
    return pa.scalar(datetime.fromisoformat(value), pa.timestamp("us"))


def _dbt(directory: Path, env: dict[str, str], *args: str, command: str = "build") -> None:
    dbt = Path(sys.executable).with_name("dbt")
    done = subprocess.run(
        [str(dbt), command, "--quiet", *args], cwd=directory, env=env,
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.fail(f"dbt {command} in {directory} failed:\n{(done.stdout + done.stderr)[-3000:]}")


def project_env(directory: Path, target: Path, landing: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "FEATUREHOUSE_"))}
    env.update(
        {
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_PROFILES_DIR": str(directory),
            "DBT_TARGET_PATH": str(target),
            "DBT_LOG_PATH": str(target.parent / "logs"),
            "FEATUREHOUSE_DUCKDB_PATH": str(target / "featurehouse.duckdb"),
            "FEATUREHOUSE_STREAM_DIR": str(landing),
            "FEATUREHOUSE_REDIS_URL": SHARED_URL,
            "FEATUREHOUSE_DBT_PACKAGE": str(PACKAGE),  # packages.yml's local path, absolute
        }
    )
    return env


@pytest.fixture(scope="session")
def stream_project(tmp_path_factory: pytest.TempPathFactory) -> StreamProject:
    """The demo project with the clickstream cut at CUTOFF, built once."""
    directory = tmp_path_factory.mktemp("stream_project")
    for part in PROJECT_PARTS:
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(source, directory / part)
        else:
            shutil.copy(source, directory / part)
    rows = _all_rows()
    kept = rows.filter(pc.less(rows["viewed_at"], _ts(CUTOFF)))
    _write_seed(directory / SEED, kept)
    env = project_env(directory, directory / "target", directory / "no-landing")
    _dbt(directory, env, command="deps")
    _dbt(directory, env)
    return StreamProject(directory, env, rows)


def _all_rows() -> pa.Table:
    types = {
        "id": pa.int64(), "session_id": pa.int64(), "customer_id": pa.int64(),
        "product_id": pa.int64(), "event_type": pa.string(),
        "viewed_at": pa.timestamp("us"), "loaded_at": pa.timestamp("us"),
    }  # fmt: skip
    return pv.read_csv(REPO_ROOT / SEED, convert_options=pv.ConvertOptions(column_types=types))


def _write_seed(path: Path, rows: pa.Table) -> None:
    text = rows.set_column(
        rows.schema.get_field_index("viewed_at"), "viewed_at",
        pc.strftime(rows["viewed_at"], "%Y-%m-%d %H:%M:%S"),
    )  # fmt: skip
    text = text.set_column(
        text.schema.get_field_index("loaded_at"), "loaded_at",
        pc.strftime(rows["loaded_at"], "%Y-%m-%d %H:%M:%S"),
    )  # fmt: skip
    pv.write_csv(text, path, pv.WriteOptions(quoting_style="none"))


@dataclass
class StreamRun:
    """One test's prefix, stream names and landing folder over the shared build."""

    project: StreamProject
    name: str
    root: Path
    prefix: str = field(init=False)
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        token = uuid.uuid4().hex[:8]
        self.prefix = f"fhtest:stream:{token}:{self.name}"
        self.env = {
            **self.project.env,
            "FEATUREHOUSE_REDIS_PREFIX": self.prefix,
            "FEATUREHOUSE_STREAM_TOPIC_PREFIX": f"fhtest-{token}.",  # valid on Kafka too
            "FEATUREHOUSE_STREAM_DIR": str(self.landing),
        }

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    def context(self, env: dict[str, str] | None = None) -> Context:
        return Context(project_dir=self.project.directory, env=env or self.env)

    @property
    def topic(self) -> str:
        return self.env["FEATUREHOUSE_STREAM_TOPIC_PREFIX"] + "clickstream"

    def sync(self) -> None:
        context = self.context()
        options = materialize.SyncOptions(as_of=AS_OF, clock="as_of")
        materialize.sync(
            context.project, context.target, context.artifacts, context.registry,
            ["feat_customer__activity"], context.store, options,
        )  # fmt: skip

    def produce(self, rows: pa.Table, rate: float = 0) -> int:
        """Send rows as events on this run's Redis stream."""
        context = self.context()
        source = self.source(context)
        sink = replay.sink("redis", context.store, self.topic, {})
        return replay.replay(
            context.artifacts.manifest, source, sink, replay.Window(), rate, rows=rows
        )

    def send_raw(self, values: Sequence[bytes]) -> None:
        """Send messages as they are (poison events)."""
        context = self.context()
        sink = replay.sink("redis", context.store, self.topic, {})
        sink.send([(None, v) for v in values])

    def source(self, context: Context) -> Any:
        return runner.sources(context.artifacts, context.registry, [])[0]

    def consumer(self, **options: Any) -> StreamConsumer:
        context = self.context()
        settings = runner.StreamSettings(
            broker=options.pop("broker", "redis"),
            stream_dir=self.landing,
            consumer=options.pop("consumer", "tester"),
            kafka=options.pop("kafka", {}),
            topic_prefix=self.env["FEATUREHOUSE_STREAM_TOPIC_PREFIX"],
            options=ConsumerOptions(as_of=options.pop("as_of", AS_OF), **options),
        )
        return runner.open_consumer(
            context.project, context.target, context.artifacts, self.source(context),
            context.store, settings,
        )  # fmt: skip

    def consume(self, idle: float = 1.0, **options: Any) -> StreamConsumer:
        """Drain the stream once, in process."""
        consumer = self.consumer(**options)
        runner.run([consumer], self.context().artifacts, threading.Event(), once=True, idle=idle)
        return consumer

    def rebuild(self) -> Context:
        """`dbt build` of the project reading the landed events, into a target of its own;
        a Context on it (this run's Redis prefix)."""
        target = self.root / "rebuilt"
        env = {**self.env, **project_env(self.project.directory, target, self.landing)}
        env["FEATUREHOUSE_REDIS_PREFIX"] = self.prefix
        _dbt(self.project.directory, env)
        return self.context(env)


def parity_of(context: Context, view: str = "feat_customer__activity") -> parity.ViewParity:
    """Every entity of `view`: Redis (this context's prefix) against its warehouse."""
    return parity.check(
        context.project, context.target, context.artifacts, context.registry, context.store,
        [view], parity.ParityOptions(sample=None),
    )[0]  # fmt: skip


@pytest.fixture
def stream_run(stream_project: StreamProject, tmp_path: Path, request: Any) -> Iterator[StreamRun]:
    """A fresh prefix, stream and landing folder over the shared build (keys removed after)."""
    run = StreamRun(stream_project, request.node.name[:40].replace("[", "_").strip("]"), tmp_path)
    yield run
    cleanup(run)


def cleanup(run: StreamRun) -> None:
    """Delete the run's Redis keys: its prefix and its streams."""
    import redis

    client = redis.Redis.from_url(SHARED_URL)
    for pattern in (f"{run.prefix}*", f"{run.env['FEATUREHOUSE_STREAM_TOPIC_PREFIX']}*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
    client.close()


def with_prefix(context: Context, prefix: str) -> dict[str, str]:
    """`context`'s environment with another Redis prefix (its warehouse, another Redis)."""
    return {**dict(context.environment), "FEATUREHOUSE_REDIS_PREFIX": prefix}


@dataclass(frozen=True)
class Streamed:
    """The held-back events streamed in order and drained, and the dbt build reading them."""

    run: StreamRun
    sent: int
    consumer: StreamConsumer
    rebuilt: Context  # the dbt build of the project with the landed events


@pytest.fixture(scope="session")
def streamed_build(
    stream_project: StreamProject, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Streamed]:
    """What every other stream test compares with: Redis must serve what this build says."""
    run = StreamRun(stream_project, "in_order", tmp_path_factory.mktemp("in_order"))
    run.sync()
    sent = run.produce(stream_project.streamed_rows)
    consumer = run.consume()
    yield Streamed(run, sent, consumer, run.rebuild())
    cleanup(run)


def spawn(run: StreamRun, *args: str) -> subprocess.Popen[bytes]:
    """`featurehouse stream ...` as its own process (to be killed), on this run."""
    command = [str(Path(sys.executable).with_name("featurehouse")), "stream", *args]
    log = (run.root / "consumer.log").open("ab")
    try:
        return subprocess.Popen(
            command, cwd=run.project.directory, env=run.env, stdout=log, stderr=log
        )
    finally:
        log.close()


def landed_ids(run: StreamRun) -> list[int]:
    """The ids of every landed event, sorted (duplicates kept: there must be none)."""
    import pyarrow.parquet as pq

    files = sorted(run.landing.rglob("*.parquet"))
    return sorted(i for f in files for i in pq.read_table(f, columns=["id"])["id"].to_pylist())


def wait_until(check: Any, what: str, seconds: float = 120) -> None:
    """Poll `check` every 0.1 s; fail the test naming `what` after `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")
