"""The HTTP feature server: a Starlette app on uvicorn (uvloop, httptools), answers in orjson.

Endpoints: POST /get-online-features and /push (Feast's shapes), POST /v1/features (row-oriented),
GET /v1/views, POST /v1/noop (latency baseline), GET /health, GET /metrics, GET /openapi.json.
The view catalog comes from Redis metadata, so no dbt project is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from featurehouse.errors import OnlineStoreError
from featurehouse.online import OnlineStore
from featurehouse.server.catalog import Catalog, RequestError, bad_request
from featurehouse.server.metrics import CONTENT_TYPE
from featurehouse.server.openapi import Example, openapi_document
from featurehouse.server.payloads import json_body, parse_feast, parse_native
from featurehouse.server.state import ServerConfig, Service

log = logging.getLogger(__name__)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json_body(body), status, headers, "application/json")


def error_response(exc: RequestError) -> Response:
    body: dict[str, Any] = {"error": exc.code, "detail": exc.message}
    headers = None
    if exc.limit is not None:
        body["limit"] = exc.limit
    if exc.status == 401:
        headers = {"www-authenticate": 'Bearer realm="featurehouse"'}
    elif exc.status == 503:
        headers = {"retry-after": "1"}
    return json_response(body, exc.status, headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused beyond `limit` bytes (413) whatever the Content-Length says."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise bad_request("bad_body", "Content-Length is not a number")
        if int(length) > limit:
            raise _too_big(limit)
    chunks, size, receive = [], 0, request.receive
    while True:  # Request.stream's loop, without its async generator
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_big(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_big(limit: int) -> RequestError:
    return RequestError(
        413,
        "body_too_large",
        f"the request body is larger than the limit of {limit} bytes (--max-body-bytes)",
        limit,
    )


def parse_json(body: bytes) -> Any:
    if not body:
        raise bad_request("bad_json", "the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request("bad_json", f"the request body is not valid JSON: {exc}") from None


Handler = Callable[[Request, Any], Awaitable[Response]]


def endpoint(
    service: Service, name: str, handler: Handler, *, auth: bool, body: str | None
) -> _Endpoint:
    """Wrap a handler: API key, body limits, errors as JSON (never a 500 with a trace), metrics."""

    async def run(request: Request) -> Response:
        started = time.perf_counter()
        try:
            if auth and not service.authorized(request.headers):
                raise RequestError(
                    401,
                    "unauthorized",
                    "missing or invalid API key; send `Authorization: Bearer <key>` "
                    "or `X-API-Key: <key>`",
                )
            payload = None
            if body is not None:
                payload = await read_body(request, service.config.max_body_bytes)
                if body == "json":
                    payload = parse_json(payload)
            response = await handler(request, payload)
        except RequestError as exc:
            response = error_response(exc)
        except Exception:
            log.exception("internal error answering %s %s", request.method, request.url.path)
            response = json_response(
                {"error": "internal", "detail": "internal server error (logged)"}, 500
            )
        service.metrics.observe(name, response.status_code, time.perf_counter() - started)
        return response

    return _Endpoint(run)


class _Endpoint:
    """An endpoint as a plain ASGI app: Starlette's `request_response` wrapper and its
    exception layer add nothing to `endpoint`'s, which answers every error itself."""

    __slots__ = ("run",)

    def __init__(self, run: Callable[[Request], Awaitable[Response]]) -> None:
        self.run = run

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        response = await self.run(Request(scope, receive, send))
        await response(scope, receive, send)


def create_app(config: ServerConfig, store: OnlineStore | None = None) -> Starlette:
    service = Service(config, store)
    documents: dict[int, bytes] = {}

    async def openapi(_: Request, __: Any) -> Response:
        catalog = service.catalog
        key = id(catalog)
        if key not in documents:
            documents.clear()
            doc = openapi_document(bool(config.api_keys), _example(catalog))
            documents[key] = json_body(doc)
        return Response(documents[key], 200, media_type="application/json")

    async def feast(_: Request, body: Any) -> Response:
        asked = parse_feast(body, service.limits)
        service.metrics.asked("get-online-features", len(asked.rows))
        return _answer(*await service.answer_with_warnings(asked, feast=True))

    async def native(_: Request, body: Any) -> Response:
        asked = parse_native(body, service.limits)
        service.metrics.asked("features", len(asked.rows))
        return _answer(*await service.answer_with_warnings(asked, feast=False))

    async def health(_: Request, __: Any) -> Response:
        status, body = await service.health()
        return json_response(body, status)

    async def noop(_: Request, __: Any) -> Response:
        return json_response({})

    def routes() -> list[Route]:
        async def views(_: Request, __: Any) -> Response:
            return json_response(await service.views())

        table: list[tuple[str, str, str, Handler, bool, str | None]] = [
            ("/get-online-features", "POST", "get-online-features", feast, True, "json"),
            ("/push", "POST", "push", _push(service), True, "json"),
            ("/v1/features", "POST", "features", native, True, "json"),
            ("/v1/views", "GET", "views", views, True, None),
            ("/v1/noop", "POST", "noop", noop, True, "raw"),
            ("/health", "GET", "health", health, False, None),
            ("/metrics", "GET", "metrics", _metrics(service), True, None),
            ("/openapi.json", "GET", "openapi", openapi, False, None),
        ]
        return [
            Route(path, endpoint(service, name, h, auth=a, body=b), methods=[method])
            for path, method, name, h, a, b in table
        ]

    app = Starlette(
        routes=routes(),
        lifespan=_lifespan(service),
        exception_handlers={HTTPException: _http_error},
    )
    app.state.service = service
    return app


