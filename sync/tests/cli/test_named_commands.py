"""Every `featurehouse ...` command a message, help text or docstring of the package names in
backticks exists, with the options it names (error messages tell users what to run next)."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import click
import pytest
from featurehouse.cli import cli

pytestmark = pytest.mark.fast
PACKAGE = Path(__file__).resolve().parents[2] / "featurehouse"
NAMED = re.compile(r"`featurehouse ([^`]+)`")


def _texts(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal; an f-string with each placeholder written `X`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "X" for v in node.values]
            found.append((node.lineno, "".join(map(str, parts))))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
    return found


def named_commands() -> list[tuple[str, str]]:
    """(where, the text between `featurehouse ` and the closing backtick) for the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, text in _texts(ast.parse(path.read_text())):
            for match in NAMED.finditer(text):
                found.append((f"{path.relative_to(PACKAGE)}:{line}", match.group(1)))
    return found


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """The command the words name (through groups), and the words after it."""
    command: click.Command = cli
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        alternatives = words[0].split("|")  # `online status|stop|url`
        ctx = click.Context(command)  # get_command: the root group imports commands lazily
        subcommands = [command.get_command(ctx, name) for name in alternatives]
        if None in subcommands:
            raise LookupError(f"no command {words[0]!r} under {command.name!r}")
        command, words = subcommands[0], words[1:]
    return command, words


def test_the_package_names_commands_at_all() -> None:
    texts = [text for _, text in named_commands()]
    assert len(texts) > 20 and "sync" in texts and any(t.startswith("delete") for t in texts)


@pytest.mark.parametrize(("where", "text"), named_commands(), ids=lambda v: v.split("\n")[0])
def test_every_named_command_and_option_exists(where: str, text: str) -> None:
    words = shlex.split(text.replace("\n", " "))
    try:
        command, rest = resolve(words)
    except LookupError as exc:
        pytest.fail(f"{where}: `featurehouse {text}`: {exc}")
    runs_alone = not isinstance(command, click.Group) or command.invoke_without_command
    assert runs_alone, f"{where}: `featurehouse {text}` is a group"
    options = {name for p in command.params for name in getattr(p, "opts", ())}
    options |= {name for p in command.params for name in getattr(p, "secondary_opts", ())}
    named = [w.split("=")[0] for w in rest if w.startswith("--")]
    unknown = [o for o in named if o not in options | {"--help"}]
    assert not unknown, f"{where}: `featurehouse {text}` names unknown option(s) {unknown}"
