"""Where things are: the dbt project, its target directory, its profile, and settings.

Settings resolve flag, then environment, then `dbt_project.yml` vars, then defaults.
profiles.yml is rendered with a small Jinja environment that knows `env_var` like dbt does.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from featurehouse.errors import ConfigError, redact

if TYPE_CHECKING:
    import jinja2

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_REDIS_PREFIX = "fh"
_SECRET_KEYS = ("password", "pass", "token", "secret")


@dataclass(frozen=True)
class Project:
    """A dbt project on disk and where its artifacts and profile live."""

    project_dir: Path
    name: str
    profile_name: str
    target_dir: Path
    profiles_dir: Path
    vars: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # resolved with; dbt gets it

    @property
    def cache_dir(self) -> Path:
        """Featurehouse's own files (rendered SQL, its dbt target) under the target dir."""
        return self.target_dir / "featurehouse"


@dataclass(frozen=True)
class Target:
    """One rendered output of the project's profile (`dev`, `pg`, ...)."""

    name: str
    type: str
    settings: Mapping[str, Any]

    def describe(self) -> str:
        """The target for people: secrets never appear."""
        shown = {k: ("***" if k in _SECRET_KEYS else v) for k, v in self.settings.items()}
        return f"{self.name} ({self.type}): " + ", ".join(f"{k}={v}" for k, v in shown.items())


def find_project_dir(start: Path | None, env: Mapping[str, str]) -> Path:
    """`start`, else $DBT_PROJECT_DIR, else the first of cwd and its parents with a project."""
    if start is not None:
        if not (start / "dbt_project.yml").exists():
            raise ConfigError(f"{start}: no dbt_project.yml there; pass --project-dir")
        return start.resolve()
    if env.get("DBT_PROJECT_DIR"):
        return find_project_dir(Path(env["DBT_PROJECT_DIR"]), {})
    cwd = Path.cwd()
    for candidate in (cwd, *cwd.parents):
        if (candidate / "dbt_project.yml").exists():
            return candidate
    raise ConfigError(f"no dbt_project.yml in {cwd} or its parents; pass --project-dir")


def load_project(project_dir: Path | None, env: Mapping[str, str] | None = None) -> Project:
    """Read dbt_project.yml and resolve the target and profiles directories like dbt does."""
    env = os.environ if env is None else env
    root = find_project_dir(project_dir, env)
    doc = _read_yaml(root / "dbt_project.yml")
    target_path = Path(env.get("DBT_TARGET_PATH") or doc.get("target-path") or "target")
    if env.get("DBT_PROFILES_DIR"):
        profiles_dir = Path(env["DBT_PROFILES_DIR"])
    elif (root / "profiles.yml").exists():
        profiles_dir = root
    else:
        profiles_dir = Path.home() / ".dbt"
    raw_vars = doc.get("vars") or {}
    return Project(
        project_dir=root,
        name=str(doc.get("name", "")),
        profile_name=str(doc.get("profile", doc.get("name", ""))),
        target_dir=target_path if target_path.is_absolute() else root / target_path,
        profiles_dir=profiles_dir if profiles_dir.is_absolute() else root / profiles_dir,
        vars=_render(raw_vars, env, root / "dbt_project.yml"),
        env=dict(env),
    )


def load_target(project: Project, name: str | None, env: Mapping[str, str] | None = None) -> Target:
    """Render the profile's output `name` (default: $DBT_TARGET, else the profile's target)."""
    env = os.environ if env is None else env
    path = project.profiles_dir / "profiles.yml"
    profiles = _read_yaml(path)
    profile = profiles.get(project.profile_name)
    if not isinstance(profile, Mapping):
        raise ConfigError(f"{path}: no profile named {project.profile_name!r}")
    rendered = _render(profile, env, path)
    chosen = name or env.get("DBT_TARGET") or rendered.get("target")
    outputs = rendered.get("outputs") or {}
    if chosen not in outputs:
        known = ", ".join(sorted(outputs)) or "none"
        raise ConfigError(
            f"{path}: profile {project.profile_name!r} has no target {chosen!r} (known: {known})"
        )
    settings = dict(outputs[chosen])
    return Target(name=str(chosen), type=str(settings.pop("type", "")), settings=settings)


