"""The `featurehouse` command: the only package that imports click.

One module per command group (`sync`, `views`, `lineage`, `catalog`, `drift`, `training`,
`serve`, `online`, `init`, `acl`, `run`, `stream`, `services`), each with the output
formatting it needs; `shared` holds the options every command takes. Commands are registered
here, explicitly (COMMANDS), each module imported when its command runs; the group's --help
lists them from their summaries (0.05 s, not 0.7). Exit codes: 0 ok, 1 a FeaturehouseError (one
line on stderr naming the cause), 2 bad usage.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import NamedTuple

import click

from featurehouse import __version__
from featurehouse.cli.shared import Group
from featurehouse.errors import redact


class Entry(NamedTuple):
    """A command of the group: where it lives, and the first sentence of its help."""

    module: str  # under featurehouse.cli
    attr: str
    summary: str  # what `featurehouse --help` lists; a test checks it against the docstring


# Every command. A command's module is imported when that command runs (or its own --help),
# so `featurehouse sync` does not import the server, the stream consumer or the lineage
# parser, and `featurehouse --help` lists them all from their summaries, importing none.
COMMANDS: dict[str, Entry] = {
    "sync": Entry(
        "sync",
        "sync",
        "Publish feature views' latest rows (per the dbt macro latest_feature_rows) to Redis.",
    ),
    "get": Entry(
        "views",
        "get",
        "Read the served features of one or more entities of VIEW (or of a feature service).",
    ),
    "list": Entry(
        "views",
        "list_views",
        "List feature views: every version in the dbt project and what Redis serves.",
    ),
    "describe": Entry(
        "views",
        "describe",
        "Describe one view version: keys, timestamps, TTL, features and types, sync state.",
    ),
    "delete": Entry(
        "views",
        "delete",
        "Remove a view version's data and metadata from Redis (the dbt model is untouched).",
    ),
    "lineage": Entry(
        "lineage",
        "lineage",
        "Show the columns a feature (or every feature of a view) is computed from: a tree, model "
        "by model down to seed and source columns, each line saying how it feeds the one above "
        "(`value` with its steps, `join key`, `filter`, `group by`, `partition by`, `order by`).",
    ),
    "impact": Entry(
        "lineage",
        "impact",
        "List what depends on a seed, source or model (or one of its columns): features (and how "
        "the column reaches them), view versions, training datasets (models/datasets/), other "
        "models, and the Redis keys serving the affected view versions.",
    ),
    "catalog": Entry(
        "catalog",
        "catalog",
        "Write the static feature catalog: every view version, its features, tests, freshness, "
        "online status (from Redis when reachable), a lineage graph per feature, links to `dbt "
        "docs`.",
    ),
    "drift": Entry(
        "drift",
        "drift",
        "Distribution drift of VIEW's features between a reference and a current window.",
    ),
    "serve": Entry(
        "serve",
        "serve",
        "Serve online features over HTTP (Feast-compatible), straight from Redis.",
    ),
    "dataset": Entry(
        "training",
        "dataset",
        "Build a training set: every spine row with each feature as of the row's timestamp.",
    ),
    "parity": Entry(
        "sync",
        "parity",
        "Check that the online store answers what the warehouse says (training-serving skew).",
    ),
    "services": Entry(
        "services",
        "services",
        "List feature services: their features (pinned versions), owner, and how they are read.",
    ),
    "usage": Entry(
        "services",
        "usage",
        "Usage history: per feature service and view version, reads, entities, last read.",
    ),
    "deprecations": Entry(
        "services",
        "deprecations",
        "List view versions past (or near) their dbt `deprecation_date` that a feature service "
        "still pins, with how recently each is read.",
    ),
    "online": Entry(
        "online",
        "online",
        "The online store: where it is, how big, and the embedded store's start and stop.",
    ),
    "init": Entry(
        "init",
        "init",
        "Add Featurehouse to this dbt project, or scaffold a feature view.",
    ),
    "deps": Entry(
        "init",
        "deps",
        "Install the featurehouse dbt package: `dbt deps` with its path on this machine.",
    ),
    "acl": Entry(
        "acl",
        "acl",
        "Print the ACL SETUSER lines of the two Redis users Featurehouse needs.",
    ),
    "run": Entry(
        "run",
        "run",
        "Build the feature views with dbt, validate, publish the views that passed, record it.",
    ),
    "runs": Entry(
        "run",
        "runs",
        "List the last runs (`featurehouse run`): status, as-of, views published and refused, "
        "tests, duration, what failed (from the warehouse's run_history and run_views tables).",
    ),
    "stream": Entry(
        "stream",
        "stream",
        "Consume raw events of streaming feature views (`config.meta.feature_store.stream`): land"
        " each in the offline log the view's model reads (`featurehouse.streamed()`), then "
        "recompute the touched entities with the view's own compiled SQL and merge them into "
        "Redis.",
    ),
}


class LazyGroup(Group):
    """The `featurehouse` group: commands of COMMANDS, each imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            entry = COMMANDS[cmd_name]
            loaded = importlib.import_module(f"featurehouse.cli.{entry.module}")
            self.add_command(getattr(loaded, entry.attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing, of stand-ins carrying each summary: no command module imported."""
        listed = {
            name: self.commands.get(name) or click.Command(name, help=COMMANDS[name].summary)
            for name in self.list_commands(ctx)
        }
        click.Group.format_commands(click.Group(self.name, listed), ctx, formatter)


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
