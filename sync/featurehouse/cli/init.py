"""`featurehouse init` and `featurehouse deps`: adopt Featurehouse in an existing dbt project.

Part of the CLI (with cli.py, a click user); cli.py registers both commands. Parse arguments,
call `init_project` / `scaffold`, print what was done and what comes next.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from featurehouse.api.context import Context
from featurehouse.cli.output import to_json
from featurehouse.errors import ConfigError
from featurehouse.project import render, scaffold, scaffold_text
from featurehouse.project.init import PACKAGE_PATH_ENV, add_package, next_steps, run_deps
from featurehouse.project.package import package_dir
from featurehouse.project.settings import load_project

_PROJECT_DIR = click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="DBT_PROJECT_DIR",
    help="The dbt project (default: cwd or a parent).",
)


@click.command()
@click.option("--view", "model", metavar="MODEL", help="Scaffold a feature view over MODEL.")
@click.option("--name", metavar="NAME", help="The view's name (default feat_<entity>__MODEL).")
@click.option("--key", "keys", multiple=True, metavar="COL", help="Entity key column; repeatable.")
@click.option("--event-timestamp", metavar="COL", help="The column saying when values took effect.")
@click.option("--target", "target_name", metavar="T", envvar="DBT_TARGET",
              help="profiles.yml target to read the column types from.")  # fmt: skip
@_PROJECT_DIR
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def init(
    model: str | None,
    name: str | None,
    keys: Sequence[str],
    event_timestamp: str | None,
    target_name: str | None,
    project_dir: Path | None,
    as_json: bool,
) -> None:
    """Add Featurehouse to this dbt project, or scaffold a feature view.

    Adds the featurehouse dbt package to packages.yml (once; other entries and comments stay)
    and prints the next steps. With --view, writes a versioned feature view over one of your
    built models: a contract with the warehouse's column types, config.meta.feature_store with
    the entity key and event timestamp guessed from its columns and `unique` tests (each guess
    says why), a TTL left for you to set, and a uniqueness test on the grain.

    \b
    Examples:
      featurehouse init
      featurehouse init --view customers
      featurehouse init --view orders --key customer_id --event-timestamp ordered_at
    """
    project = load_project(project_dir)
    result = add_package(project.project_dir)
    if model is None:
        _print_init(result.path, result.changed, result.entry, as_json)
        return
    context = Context(project_dir=project.project_dir, target_name=target_name)
    manifest = context.artifacts.manifest
    node = scaffold.find_model(manifest, model)
    compiled = render.compile_inline(
        context.project, context.target, scaffold.columns_query(node), f"the columns of {model}"
    )
    columns, double = scaffold.parse_columns(compiled, node)
    plan = scaffold.plan_view(
        manifest, node, columns, double, name=name, keys=keys, event_timestamp=event_timestamp
    )
    files = _write(plan, scaffold_text.model_dir(project.project_dir))
    _print_view(plan, [p.relative_to(project.project_dir) for p in files], as_json)


def _write(plan: scaffold.ViewPlan, model_dir: Path) -> list[Path]:
    files = scaffold_text.files_for(plan, model_dir)
    existing = [p for p in files if p.exists()]
    if existing:
        raise ConfigError(
            f"{existing[0]} exists: pass --name for another view name, or delete it first"
        )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


def _print_init(path: Path, changed: bool, entry: str, as_json: bool) -> None:
    if as_json:
        click.echo(to_json({"packages_file": str(path), "changed": changed, "entry": entry}))
        return
    if changed:
        click.echo(f"Added the featurehouse dbt package to {path}:\n    {entry}")
    else:
        click.echo(f"{path} already lists the featurehouse dbt package; nothing changed.")
    click.echo("\nNext steps:")
    for step in next_steps():
        click.echo(f"  {step}")


def _print_view(plan: scaffold.ViewPlan, files: list[Path], as_json: bool) -> None:
    if as_json:
        click.echo(to_json({
            "view": plan.name,
            "files": [str(p) for p in files],
            "guesses": {g.what: {"value": g.value, "reason": g.reason} for g in plan.guesses},
            "left_out": list(plan.left_out),
        }))  # fmt: skip
        return
    click.echo(f"Wrote the feature view {plan.name} over {plan.model.label}:")
    for path in files:
        click.echo(f"  {path}")
    click.echo("Guessed (check them in the yml, or pass --key / --event-timestamp):")
    for guess in plan.guesses:
        click.echo(f"  {guess.what:<16} {guess.value:<24} {guess.reason}")
    for note in plan.left_out:
        click.echo(f"  left out          {note}")
    click.echo("  ttl              (none yet)               set it in the yml: see its TODO")
    click.echo(f"\nNext: dbt build --select {plan.name}, then featurehouse sync -s {plan.name}")


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--path", "print_path", is_flag=True, help="Only print the dbt package's path.")
@_PROJECT_DIR
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def deps(print_path: bool, project_dir: Path | None, dbt_args: Sequence[str]) -> None:
    """Install the featurehouse dbt package: `dbt deps` with its path on this machine.

    Runs `dbt deps` in the project with FEATUREHOUSE_DBT_PACKAGE set to the dbt package this
    featurehouse carries (packages.yml reads it), then checks the installed version. Extra
    arguments go to dbt. Plain `dbt deps` works too once the variable is exported.

    \b
    Examples:
      featurehouse deps
      export FEATUREHOUSE_DBT_PACKAGE="$(featurehouse deps --path)"   # then plain dbt deps
    """
    if print_path:
        click.echo(str(package_dir()))
        return
    project = load_project(project_dir)
    installed = run_deps(project, list(dbt_args), render.dbt_executable())
    click.echo(f"featurehouse dbt package installed at {installed} ({PACKAGE_PATH_ENV}="
               f"{package_dir()})")  # fmt: skip
