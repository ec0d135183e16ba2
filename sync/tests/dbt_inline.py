"""Render macro calls through real dbt in this process: one `dbt compile --inline` of many calls,
each between markers, split back per call (the integration-test project, which installs the
featurehouse package: the `dbt_deps` fixture; target dev, its own target dir)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from dbt.cli.main import dbtRunner

PROJECT_DIR = Path(__file__).resolve().parents[2] / "integration_tests"
MARK = "-- @@call "


def render_inline(calls: Mapping[str, str], workdir: Path) -> dict[str, str]:
    """key -> the compiled text of its Jinja call (keys: letters, digits, `_.-`)."""
    os.environ["FEATUREHOUSE_DUCKDB_PATH"] = str(workdir / "render.duckdb")
    inline = "\n".join(f"{MARK}{key}\n{jinja}" for key, jinja in calls.items())
    result = dbtRunner().invoke(
        [
            "compile",
            "--quiet",
            "--inline",
            inline,
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(workdir / "target"),
            "--log-path",
            str(workdir / "logs"),
            "--target",
            "dev",
        ]
    )
    assert result.success, result.exception
    sql = result.result.results[0].node.compiled_code
    pieces = re.split(rf"^{re.escape(MARK)}([\w.-]+)$", sql, flags=re.MULTILINE)[1:]
    return {key: body.strip() for key, body in zip(pieces[::2], pieces[1::2], strict=True)}
