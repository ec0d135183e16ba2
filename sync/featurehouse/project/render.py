"""Render featurehouse macros through dbt, cached per project code (`render_key`).

The SQL that picks the rows a sync publishes (`featurehouse.latest_feature_rows`), the SQL of
a training set (`featurehouse.point_in_time_join`) and the drift measures are the dbt macros';
Python never writes its own. One `dbt compile --inline` renders every call a command needs;
the result is cached under `<target>/featurehouse/sql/` so repeats do not pay dbt's start-up,
and a new `dbt build` of unchanged code (macros, models, configs, dbt_project.yml) keeps it.
The sync's SQL is also rendered by the build itself (the package's on-run-end hook,
`latest_rows_on_build`, records it in run_results.json): the first sync after it starts no dbt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from featurehouse.errors import FeaturehouseError, OfflineStoreError
from featurehouse.project.manifest import (
    Manifest,
    RunResults,
    load_manifest,
    load_run_results,
)
from featurehouse.project.registry import FeatureView
from featurehouse.project.settings import Project, Target, load_target

log = logging.getLogger(__name__)
_BEGIN = "-- featurehouse:begin "
_END = "-- featurehouse:end"


EXPIRED = "_pit_expired"  # the macro's column (with_expired): older than the TTL at as_of
TIE_BREAKS = "_pit_tie_breaks"  # the macro's column (with_tie_breaks): tie-breaks lost
_BUILT = "/* featurehouse:latest_rows "  # the record of the on-run-end hook (run_results.json)
AS_OF_STAND_IN = "__featurehouse_as_of__"  # the hook's as_of, rendered once: the placeholder's


def macro_call(view: FeatureView, placeholder: str, *, as_known_at: bool = False) -> str:
    """The Jinja that asks the macro for `view`'s latest rows at the bound as-of: every
    entity with a row at or before it, those older than the TTL flagged in EXPIRED, the rows
    that lost the tie-break on the created timestamp counted in TIE_BREAKS."""
    version = "none" if view.version is None else str(view.version)
    known = ", as_known_at=true" if as_known_at else ""
    return (
        f"{{{{ featurehouse.latest_feature_rows('{view.name}', version={version}, "
        f"as_of='{placeholder}'{known}, with_expired=true, with_tie_breaks=true) }}}}"
    )


def latest_rows_sql(
    project: Project,
    target: Target,
    manifest: Manifest,
    views: Sequence[FeatureView],
    placeholder: str,
    *,
    as_known_at: bool = False,
) -> dict[str, str]:
    """view ref -> the macro's SQL (as-of left as `placeholder`), from the cache or dbt."""
    directory = _cache_dir(project, target, manifest, placeholder, as_known_at)
    found: dict[str, str] = {}
    missing: list[FeatureView] = []
    for view in views:
        path = directory / f"{view.ref}.sql"
        if path.exists():
            found[view.ref] = path.read_text()
        else:
            missing.append(view)
    if missing and not as_known_at:
        built = rendered_by_build(project, target, manifest)
        from_build = {v.ref: built[v.unique_id].replace(AS_OF_STAND_IN, placeholder)
                      for v in missing if v.unique_id in built}  # fmt: skip
        if from_build:
            log.info("latest_feature_rows of %s: as the build rendered it", ", ".join(from_build))
            _store(directory, from_build)
            found |= from_build
            missing = [v for v in missing if v.ref not in found]
    if missing:
        rendered = _render(project, target, missing, placeholder, as_known_at)
        _store(directory, rendered)
        found.update(rendered)
    return {view.ref: found[view.ref] for view in views}


def _store(directory: Path, sqls: Mapping[str, str]) -> None:
    """Rendered SQL into the cache (one file per view ref); older manifests' caches go."""
    directory.mkdir(parents=True, exist_ok=True)
    for ref, sql in sqls.items():
        _write_atomically(directory / f"{ref}.sql", sql)
    _prune(directory.parent.parent, keep=directory.parent)


def rendered_by_build(project: Project, target: Target, manifest: Manifest) -> dict[str, str]:
    """unique_id -> the latest rows' SQL (as-of: AS_OF_STAND_IN) that the package's on-run-end
    hook rendered in the dbt invocation that wrote `manifest`, for `target`; {} when the
    run results are another invocation's or target's, or hold no such record."""
    path = project.target_dir / "run_results.json"
    if not manifest.invocation_id or not path.exists():
        return {}
    try:
        build = load_run_results(path)
    except FeaturehouseError:
        return {}
    if build.invocation_id != manifest.invocation_id or _build_target(project, build) != (
        target.name
    ):
        return {}
    for code in build.hooks.values():
        start, end = code.find(_BUILT), code.rfind(" */")
        if start >= 0 and end > start:
            try:
                found = json.loads(code[start + len(_BUILT) : end])
            except ValueError:
                return {}
            return {k: v for k, v in found.items() if isinstance(v, str) and v}
    return {}


