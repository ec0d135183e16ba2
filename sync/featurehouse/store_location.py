"""Which online store a command uses: the Redis URL configured (flag, environment, dbt var),
else the project's embedded store (started on first use), and a line saying which it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from featurehouse.errors import redact
from featurehouse.online import embedded
from featurehouse.settings import Project

URL_ENV, URL_VAR = "FEATUREHOUSE_REDIS_URL", "featurehouse_redis_url"
DIR_ENV, DIR_VAR = "FEATUREHOUSE_ONLINE_DIR", "featurehouse_online_dir"


@dataclass(frozen=True)
class StoreLocation:
    """The online store in use: its URL and where that choice came from."""

    url: str
    source: str  # "--redis-url", "FEATUREHOUSE_REDIS_URL", "dbt var ...", or "embedded"
    data_dir: Path | None = None  # the embedded store's folder
    pid: int | None = None
    started: bool = False  # this command started the embedded server

    @property
    def embedded(self) -> bool:
        return self.data_dir is not None

    def describe(self) -> str:
        """One line for people: `online store: ...`."""
        if self.data_dir is None:
            return f"online store: {redact(self.url)} (from {self.source})"
        state = "started now" if self.started else f"running, pid {self.pid}"
        return (
            f"online store: embedded valkey-server at {self.url} ({state}; data in "
            f"{_short(self.data_dir)}; `featurehouse online status`)"
        )


def configured_url(
    flag: str | None, project: Project | None, env: Mapping[str, str]
) -> tuple[str, str] | None:
    """(URL, where it was set) from the flag, the environment or the dbt var; None if unset."""
    if flag:  # click fills the flag from the environment too: name the variable then
        return flag, URL_ENV if env.get(URL_ENV) == flag else "--redis-url"
    if env.get(URL_ENV):
        return env[URL_ENV], URL_ENV
    if project is not None and project.vars.get(URL_VAR) not in (None, ""):
        return str(project.vars[URL_VAR]), f"dbt var {URL_VAR}"
    return None


def embedded_dir(project: Project | None, env: Mapping[str, str]) -> Path:
    """$FEATUREHOUSE_ONLINE_DIR, the dbt var featurehouse_online_dir (relative to the project),
    else <target>/featurehouse/online."""
    base = project.project_dir if project is not None else Path.cwd()
    if env.get(DIR_ENV):
        return (base / env[DIR_ENV]).absolute()
    if project is not None and project.vars.get(DIR_VAR) not in (None, ""):
        return (base / str(project.vars[DIR_VAR])).absolute()
    if project is None:
        raise embedded.EmbeddedStoreError(
            f"no Redis URL is configured and there is no dbt project here to keep an embedded "
            f"online store in: run in the project (or pass --project-dir), set {DIR_ENV} to a "
            f"folder, or set {URL_ENV} to a Redis"
        )
    return project.cache_dir / "online"


def locate(
    flag: str | None, project: Project | None, env: Mapping[str, str], *, start: bool = True
) -> StoreLocation:
    """The configured Redis, else the embedded store (started when `start`)."""
    configured = configured_url(flag, project, env)
    if configured is not None:
        return StoreLocation(url=configured[0], source=configured[1])
    data_dir = embedded_dir(project, env)
    if not start:
        return StoreLocation(embedded.store_files(data_dir).url, "embedded", data_dir)
    running = embedded.ensure_running(data_dir, env)
    return StoreLocation(running.files.url, "embedded", data_dir, running.pid, running.started)


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
