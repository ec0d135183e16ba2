"""References people write and the column names they become: one grammar for both.

A view is `name` (its latest version) or `name.vN` (pinned; Feast's spelling `name@vN` is read
too, and `name@latest` is `name`); a feature is `<view>:<feature>`.
A feature's qualified column name, wherever one is needed (training sets, the Python API, the
feature server's full feature names), is the reference with `.` and `:` written `__`:
`<view>__<feature>`, or `<view>__vN__<feature>` when the reference pins a version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from featurehouse.errors import RegistryError

SEPARATOR = "__"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VIEW = rf"(?P<name>{_NAME})(?:(?P<spelling>\.v|@v)(?P<version>[0-9]{{1,9}})|@latest)?"
_VIEW_REF = re.compile(rf"^{_VIEW}$")
_FEATURE_REF = re.compile(rf"^{_VIEW}:(?P<feature>[^:\s]+)$")


class BadReference(RegistryError):
    """Text that is not a view or feature reference."""


@dataclass(frozen=True)
class ViewRef:
    """`name` or `name.vN`: a view version as a person refers to it."""

    name: str
    version: int | None = None  # None: the latest version (or the unversioned view)

    def __str__(self) -> str:
        return format_view(self.name, self.version)

    @property
    def prefix(self) -> str:
        """Its qualified column names' prefix: `<name>__` or `<name>__vN__`."""
        return qualified(self.name, self.version, "")

    def column(self, name: str) -> str:
        """The qualified column name of one of its columns."""
        return self.prefix + name


@dataclass(frozen=True)
class FeatureRef:
    """`<view>:<feature>`; the feature `*` stands for every feature where a caller allows it."""

    view: ViewRef
    feature: str
    feast: bool = field(default=False, compare=False)  # written `view@vN:feature` (Feast's)

    def __str__(self) -> str:
        return f"{self.view}:{self.feature}"

    @property
    def column(self) -> str:
        """The qualified column name: `<view>__[vN__]<feature>`."""
        return self.view.column(self.feature)

    @property
    def feast_column(self) -> str:
        """Feast's full feature name: `<view>@vN__<feature>` for a ref written with `@vN`,
        else the qualified column name."""
        if self.feast and self.view.version is not None:
            return f"{self.view.name}@v{self.view.version}{SEPARATOR}{self.feature}"
        return self.column


def format_view(name: str, version: int | None) -> str:
    """`name` or `name.vN`."""
    return name if version is None else f"{name}.v{version}"


def qualified(name: str, version: int | None, column: str) -> str:
    """`<name>__<column>`, or `<name>__vN__<column>` for a pinned version."""
    version_part = "" if version is None else f"v{version}{SEPARATOR}"
    return f"{name}{SEPARATOR}{version_part}{column}"


def parse_view(text: str) -> ViewRef:
    """`name` or `name.vN` -> ViewRef (raises BadReference naming the text and the forms)."""
    match = _VIEW_REF.match(text)
    if match is None:
        raise BadReference(f"{text!r} is not a view reference; use `name` or `name.vN`")
    return ViewRef(match["name"], _version(match["version"]))


def parse_feature(text: str) -> FeatureRef:
    """`name[.vN]:feature` -> FeatureRef (raises BadReference naming the text and the form)."""
    match = _FEATURE_REF.match(text)
    if match is None:
        raise BadReference(
            f"{text!r} is not a feature reference; use `view:feature` or `view.vN:feature`"
        )
    view = ViewRef(match["name"], _version(match["version"]))
    return FeatureRef(view, match["feature"], feast=match["spelling"] == "@v")


def parse_ref(text: str) -> tuple[ViewRef, str | None]:
    """`view[.vN]` or `view[.vN]:feature` -> the view and the feature (None: the whole view)."""
    if ":" in text:
        ref = parse_feature(text)
        return ref.view, ref.feature
    return parse_view(text), None


def is_view_ref(text: str) -> bool:
    return _VIEW_REF.match(text) is not None


def _version(text: str | None) -> int | None:
    return None if text is None else int(text)


@dataclass(frozen=True)
class ServiceRefs:
    """A feature service as a reader needs it: its name and its features' references in order
    (`view:feature`, or `view.vN:feature` where it pins the version; `*` already expanded)."""

    name: str
    features: tuple[FeatureRef, ...]

    def columns(self, full: bool = False) -> list[str]:
        """Its feature columns, in order, named alike in the training set and the online read:
        the feature name; the qualified name when `full` or two of its features share it."""
        names = [f.feature for f in self.features]
        return [
            f.column if full or names.count(f.feature) > 1 else f.feature for f in self.features
        ]

    @property
    def refs(self) -> list[str]:
        return [str(f) for f in self.features]
