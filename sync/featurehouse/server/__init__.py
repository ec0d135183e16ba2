"""The HTTP feature server: the only package importing starlette, uvicorn and
prometheus_client. It serves from the online store alone (no dbt project).

`app` (routes), `state` (the service without HTTP), `catalog` (published views and read plans),
`payloads` (request and answer bodies), `metrics`, `openapi`.
"""

from featurehouse.server.app import app_from_env, create_app, run
from featurehouse.server.state import ServerConfig, Service, parse_keys

__all__ = ["ServerConfig", "Service", "app_from_env", "create_app", "parse_keys", "run"]