def _build_target(project: Project, build: RunResults) -> str | None:
    """The target the build ran on: its --target, else the profile's default."""
    return build.target or _default_target(project)


def inline_sql(project: Project, target: Target, manifest: Manifest, inline: str) -> str:
    """A macro call (Jinja text) rendered by dbt; cached per project code and call text."""
    digest = hashlib.sha256(inline.encode()).hexdigest()[:24]
    directory = project.cache_dir / "sql" / render_key(project, manifest) / f"{target.name}-inline"
    path = directory / f"{digest}.sql"
    if path.exists():
        return path.read_text()
    what = inline.split("(")[0].strip("{ ")
    log.info("rendering %s with dbt", what)
    compiled = _dbt_compile(project, target, f"{_BEGIN}{digest}\n{inline}\n{_END}", what)
    sql = _split(compiled, [digest], what)
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, sql[digest])
    _prune(directory.parent.parent, keep=directory.parent)
    return sql[digest]


def render_calls(
    project: Project,
    target: Target,
    manifest: Manifest,
    calls: Mapping[str, str],
    namespace: str,
    what: str,
) -> dict[str, str]:
    """key -> the SQL a Jinja macro call renders to, from the cache or one `dbt compile`.

    Keys name cache files (letters, digits, `._-`); `namespace` separates callers' caches."""
    key = render_key(project, manifest)
    directory = project.cache_dir / "sql" / key / f"{target.name}-{namespace}"
    found = {
        k: (directory / f"{k}.sql").read_text() for k in calls if (directory / f"{k}.sql").exists()
    }
    missing = [k for k in calls if k not in found]
    if missing:
        inline = "\n".join(f"{_BEGIN}{k}\n{calls[k]}\n{_END}" for k in missing)
        log.info("rendering %s for %d call(s) with dbt", what, len(missing))
        rendered = _split(_dbt_compile(project, target, inline, what), missing, what)
        directory.mkdir(parents=True, exist_ok=True)
        for key, sql in rendered.items():
            _write_atomically(directory / f"{key}.sql", sql)
        found.update(rendered)
        _prune(directory.parent.parent, keep=directory.parent)
    return {k: found[k] for k in calls}


def _cache_dir(
    project: Project, target: Target, manifest: Manifest, placeholder: str, as_known_at: bool
) -> Path:
    mode = ("known" if as_known_at else "all") + "-expired-ties"  # macro_call's shape
    style = "dollar" if placeholder.startswith("$") else "pyformat"
    key = render_key(project, manifest)
    return project.cache_dir / "sql" / key / f"{target.name}-{style}-{mode}"


def render_key(project: Project, manifest: Manifest) -> str:
    """What rendered SQL depends on: the manifest's code (`Manifest.code_key`) and the
    project file, whose vars the macros may read."""
    try:
        project_file = (project.project_dir / "dbt_project.yml").read_bytes()
    except OSError:
        project_file = b""
    digest = hashlib.sha256(manifest.code_key.encode() + b"\0" + project_file)
    return digest.hexdigest()[:16]


def _render(
    project: Project,
    target: Target,
    views: Sequence[FeatureView],
    placeholder: str,
    as_known_at: bool,
) -> dict[str, str]:
    inline = "\n".join(
        f"{_BEGIN}{view.ref}\n{macro_call(view, placeholder, as_known_at=as_known_at)}\n{_END}"
        for view in views
    )
    log.info("rendering latest_feature_rows for %s with dbt", ", ".join(v.ref for v in views))
    compiled = _dbt_compile(project, target, inline)
    return _split(compiled, [v.ref for v in views])


def compile_inline(project: Project, target: Target, inline: str, what: str) -> str:
    """Jinja rendered by `dbt compile --inline` now, uncached (its answer may change without
    the code changing, e.g. a relation's columns)."""
    return _dbt_compile(project, target, inline, what)


