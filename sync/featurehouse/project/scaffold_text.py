"""The text of a scaffolded feature view: its versioned model SQL and its yml (contract,
config.meta.feature_store with the guesses explained, the grain test, the TTL to decide).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from featurehouse.project.scaffold import ViewPlan


def files_for(plan: ViewPlan, model_dir: Path) -> dict[Path, str]:
    """The view's SQL and yml files under `<model-path>/features/<entity>/`."""
    folder = model_dir / "features" / plan.entity
    return {
        folder / f"{plan.name}_v1.sql": view_sql(plan),
        folder / f"{plan.name}.yml": view_yml(plan),
    }


def view_sql(plan: ViewPlan) -> str:
    """`<name>_v1.sql`: an import CTE of the model, then the view's columns."""
    model = plan.model
    ref = f"ref('{model.name}'" + (f", v={model.version})" if model.version else ")")
    cte = model.name if model.name.isidentifier() else "source_model"
    lines = ",\n".join(
        "        " + (c.expression if c.expression != c.name else c.name) for c in plan.columns
    )
    return (
        f"{{#- {plan.name} v1, scaffolded by `featurehouse init --view {model.name}`.\n"
        "    Adding a column needs no new version; removing, renaming or retyping one does:\n"
        "    copy this file to <name>_v2.sql and add `- v: 2` to the yml. -#}\n"
        "with\n\n"
        f"{cte} as (\n    select * from {{{{ {ref} }}}}\n),\n\n"
        f"features as (\n    select\n{lines}\n    from {cte}\n)\n\n"
        "select * from features\n"
    )


def view_yml(plan: ViewPlan) -> str:
    """`<name>.yml`: the versioned model with its contract, store metadata and grain test."""
    guesses = {g.what: g for g in plan.guesses}
    grain = json.dumps([*plan.keys, plan.event_timestamp]).replace('"', "")
    keys = json.dumps(list(plan.keys)).replace('"', "")
    lines = [
        "version: 2",
        "",
        "models:",
        f"  - name: {plan.name}",
        "    description: >",
        f"      Features of each {plan.entity}, from {plan.model.name} (scaffolded by",
        f"      `featurehouse init --view {plan.model.name}`).",
        "    latest_version: 1",
        "    config:",
        "      materialized: table",
        "      contract:",
        "        enforced: true",
        "      # The unversioned view of the latest version (on dbt 1.12 you may instead set",
        "      # `latest_version_pointer: {enabled: true}`; this hook then does nothing).",
        "      post_hook:",
        '        - "{{ featurehouse.create_latest_version_view() }}"',
        "      meta:",
        "        feature_store:",
        f"          # guessed: {guesses['entity'].reason}",
        f"          entity: {plan.entity}",
        f"          # guessed: {guesses['keys'].reason}",
        f"          keys: {keys}",
        f"          # guessed: {guesses['event_timestamp'].reason}",
        f"          event_timestamp: {plan.event_timestamp}",
        "          # TODO(featurehouse): set the TTL, how long a value stays valid after its",
        "          # event timestamp (e.g. 1d for daily rows); without one it never expires.",
        "          # ttl: 1d",
        "          online: true",
        "    data_tests:",
        "      # The grain: one row per entity and event timestamp.",
        "      - featurehouse.unique_combination:",
        "          arguments:",
        f"            combination_of_columns: {grain}",
        "    columns:",
    ]
    for column in plan.columns:
        source = f"{plan.model.name}.{column.name}" + (f", {column.note}" if column.note else "")
        if column.expression.startswith("cast('{{"):
            source = "the build's as-of time (featurehouse.as_of())"
        lines += [
            f"      - name: {column.name}",
            f"        data_type: {column.data_type}",
            f"        description: From {source}.",
        ]
    lines += ["    versions:", "      - v: 1", ""]
    return "\n".join(lines)


def model_dir(project_dir: Path) -> Path:
    """The project's first model path (dbt_project.yml `model-paths`, default models)."""
    doc = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    paths = doc.get("model-paths") or ["models"]
    return project_dir / str(paths[0])
