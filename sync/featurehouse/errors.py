"""The one exception hierarchy: every error the library raises is a FeaturehouseError.

Messages are one line, name the file, model or key at fault and the next step; only the CLI
turns them into exit codes.
"""

from __future__ import annotations

import re


class FeaturehouseError(Exception):
    """Base class of every error Featurehouse raises on purpose."""


class ConfigError(FeaturehouseError):
    """A setting, flag or URL is wrong."""


class ManifestError(FeaturehouseError):
    """dbt artifacts are missing, of an unsupported version, or malformed."""


class RegistryError(FeaturehouseError):
    """A feature view is declared wrongly or a reference does not resolve."""


class OfflineStoreError(FeaturehouseError):
    """The warehouse could not be read."""


class OnlineStoreError(FeaturehouseError):
    """Redis could not be read or written."""


class RedisUnavailable(OnlineStoreError):
    """Redis did not answer (down, restarting, refused the connection or the password)."""


class TrainingSetError(FeaturehouseError):
    """A training-set request is wrong: a feature, the spine, or a view that was never built."""


class ParityError(FeaturehouseError):
    """Redis does not serve what the warehouse says (training-serving skew)."""


class LineageError(FeaturehouseError):
    """Column lineage cannot be computed or a column reference does not resolve."""


class ValidationGateError(FeaturehouseError):
    """dbt tests of a view (or its upstream models) failed or did not run."""


class StreamError(FeaturehouseError):
    """A stream is declared wrongly, or its broker, offline log or recompute failed."""


_PASSWORD_IN_URL = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<pw>[^@/]*)@")
# query parameters that hold a secret (`?password=`, `&ssl_password=`)
_PASSWORD_IN_QUERY = re.compile(r"(?P<name>[?&](?:ssl_)?password=)[^&#\s]*", re.IGNORECASE)


def redact(url: str) -> str:
    """Return `url` (or a text holding URLs) with any password replaced by `***`."""
    url = _PASSWORD_IN_URL.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)
    return _PASSWORD_IN_QUERY.sub(lambda m: f"{m['name']}***", url)


def shown_url(url: str) -> str:
    """A store URL for messages and reports: no password, no query (TLS file paths)."""
    return redact(url.partition("?")[0])
