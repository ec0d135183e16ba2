"""`featurehouse --help` lists every command from COMMANDS' summaries without importing the
command modules: the listing must be the one click makes from the commands themselves."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.utils import make_default_short_help
from featurehouse.cli import COMMANDS, cli

pytestmark = pytest.mark.fast


def _listing(commands: dict[str, click.Command], width: int) -> str:
    ctx = click.Context(cli, terminal_width=width)
    formatter = ctx.make_formatter()
    click.Group.format_commands(click.Group("featurehouse", commands), ctx, formatter)
    return formatter.getvalue()


def _commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    return {name: cli.get_command(ctx, name) for name in COMMANDS}  # type: ignore[misc]


def test_each_summary_is_the_first_sentence_of_its_help() -> None:
    for name, command in _commands().items():
        assert not (command.short_help or command.hidden or command.deprecated), name
        first = make_default_short_help(command.help or "", sys.maxsize)
        assert COMMANDS[name].summary == first, f"COMMANDS[{name!r}].summary: use {first!r}"


@pytest.mark.parametrize("width", [40, 80, 120, 400])
def test_the_listing_is_the_commands_own(width: int) -> None:
    stand_ins = {name: click.Command(name, help=e.summary) for name, e in COMMANDS.items()}
    assert _listing(stand_ins, width) == _listing(_commands(), width)


def test_help_imports_no_command_module() -> None:
    code = (
        "import sys\n"
        "from featurehouse.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "sync  " in done.stdout and "stream  " in done.stdout
    loaded = set(done.stderr.split())
    heavy = {"pyarrow", "numpy", "duckdb", "redis", "yaml", "featurehouse.api"}
    commands = {f"featurehouse.cli.{e.module}" for e in COMMANDS.values()}
    assert not loaded & (heavy | commands)
