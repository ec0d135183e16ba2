"""Every read example of the README (`featurehouse get`, `list`, `describe`, `parity` lines of
its shell blocks) runs on the synced demo, and every `get` example answers `present`."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest
from click.testing import CliRunner
from featurehouse.cli import cli
from sync_fixtures import REPO_ROOT

COMMANDS = ("get", "list", "describe", "parity")
# Lines about views the demo does not have, said so on the line itself; and the section that
# walks through adopting Featurehouse in another dbt project (its own views).
ELSEWHERE = "(not in the demo)"
OTHER_PROJECT = "## Use Featurehouse in your dbt project"


def examples() -> list[str]:
    """The README's example commands, in order, without their comments."""
    found, section = [], ""
    blocks = re.split(r"^```", (REPO_ROOT / "README.md").read_text(), flags=re.M)
    for i, block in enumerate(blocks):
        if i % 2 == 0:
            headings = re.findall(r"^## .*$", block, flags=re.M)
            section = headings[-1] if headings else section
            continue
        if not block.startswith("sh\n") or section == OTHER_PROJECT:
            continue
        for line in block.splitlines()[1:]:
            words = line.split("#")[0].split()
            command = words[0].removeprefix(".venv/bin/") if words else ""
            if command == "featurehouse" and words[1] in COMMANDS and ELSEWHERE not in line:
                found.append(" ".join(words[1:]))
    return found


def test_the_readme_has_read_examples() -> None:
    found = examples()
    assert len(found) >= 8 and sum(e.startswith("get ") for e in found) >= 4, found


@pytest.mark.parametrize("example", examples())
def test_readme_example_runs_on_the_demo(fh_env: dict[str, str], synced: Any, example: str) -> None:
    args = shlex.split(example)
    json_args = args if "--json" in args else [*args, "--json"]
    result = CliRunner().invoke(cli, json_args, catch_exceptions=False)
    assert result.exit_code == 0, (example, result.output)
    answer = json.loads(result.stdout)
    if args[0] == "get":
        for row in answer:
            statuses = {f["status"] for f in row["features"].values()}
            assert statuses == {"present"}, (example, row["keys"], statuses)
