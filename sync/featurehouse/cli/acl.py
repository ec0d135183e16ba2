"""`featurehouse acl`: the least-privilege Redis users' `ACL SETUSER` lines for a prefix, and
loading the function library with the writer's credentials."""

from __future__ import annotations

import os

import click

from featurehouse.api.context import Context
from featurehouse.cli.output import to_json
from featurehouse.online.redis import acl as rules


@click.command()
@click.option(
    "--prefix",
    "--redis-prefix",
    "prefix",
    metavar="P",
    envvar="FEATUREHOUSE_REDIS_PREFIX",
    help="Key prefix the users are scoped to [env FEATUREHOUSE_REDIS_PREFIX, var "
    "featurehouse_redis_prefix, default fh].",
)
@click.option(
    "--redis-url",
    metavar="URL",
    envvar="FEATUREHOUSE_REDIS_URL",
    help="With --load-functions: the Redis to load into, as featurehouse-writer.",
)
@click.option(
    "--load-functions",
    is_flag=True,
    help="Load this version's function library into Redis instead of printing "
    "(the reader may not; run it as featurehouse-writer after an upgrade).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def acl(prefix: str | None, redis_url: str | None, load_functions: bool, as_json: bool) -> None:
    """Print the ACL SETUSER lines of the two Redis users Featurehouse needs.

    featurehouse-writer: `featurehouse sync`, `delete`, cleanup and the stream consumer.
    featurehouse-reader: `featurehouse serve`, `get`, `list`, `describe` and the Python API's
    reads; it cannot write, delete or load functions. Both are limited to the prefix's keys.
    Passwords: set FEATUREHOUSE_ACL_WRITER_PASSWORD / _READER_PASSWORD to print their SHA-256
    (`#...`, what Redis keeps), else the lines hold placeholders to replace. A password is
    never printed.

    \b
    Examples:
      featurehouse acl --prefix fh | redis-cli -u "$ADMIN_URL"
      featurehouse acl --prefix fh --json
      FEATUREHOUSE_REDIS_URL=rediss://featurehouse-writer:...@redis:6380/0 \\
        featurehouse acl --load-functions
    """
    context = Context(redis_url_flag=redis_url, prefix_flag=prefix)
    if load_functions:
        name = rules.load_library(context.redis_url)
        click.echo(f"function library {name} is loaded in {context.redis_shown}")
        return
    users = rules.users(context.prefix)
    lines = {
        u.name: u.setuser(rules.password_rule(u.name, os.environ.get(rules.PASSWORD_ENV[u.name])))
        for u in users
    }
    if as_json:
        report = {
            "prefix": context.prefix,
            "key_patterns": rules.key_patterns(context.prefix),
            "users": [
                {
                    "name": u.name,
                    "purpose": u.purpose,
                    "keys": list(u.keys),
                    "commands": list(u.commands),
                    "acl_setuser": lines[u.name],
                }
                for u in users
            ],
        }
        click.echo(to_json(report))
        return
    click.echo("\n".join(lines.values()))
    placeholders = [u.name for u in users if not os.environ.get(rules.PASSWORD_ENV[u.name])]
    if placeholders:
        click.echo(
            f"note: replace the REPLACE-WITH-... placeholders of {', '.join(placeholders)} with "
            f"`>password`, or set {' / '.join(rules.PASSWORD_ENV[n] for n in placeholders)} to "
            "print its SHA-256 instead",
            err=True,
        )