def resolve(
    flag: Any,
    env_name: str | None,
    var_name: str | None,
    default: Any,
    *,
    project: Project | None,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Flag, then environment, then dbt_project.yml vars, then the default."""
    env = os.environ if env is None else env
    if flag not in (None, ""):
        return flag
    if env_name and env.get(env_name):
        return env[env_name]
    if var_name and project is not None and project.vars.get(var_name) not in (None, ""):
        return project.vars[var_name]
    return default


URL_ENV, URL_VAR = "FEATUREHOUSE_REDIS_URL", "featurehouse_redis_url"
ONLINE_DIR_ENV, ONLINE_DIR_VAR = "FEATUREHOUSE_ONLINE_DIR", "featurehouse_online_dir"


@dataclass(frozen=True)
class OnlineSettings:
    """Where the online store is: a configured Redis URL (and where it was set), or none, which
    means the project's embedded store in `embedded_dir`; and the key prefix."""

    url: str | None
    source: str  # "--redis-url", "FEATUREHOUSE_REDIS_URL", "dbt var ...", or "embedded"
    prefix: str
    embedded_dir: Path | None = None


def online_settings(
    url: str | None,
    prefix: str | None,
    project: Project | None,
    env: Mapping[str, str] | None = None,
) -> OnlineSettings:
    """The online store: the flag, then FEATUREHOUSE_REDIS_URL, then the dbt_project.yml var
    featurehouse_redis_url; with none of them, the embedded store (`embedded_dir`). The prefix:
    flag, FEATUREHOUSE_REDIS_PREFIX, var featurehouse_redis_prefix, DEFAULT_REDIS_PREFIX."""
    env = os.environ if env is None else env
    found_prefix = resolve(
        prefix, "FEATUREHOUSE_REDIS_PREFIX", "featurehouse_redis_prefix", DEFAULT_REDIS_PREFIX,
        project=project, env=env,
    )  # fmt: skip
    if url:  # click fills the flag from the environment too: name the variable then
        source = URL_ENV if env.get(URL_ENV) == url else "--redis-url"
        return OnlineSettings(url, source, str(found_prefix))
    if env.get(URL_ENV):
        return OnlineSettings(env[URL_ENV], URL_ENV, str(found_prefix))
    if project is not None and project.vars.get(URL_VAR) not in (None, ""):
        return OnlineSettings(str(project.vars[URL_VAR]), f"dbt var {URL_VAR}", str(found_prefix))
    return OnlineSettings(None, "embedded", str(found_prefix), embedded_dir(project, env))


def embedded_dir(project: Project | None, env: Mapping[str, str]) -> Path | None:
    """The embedded store's folder: $FEATUREHOUSE_ONLINE_DIR, the dbt var
    featurehouse_online_dir (relative to the project), else <target>/featurehouse/online;
    None without a project and without the variable."""
    base = project.project_dir if project is not None else Path.cwd()
    if env.get(ONLINE_DIR_ENV):
        return (base / env[ONLINE_DIR_ENV]).absolute()
    if project is not None and project.vars.get(ONLINE_DIR_VAR) not in (None, ""):
        return (base / str(project.vars[ONLINE_DIR_VAR])).absolute()
    return None if project is None else project.cache_dir / "online"


def show_url(url: str) -> str:
    """A URL for printing: any password is redacted."""
    return redact(url)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top")
    return doc


def _render(value: Any, env: Mapping[str, str], path: Path) -> Any:
    """Render every string of `value` as Jinja with dbt's `env_var` and `as_*` filters (the
    environment, and jinja2 itself, made at the first string with a `{`: importing jinja2 is
    ~14 ms of every command otherwise)."""
    return _render_value(value, functools.cache(lambda: _jinja(env, path)), path)


def _render_value(value: Any, jinja: Callable[[], jinja2.Environment], path: Path) -> Any:
    if isinstance(value, Mapping):
        return {k: _render_value(v, jinja, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(v, jinja, path) for v in value]
    if not isinstance(value, str) or "{" not in value:
        return value
    import jinja2

    try:
        return jinja().from_string(value).render()
    except jinja2.TemplateError as exc:
        raise ConfigError(f"{path}: cannot render {value!r} ({exc})") from exc


def _jinja(env: Mapping[str, str], path: Path) -> jinja2.Environment:
    def env_var(name: str, default: str | None = None) -> str:
        if name in env:
            return env[name]
        if default is None:
            raise ConfigError(f"{path}: env var {name} is not set and has no default")
        return default

    import jinja2

    jinja = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    jinja.globals["env_var"] = env_var
    for name in ("as_number", "as_bool", "as_native", "as_text"):
        jinja.filters[name] = lambda value: value
    return jinja


def parse_timestamp(value: Any, what: str) -> datetime:
    """An ISO date or timestamp (`2026-05-01`, `2026-05-01T06:00:00Z`) as naive UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace(" ", "T", 1))
        except ValueError as exc:
            raise ConfigError(
                f"{what}: {value!r} is not an ISO date or timestamp "
                "(e.g. 2026-05-01 or 2026-05-01T06:00:00Z)"
            ) from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def parse_vars(text: str | None, what: str = "--vars") -> dict[str, Any]:
    """dbt's `--vars` text (a YAML or JSON mapping) as a dict; empty for none."""
    if not text:
        return {}
    try:
        found = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {text!r}: not YAML ({exc}); e.g. '{{my_var: 1}}'") from exc
    if not isinstance(found, dict):
        raise ConfigError(f"{what} {text!r}: write a mapping, e.g. '{{my_var: 1}}'")
    return found


def as_int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: {value!r} is not a number") from exc
