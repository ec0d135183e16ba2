"""Which online store a command uses: the Redis URL configured (flag, environment, dbt var),
else the project's embedded store (started on first use), and a line saying which it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from featurehouse.errors import shown_url
from featurehouse.online.redis import embedded
from featurehouse.project.settings import ONLINE_DIR_ENV, URL_ENV, OnlineSettings


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
            return f"online store: {shown_url(self.url)} (from {self.source})"
        state = "started now" if self.started else f"running, pid {self.pid}"
        return (
            f"online store: embedded valkey-server at {self.url} ({state}; data in "
            f"{_short(self.data_dir)}; `featurehouse online status`)"
        )


def locate(
    settings: OnlineSettings, env: Mapping[str, str], *, start: bool = True
) -> StoreLocation:
    """The configured Redis, else the embedded store (started when `start`)."""
    if settings.url is not None:
        return StoreLocation(url=settings.url, source=settings.source)
    data_dir = settings.embedded_dir
    if data_dir is None:
        raise embedded.EmbeddedStoreError(
            f"no Redis URL is configured and there is no dbt project here to keep an embedded "
            f"online store in: run in the project (or pass --project-dir), set {ONLINE_DIR_ENV} "
            f"to a folder, or set {URL_ENV} to a Redis"
        )
    if not start:
        return StoreLocation(embedded.store_files(data_dir).url, "embedded", data_dir)
    running = embedded.ensure_running(data_dir, env)
    return StoreLocation(running.files.url, "embedded", data_dir, running.pid, running.started)


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
