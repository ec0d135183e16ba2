"""Choosing the online store (a configured URL wins; else the project's embedded store), the
`featurehouse online` commands, and the embedded store's one-line errors.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import REPO_ROOT
from featurehouse.api.context import Context
from featurehouse.cli import cli
from featurehouse.online.redis import embedded, embedded_files
from featurehouse.online.redis.embedded_files import EmbeddedStoreError, server_binary
from online_support import SHARED_URL


@pytest.fixture
def no_url_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The repo's project with its own target dir and no Redis URL anywhere."""
    env = {"DBT_TARGET_PATH": str(tmp_path / "target")}
    yield env
    embedded.stop(tmp_path / "target" / "featurehouse" / "online")


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env={"FEATUREHOUSE_REDIS_URL": None, **env}).invoke(
        cli, [*args, "--project-dir", str(REPO_ROOT)], catch_exceptions=False
    )


def one_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    [line] = result.stderr.strip().splitlines()
    return line


def test_no_url_means_the_embedded_store_under_the_target_dir(no_url_env: dict[str, str]) -> None:
    online = Context(project_dir=REPO_ROOT, env=no_url_env).online
    expected = Path(no_url_env["DBT_TARGET_PATH"]) / "featurehouse" / "online"
    assert online.embedded and online.data_dir == expected and online.started
    assert online.url == embedded_files.store_files(expected).url
    again = Context(project_dir=REPO_ROOT, env=no_url_env).online
    assert not again.started and again.pid == online.pid
    assert "running, pid" in again.describe() and "online status" in again.describe()


def test_a_configured_url_wins_and_starts_nothing(tmp_path: Path) -> None:
    env = {"DBT_TARGET_PATH": str(tmp_path / "target"), "FEATUREHOUSE_REDIS_URL": SHARED_URL}
    online = Context(project_dir=REPO_ROOT, env=env).online
    assert (online.url, online.source) == (SHARED_URL, "FEATUREHOUSE_REDIS_URL")
    assert not online.embedded
    flagged = Context(project_dir=REPO_ROOT, env=env, redis_url_flag="redis://h:1/2").online
    assert (flagged.url, flagged.source) == ("redis://h:1/2", "--redis-url")
    assert not (tmp_path / "target").exists()


def test_online_status_url_stop(no_url_env: dict[str, str]) -> None:
    before = json.loads(run(no_url_env, "online", "status", "--json").stdout)
    assert before["kind"] == "embedded" and before["running"] is False
    url = run(no_url_env, "online", "url")
    assert url.exit_code == 0 and url.stdout.strip() == before["url"]
    assert "online store: embedded valkey-server" in url.stderr and "started now" in url.stderr
    path = run(no_url_env, "online", "url", "--socket").stdout.strip()
    assert path == before["socket"] and Path(path).is_socket()
    text = run(no_url_env, "online", "status").stdout
    assert "embedded valkey-server 9." in text and "memory" in text and before["data_dir"] in text
    report = json.loads(run(no_url_env, "online", "status", "--json").stdout)
    assert report["running"] and report["server"] == "valkey" and report["used_memory_bytes"] > 0
    stopped = run(no_url_env, "online", "stop")
    assert stopped.exit_code == 0 and f"stopped the embedded store (pid {report['pid']})" in (
        stopped.stdout
    )
    assert "was not running" in run(no_url_env, "online", "stop").stdout


def test_online_commands_with_a_configured_url(no_url_env: dict[str, str]) -> None:
    env = {**no_url_env, "FEATUREHOUSE_REDIS_URL": SHARED_URL}
    report = json.loads(run(env, "online", "status", "--json").stdout)
    assert report["kind"] == "configured" and report["source"] == "FEATUREHOUSE_REDIS_URL"
    assert report["url"] == SHARED_URL and isinstance(report["keys"], int)
    assert run(env, "online", "url").stdout.strip() == SHARED_URL
    refused = one_line(run(env, "online", "stop"))
    assert "stops only the embedded store" in refused


def test_a_binary_that_will_not_start_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "valkey-server"
    fake.write_text("#!/bin/sh\necho '*** FATAL CONFIG FILE ERROR ***'\necho 'Bad directive'\n")
    fake.chmod(0o755)
    for binary, message in [
        ("/bin/false", "did not start: exit status 1"),
        (str(tmp_path / "missing"), "is not an executable file"),
    ]:
        with pytest.raises(EmbeddedStoreError, match=message) as info:
            embedded.ensure_running(tmp_path / "a", {"FEATUREHOUSE_VALKEY_SERVER": binary})
        assert "FEATUREHOUSE_REDIS_URL" in str(info.value) and "\n" not in str(info.value)
    fake.write_text("#!/bin/sh\necho 'Bad directive or wrong number of arguments'\nexit 1\n")
    with pytest.raises(EmbeddedStoreError, match="did not start: Bad directive"):
        embedded.ensure_running(tmp_path / "b", {"FEATUREHOUSE_VALKEY_SERVER": str(fake)})
    fake.write_text("#!/bin/sh\nexit 0\n")  # "started" but never runs
    with pytest.raises(EmbeddedStoreError, match="did not start: it wrote no pid file"):
        embedded.ensure_running(tmp_path / "c", {"FEATUREHOUSE_VALKEY_SERVER": str(fake)}, 1.0)


def test_an_unwritable_folder_is_one_line_through_the_cli(
    tmp_path: Path, no_url_env: dict[str, str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run(
        {**no_url_env, "FEATUREHOUSE_ONLINE_DIR": str(blocker / "online")}, "online", "url"
    )
    line = one_line(result)
    assert f"cannot use {blocker / 'online'}" in line and "FEATUREHOUSE_ONLINE_DIR" in line


def test_an_unsupported_platform_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    with pytest.raises(EmbeddedStoreError, match="no valkey-server for linux riscv64") as info:
        server_binary({})
    assert "FEATUREHOUSE_REDIS_URL" in str(info.value)


def test_no_project_and_no_url_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner(env={"FEATUREHOUSE_REDIS_URL": None, "DBT_PROJECT_DIR": None}).invoke(
        cli, ["online", "url"]
    )
    assert "no dbt project here to keep an embedded online store in" in one_line(result)


def test_every_online_command_documents_an_example() -> None:
    assert "online" in CliRunner().invoke(cli, ["--help"]).stdout
    for command in ("status", "url", "stop"):
        text = CliRunner().invoke(cli, ["online", command, "--help"]).stdout
        assert "Example" in text and f"featurehouse online {command}" in text, command
    assert "embedded store" in CliRunner().invoke(cli, ["get", "--help"]).stdout
