"""`featurehouse stream` as the least-privilege writer of `featurehouse acl`, on a redis-server
of the test's own: the users come from the CLI's lines (the stream keys from the project), the
consumer syncs, takes the lease, reads, dead-letters, publishes and acknowledges with no
refusal, and serves what the batch build says."""

from __future__ import annotations

import json
import subprocess

import pytest
import redis
from cli_process import run_featurehouse
from featurehouse.online.redis import acl
from featurehouse.streaming.brokers import DEAD_LETTER_SUFFIX
from online_support import own_server
from stream_support import Streamed, StreamRun, parity_of, with_prefix

pytestmark = pytest.mark.slow
PASSWORDS = {acl.WRITER: "stream-writer-pw", acl.READER: "stream-reader-pw"}


def test_the_acl_writer_runs_the_stream_consumer(
    streamed_build: Streamed, stream_run: StreamRun
) -> None:
    with own_server() as server:
        env = {**stream_run.env, **{acl.PASSWORD_ENV[u]: p for u, p in PASSWORDS.items()}}
        lines = run_featurehouse("acl", "--json", env=env, cwd=stream_run.project.directory)
        assert lines.returncode == 0, lines.stderr
        report = json.loads(lines.stdout)
        assert report["streams"] == [stream_run.topic]  # from the project, topic prefix on
        setusers = "\n".join(u["acl_setuser"] for u in report["users"])
        applied = subprocess.run(
            ["redis-cli", "-p", str(server.port)], input=setusers, capture_output=True,
            text=True, check=True,
        )  # fmt: skip
        assert applied.stdout.split() == ["OK", "OK"], applied.stdout
        admin = redis.Redis(port=server.port)
        writer = f"redis://{acl.WRITER}:{PASSWORDS[acl.WRITER]}@127.0.0.1:{server.port}/0"
        stream_run.env["FEATUREHOUSE_REDIS_URL"] = writer

        stream_run.sync()  # loads the function library as the writer, too
        # the sync's one refusal: the listpack check's CONFIG GET, skipped when denied
        assert {e["object"] for e in admin.acl_log()} <= {"config|get"}
        admin.acl_log_reset()
        rows = stream_run.project.streamed_rows
        half = rows.num_rows // 2
        stream_run.produce(rows.slice(0, half))
        stream_run.send_raw([b"{not json"])
        stream_run.produce(rows.slice(half))
        consumer = stream_run.consume(max_batch=2_000)

        assert admin.acl_log() == []  # the consumer: not one command or key refused
        reader = f"redis://{acl.READER}:{PASSWORDS[acl.READER]}@127.0.0.1:{server.port}/0"
        for url in (writer, reader):  # --status reads known keys: no SCAN, not allowed
            shown = run_featurehouse(
                "stream", "--status", "--json", cwd=stream_run.project.directory,
                env={**stream_run.env, "FEATUREHOUSE_REDIS_URL": url},
            )  # fmt: skip
            assert shown.returncode == 0, shown.stderr
            [status] = json.loads(shown.stdout)
            assert (status["source"], status["events"]) == ("raw_page_views", rows.num_rows)
        assert admin.acl_log() == []
        assert consumer.metrics.events == rows.num_rows
        assert dict(consumer.metrics.rejected) == {"not_json": 1}
        assert admin.xlen(stream_run.topic + DEAD_LETTER_SUFFIX) == 1
        assert admin.exists(f"{stream_run.prefix}:{{ctl}}:stream:raw_page_views:lease") == 0
        admin_url = f"redis://127.0.0.1:{server.port}/0"
        env = {**with_prefix(streamed_build.rebuilt, stream_run.prefix)}
        env["FEATUREHOUSE_REDIS_URL"] = admin_url
        result = parity_of(stream_run.context(env))
        assert result.ok, result
