"""The `featurehouse` command: the only package that imports click.

One module per command group (`sync`, `views`, `lineage`, `catalog`, `drift`, `training`,
`serve`, `online`, `init`, `acl`, `run`, `stream`, `services`), each with the output
formatting it needs; `shared` holds the options every command takes. Commands are registered
here, explicitly (COMMANDS), each module imported when its command runs. Exit codes: 0 ok, 1 a
FeaturehouseError (one line on stderr naming the cause), 2 bad usage.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

import click

from featurehouse import __version__
from featurehouse.cli.shared import Group
from featurehouse.errors import redact

# Every command: name -> (module under featurehouse.cli, attribute). A command's module is
# imported when that command runs (or `--help` lists it), so `featurehouse sync` does not
# import the server, the stream consumer or the lineage parser.
COMMANDS: dict[str, tuple[str, str]] = {
    "sync": ("sync", "sync"),
    "get": ("views", "get"),
    "list": ("views", "list_views"),
    "describe": ("views", "describe"),
    "delete": ("views", "delete"),
    "lineage": ("lineage", "lineage"),
    "impact": ("lineage", "impact"),
    "catalog": ("catalog", "catalog"),
    "drift": ("drift", "drift"),
    "serve": ("serve", "serve"),
    "dataset": ("training", "dataset"),
    "parity": ("sync", "parity"),
    "services": ("services", "services"),
    "usage": ("services", "usage"),
    "deprecations": ("services", "deprecations"),
    "online": ("online", "online"),
    "init": ("init", "init"),
    "deps": ("init", "deps"),
    "acl": ("acl", "acl"),
    "run": ("run", "run"),
    "runs": ("run", "runs"),
    "stream": ("stream", "stream"),
}


class LazyGroup(Group):
    """The `featurehouse` group: commands of COMMANDS, each imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name]
            loaded = importlib.import_module(f"featurehouse.cli.{module}")
            self.add_command(getattr(loaded, attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="featurehouse")
def cli() -> None:
    """Featurehouse: dbt models as feature views, served from Redis.

    \b
    Example:
      dbt build && featurehouse sync && featurehouse get feat_customer__orders 42
    """


def main(argv: Sequence[str] | None = None) -> None:
    """Console script entry point (`featurehouse`)."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if argv is None:
        hide_secrets_in_title(sys.argv[1:])
    cli.main(args=argv, prog_name="featurehouse")


def hide_secrets_in_title(args: Sequence[str]) -> None:
    """A password in an argument (`--redis-url redis://u:pw@...`) is visible to every user of
    the machine in `ps`: replace the process title with the arguments redacted."""
    shown = [redact(arg) for arg in args]
    if shown != list(args):
        import setproctitle

        setproctitle.setproctitle(" ".join(["featurehouse", *shown]))
