"""Issue #23's "done": on a machine with no Redis (a private mount and network namespace: no
redis-server/valkey-server on PATH, nothing on 6379) and no Redis URL, the demo's sync runs,
`get` serves present values, and after a SIGKILL of the embedded server the next `get` answers
the same. And a full disk under the embedded store (a tiny tmpfs in a mount namespace).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

HELPER = str(Path(__file__).with_name("embedded_namespace.py"))
VIEW, KEYS = "feat_customer__orders.v2", ("1151", "1031")  # the demo shows these two


def in_namespace(spaces: list[str], args: list[str], env: dict[str, str] | None) -> Any:
    """Run embedded_namespace.py in new namespaces (`unshare`); what it saw, from its JSON."""
    done = subprocess.run(
        ["unshare", *spaces, sys.executable, HELPER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
@pytest.mark.skipif(os.getuid() != 0, reason="unshare --mount --net needs root")
def test_demo_steps_with_no_redis_anywhere(base_env: dict[str, str], target_copy: Path) -> None:
    env = {k: v for k, v in base_env.items() if k != "FEATUREHOUSE_REDIS_URL"}
    env["DBT_TARGET_PATH"] = str(target_copy)
    seen = in_namespace(["--mount", "--net"], [str(REPO_ROOT), VIEW, *KEYS], env)
    assert seen["on_path"] == {"redis-server": None, "valkey-server": None}, seen["hidden"]
    assert seen["port_6379"] == "refused" and seen["url_env"] is None

    sync = seen["sync"]
    assert sync["code"] == 0, sync["stderr"]
    assert "synced 4 view version(s) to unix://" in sync["stdout"]
    assert (
        "online store: embedded valkey-server" in sync["stderr"]
        and "started now" in (sync["stderr"])
    )
    before, after = seen["get_before"], seen["get_after"]
    assert before["code"] == 0, before["stderr"]
    rows = json.loads(before["stdout"])
    assert len(rows) == len(KEYS)
    assert all(f["status"] == "present" for row in rows for f in row["features"].values())
    assert "(running, pid" in before["stderr"]

    assert seen["status"]["running"] and seen["status"]["data_dir"] == str(
        target_copy / "featurehouse" / "online"
    )
    assert after["code"] == 0, after["stderr"]
    assert json.loads(after["stdout"]) == rows  # the same answer from a fresh server
    assert "started now" in after["stderr"]
    assert seen["status_after"]["pid"] != seen["status"]["pid"]
    assert json.loads(seen["stop"]["stdout"])["stopped"] is True


@pytest.mark.skipif(os.getuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_is_one_line_and_publishes_nothing(tmp_path: Path) -> None:
    seen = in_namespace(["--mount"], ["--disk-full", str(tmp_path / "disk")], None)
    kind, message = seen["publish_error"]
    assert kind == "OnlineStoreError" and "cannot write its data to disk" in message
    assert "No space left on device" in message and "free disk space" in message
    assert seen["views_after"] == []  # nothing half-published
    kind, message = seen["start_error"]
    assert kind == "EmbeddedStoreError" and "did not start: No space left on device" in message
    assert "FEATUREHOUSE_ONLINE_DIR" in message and "\n" not in message