def _answer(body: bytes, deprecated: tuple[str, ...]) -> Response:
    """The answer (JSON); reads of deprecated view versions carry a `Warning` header (RFC
    9111's 299, "miscellaneous persistent warning") naming them."""
    if not deprecated:
        return Response(body, 200, None, "application/json")
    text = "; ".join(deprecated).replace('"', "'")
    return Response(body, 200, {"warning": f'299 featurehouse "{text}"'}, "application/json")


def _lifespan(service: Service) -> Callable[[Starlette], Any]:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        with contextlib.suppress(RequestError):
            await asyncio.to_thread(service.refresh)
        tasks = [asyncio.create_task(_refresh_forever(service))]
        if service.config.usage:
            tasks.append(asyncio.create_task(_flush_forever(service)))
        gc.collect()
        gc.freeze()  # the startup heap (imports, pyarrow) is never scanned again: no long pauses
        yield
        service.reads.close()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(service.flush_usage)  # what was counted since the last flush

    return lifespan


async def _flush_forever(service: Service) -> None:
    """Usage counters to Redis every --usage-flush-seconds (a few commands, in a thread)."""
    while True:
        await asyncio.sleep(service.config.usage_flush_seconds)
        try:
            await asyncio.to_thread(service.flush_usage)
        except Exception:
            log.exception("writing usage counters failed; trying again later")


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    response = error_response(RequestError(exc.status_code, code, str(exc.detail)))
    response.headers.update(exc.headers or {})
    return response


def _metrics(service: Service) -> Handler:
    async def render(_: Request, __: Any) -> Response:
        return Response(service.metrics.render(), 200, media_type=CONTENT_TYPE)

    return render


def _push(service: Service) -> Handler:
    """POST /push (server_push.py): Feast's push of precomputed values."""
    from featurehouse.server.push import handle_push

    async def push(_: Request, body: Any) -> Response:
        catalog = await service.current()
        push_dir = Path(service.config.push_dir) if service.config.push_dir else None
        try:
            answer = await handle_push(
                service.store, catalog, body, push_dir, service.config.max_entities
            )
        except OnlineStoreError as exc:
            raise service.failed(exc) from None
        return json_response(answer)

    return push


def _example(catalog: Catalog | None) -> Example | None:
    """A request that works on this catalog: the first view's first features."""
    if catalog is None or not catalog.latest:
        return None
    state = catalog.latest[min(catalog.latest)]
    schema = state.schema
    features = tuple(f"{schema.view}:{name}" for name in schema.feature_names[:2])
    values = {"int64": 1, "string": "1"}
    return Example(
        features, tuple((k, values[t]) for k, t in zip(schema.keys, schema.key_types, strict=True))
    )


async def _refresh_forever(service: Service) -> None:
    while True:
        await asyncio.sleep(service.config.refresh_seconds)
        try:
            await asyncio.to_thread(service.refresh)
        except RequestError:
            pass  # Redis is down: counted and logged; the next round tries again
        except Exception:
            log.exception("refreshing the view catalog failed; trying again later")


def app_from_env() -> Starlette:
    """The uvicorn factory of worker processes (`--workers N`)."""
    return create_app(ServerConfig.from_env())


@dataclass(frozen=True)
class Https:
    """The server's own TLS (uvicorn's): a certificate chain and its private key, PEM files."""

    certfile: str
    keyfile: str


def run(
    config: ServerConfig, host: str, port: int, workers: int = 1, https: Https | None = None
) -> None:
    """Serve until interrupted: one process, or `workers` processes sharing the port; HTTPS
    with `https`."""
    import uvicorn

    from featurehouse.server.transport import CoalescingHttpTools

    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": CoalescingHttpTools,  # httptools, one socket write per response
        "lifespan": "on",
        "access_log": False,
        "log_level": "warning",
        "server_header": False,
    }
    if https is not None:
        options |= {"ssl_certfile": https.certfile, "ssl_keyfile": https.keyfile}
    if workers <= 1:
        uvicorn.run(create_app(config), **options)
        return
    os.environ.update(config.to_env())
    with contextlib.ExitStack() as stack:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="featurehouse-metrics-"))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tmp
        uvicorn.run(
            "featurehouse.server.app:app_from_env", factory=True, workers=workers, **options
        )
