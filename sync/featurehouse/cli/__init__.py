"""The `featurehouse` command: the only package that imports click.

One module per command group (`sync`, `views`, `lineage`, `catalog`, `drift`, `training`,
`serve`, `online`, `init`, `acl`, `run`, `stream`, `services`), each with the output
formatting it needs; `shared` holds the options every command takes. Commands are registered
here, explicitly. Exit codes: 0 ok, 1 a FeaturehouseError (one line on stderr naming the
cause), 2 bad usage.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from featurehouse import __version__
from featurehouse.cli import (
    acl,
    catalog,
    drift,
    init,
    lineage,
    online,
    run,
    serve,
    services,
    stream,
    sync,
    training,
    views,
)
from featurehouse.cli.shared import Group
from featurehouse.errors import redact


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="featurehouse")
def cli() -> None:
    """Featurehouse: dbt models as feature views, served from Redis.

    \b
    Example:
      dbt build && featurehouse sync && featurehouse get feat_customer__orders 42
    """


for command in (
    sync.sync,
    views.get,
    views.list_views,
    views.describe,
    views.delete,
    lineage.lineage,
    lineage.impact,
    catalog.catalog,
    drift.drift,
    serve.serve,
    training.dataset,
    sync.parity,
    services.services,
    services.usage,
    services.deprecations,
    online.online,
    init.init,
    init.deps,
    acl.acl,
    run.run,
    run.runs,
    stream.stream,
):
    cli.add_command(command)


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