def dbt_executable() -> str:
    """The dbt next to this Python (a venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "dbt"
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if found is None:
        raise OfflineStoreError("dbt is not installed: `pip install dbt-core dbt-duckdb`")
    return found


def _dbt_compile(
    project: Project, target: Target, inline: str, what: str = "latest_feature_rows"
) -> str:
    """`dbt compile --inline` into Featurehouse's own target dir (the build's stays intact)."""
    seed_partial_parse(project, project.cache_dir / "dbt")
    done = _run_dbt(project, _compile_command(project, target, inline), f"render {what}")
    try:
        return str(json.loads(done.stdout)["compiled"])
    except (ValueError, KeyError) as exc:
        raise OfflineStoreError(f"unexpected `dbt compile` output: {done.stdout[:200]!r}") from exc


def seed_partial_parse(project: Project, target_path: Path) -> None:
    """Start dbt from the build's parse: copy its partial_parse.msgpack into `target_path`
    when newer (dbt checks it against the project, vars and profile, and parses in full
    when it does not fit), so a first render after `dbt build` skips the full parse."""
    built = project.target_dir / "partial_parse.msgpack"
    seeded = target_path / "partial_parse.msgpack"
    try:
        if seeded.exists() and seeded.stat().st_mtime >= built.stat().st_mtime:
            return
        target_path.mkdir(parents=True, exist_ok=True)
        temporary = seeded.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(built, temporary)
        temporary.replace(seeded)
    except OSError:
        return  # no build parse to start from: dbt parses in full, as without the seed


def _compile_command(project: Project, target: Target, inline: str) -> list[str]:
    """The build's own --vars too (from run_results.json): with other vars, dbt would parse
    another project (e.g. without the models that featurehouse_must_fail enables). --target
    as the build gave it: dbt's partial parse holds only for the same vars and --target."""
    results = project.target_dir / "run_results.json"
    build = load_run_results(results) if results.exists() else None
    extra = ["--vars", json.dumps(dict(build.vars))] if build and build.vars else []
    chosen = ["--target", target.name]
    if build and build.target is None and _default_target(project) == target.name:
        chosen = []  # the build named no target and this is the default: name none either
    return [*_base_command(project, inline), *chosen, *extra]


def _default_target(project: Project) -> str | None:
    try:
        return load_target(project, None, project.env or os.environ).name
    except FeaturehouseError:
        return None


def _base_command(project: Project, inline: str) -> list[str]:
    return [
        dbt_executable(), "compile", "--quiet", "--output", "json", "--inline", inline,
        "--project-dir", str(project.project_dir), "--profiles-dir", str(project.profiles_dir),
        "--target-path", str(project.cache_dir / "dbt"),
    ]  # fmt: skip


def _dbt_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("featurehouse: ")]
    if ours:  # a featurehouse macro's own compile error names the argument and the fix
        return ours[0]
    if "'featurehouse' is undefined" in output:
        return "the project does not install the featurehouse dbt package: run `featurehouse init`"
    if 'Run "dbt deps"' in output:
        return "the project's packages are not installed: run `featurehouse deps`"
    for i, line in enumerate(lines):
        if "Error" in line and i + 1 < len(lines) and line.endswith("Error"):
            return f"{line} {lines[i + 1]}"
        if "Error" in line:
            return line
    return lines[-1] if lines else "no output"


def _split(compiled: str, refs: Sequence[str], what: str = "latest_feature_rows") -> dict[str, str]:
    result: dict[str, str] = {}
    for chunk in compiled.split(_BEGIN)[1:]:
        head, _, body = chunk.partition("\n")
        result[head.strip()] = body.split(_END)[0].strip()
    missing = [r for r in refs if not result.get(r)]
    if missing:
        raise OfflineStoreError(f"{what} rendered nothing for {', '.join(missing)}")
    return result


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


def _prune(root: Path, keep: Path) -> None:
    """Remove SQL rendered for older manifests."""
    for child in root.iterdir():
        if child.is_dir() and child != keep:
            shutil.rmtree(child, ignore_errors=True)


def compile_models(
    project: Project,
    target: Target,
    selection: Sequence[str],
    variables: Mapping[str, object],
    target_path: Path,
    what: str,
) -> Manifest:
    """`dbt compile --select ... --full-refresh` with the build's vars plus `variables`, into
    its own target path; its manifest holds each selected model's compiled SQL."""
    results = project.target_dir / "run_results.json"
    build_vars = dict(load_run_results(results).vars) if results.exists() else {}
    command = [
        dbt_executable(), "compile", "--quiet", "--full-refresh", "--select", *selection,
        "--vars", json.dumps({**build_vars, **variables}, default=str),
        "--project-dir", str(project.project_dir), "--profiles-dir", str(project.profiles_dir),
        "--target", target.name, "--target-path", str(target_path),
    ]  # fmt: skip
    log.info("compiling %s with dbt", what)
    seed_partial_parse(project, target_path)
    _run_dbt(project, command, f"compile {what}")
    return load_manifest(target_path / "manifest.json")


def _run_dbt(project: Project, command: list[str], action: str) -> subprocess.CompletedProcess:
    """Run a dbt command from the project; a failure is one line naming dbt's error."""
    env = {**(project.env or os.environ), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    try:
        done = subprocess.run(
            command, cwd=project.project_dir, env=env, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OfflineStoreError(f"cannot run dbt to {action} ({exc})") from exc
    if done.returncode != 0:
        raise OfflineStoreError(f"dbt could not {action}: {_dbt_error(done.stdout + done.stderr)}")
    return done
