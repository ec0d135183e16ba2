"""Settings resolved once per command or FeatureStore: project, target, artifacts, Redis.

Everything is loaded lazily, so commands that only read Redis work without a dbt project.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from featurehouse import lineage as lineage_lib
from featurehouse.api.describe import describe_dict
from featurehouse.api.location import StoreLocation, locate
from featurehouse.errors import ConfigError, FeaturehouseError, OnlineStoreError, shown_url
from featurehouse.online import OnlineStore, ServiceRecord, ViewState, open_store
from featurehouse.project.manifest import Artifacts, load_artifacts
from featurehouse.project.package import check_package_version
from featurehouse.project.registry import FeatureView, Registry, build_registry
from featurehouse.project.services import load_services
from featurehouse.project.settings import (
    OnlineSettings,
    Project,
    Target,
    load_project,
    load_target,
    online_settings,
    parse_timestamp,
)
from featurehouse.refs import format_view, parse_view
from featurehouse.sync.services import service_record


@dataclass(frozen=True)
class Context:
    """Flags as given; everything else derived on first use."""

    project_dir: Path | None = None
    target_name: str | None = None
    redis_url_flag: str | None = None
    prefix_flag: str | None = None
    env: Mapping[str, str] | None = None  # None: os.environ

    @cached_property
    def environment(self) -> Mapping[str, str]:
        return dict(os.environ) if self.env is None else self.env

    @cached_property
    def project(self) -> Project:
        return load_project(self.project_dir, self.environment)

    @cached_property
    def maybe_project(self) -> Project | None:
        """The project, or None when there is none here and none was named."""
        try:
            return self.project
        except ConfigError:
            if self.project_dir is not None:
                raise
            return None

    @cached_property
    def target(self) -> Target:
        target = load_target(self.project, self.target_name, self.environment)
        built_for = self.artifacts.manifest.adapter_type
        if built_for and built_for != target.type:
            raise ConfigError(
                f"{self.artifacts.manifest.path} was built for {built_for}, but target "
                f"{target.name!r} is {target.type}: run `dbt build --target {target.name}`"
            )
        return target

    @cached_property
    def artifacts(self) -> Artifacts:
        artifacts = load_artifacts(self.project.target_dir)
        check_package_version(self.project, artifacts.manifest)
        return artifacts

    @cached_property
    def registry(self) -> Registry:
        return build_registry(self.artifacts.manifest)

    @cached_property
    def lineage(self) -> lineage_lib.ProjectLineage:
        """Column lineage of the whole project (cached per build under the target dir)."""
        return lineage_lib.build_lineage(self.artifacts, lineage_lib.cache_dir(self.artifacts))

    def view_lineage(self, ref: str) -> lineage_lib.ViewLineage:
        """A view version's lineage: from the dbt project when at hand, else from Redis."""
        registry = self.maybe_registry()
        if registry is not None:
            return lineage_lib.view_lineage(self.lineage, registry.resolve(ref))
        state = self.online_view(ref)
        return lineage_lib.stored_lineage(state.schema.ref, state.schema.extra)

    def maybe_registry(self) -> Registry | None:
        """The registry when a dbt project with a manifest is at hand."""
        if self.maybe_project is None:
            return None
        try:
            return self.registry
        except FeaturehouseError:
            if self.project_dir is not None:
                raise
            return None

    @cached_property
    def online_config(self) -> OnlineSettings:
        """The online store's configured URL (or none: embedded) and prefix."""
        return online_settings(
            self.redis_url_flag, self.prefix_flag, self.maybe_project, self.environment
        )

    @cached_property
    def online(self) -> StoreLocation:
        """The configured Redis URL, else the project's embedded store (started if need be)."""
        return locate(self.online_config, self.environment)

    def used_online(self) -> StoreLocation | None:
        """The online store this context has used, if any (for the line saying which)."""
        return self.__dict__.get("online")

    @property
    def redis_url(self) -> str:
        return self.online.url

    @property
    def prefix(self) -> str:
        return self.online_config.prefix

    def default_as_of(self) -> tuple[datetime, str]:
        """The as-of of a sync without --as-of: the dbt var `as_of` (the build's "now") if the
        project sets it, else the wall clock; and which clock that is ("as_of" or "wall")."""
        project = self.maybe_project
        if project is not None and project.vars.get("as_of") not in (None, ""):
            return parse_timestamp(project.vars["as_of"], "dbt_project.yml var as_of"), "as_of"
        return datetime.now(UTC).replace(tzinfo=None), "wall"

    @property
    def redis_shown(self) -> str:
        """The store's URL for people: no password, no TLS parameters."""
        return shown_url(self.redis_url)

    @cached_property
    def store(self) -> OnlineStore:
        return open_store(self.redis_url, self.prefix)

    @property
    def opened_store(self) -> OnlineStore | None:
        """The store, if this context opened it already (None: it never needed it)."""
        return self.__dict__.get("store")

    def services(self) -> list[ServiceRecord]:
        """The project's feature services, as a sync stores them."""
        registry = self.registry
        return [service_record(s) for s in load_services(self.artifacts.manifest, registry)]

    def online_view(self, ref: str) -> ViewState:
        """The published state of `name` (the latest version) or `name.vN`."""
        wanted = parse_view(ref.strip())
        name, version = wanted.name, wanted.version
        states = [s for s in self.store.views() if s.schema.view == name]
        if version is None:
            registry = self.maybe_registry()
            if registry is not None and name in registry.names():
                version = registry.resolve(name).version
            else:
                latest = [s for s in states if s.is_latest]
                version = latest[0].schema.version if latest else None
        for state in states:
            if state.schema.version == version:
                return state
        shown = format_view(name, version)
        published = ", ".join(s.schema.ref for s in states) or "none"
        raise OnlineStoreError(
            f"{shown} is not published in {self.redis_shown} (prefix {self.prefix!r}; "
            f"published versions: {published}): run `featurehouse sync --select {shown}`"
        )

    def describe(self, ref: str) -> dict[str, Any]:
        """What the registry and Redis know about one view version."""
        registry = self.maybe_registry()
        view: FeatureView | None = None
        if registry is not None:
            view = registry.resolve(ref)
            ref = view.ref
        state = next(
            (
                s
                for s in self.store.views()
                if view is not None
                and (s.schema.view, s.schema.version) == (view.name, view.version)
            ),
            None,
        )
        if view is None:
            state = self.online_view(ref)
        return describe_dict(view, state, self._describe_lineage(view, state))

    def _describe_lineage(
        self, view: FeatureView | None, state: ViewState | None
    ) -> tuple[str, lineage_lib.ViewLineage | str]:
        """(where from, lineage or why there is none): Redis's copy first, it is what serves."""
        try:
            if state is not None and state.schema.extra.get("lineage"):
                return "redis", lineage_lib.stored_lineage(state.schema.ref, state.schema.extra)
            if view is not None:
                return "manifest", lineage_lib.view_lineage(self.lineage, view)
            return "redis", lineage_lib.stored_lineage(state.schema.ref, state.schema.extra)
        except FeaturehouseError as exc:
            return "none", str(exc)
