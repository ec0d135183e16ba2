"""The smallest ASGI app: the machine's own latency floor for `bench_server`'s soak, served by
the same uvicorn, uvloop and httptools as the feature server, with nothing of ours on the path.

    python -m uvicorn benchmarks.raw_asgi:app --loop uvloop --http httptools --lifespan off
"""

from collections.abc import Awaitable, Callable
from typing import Any

HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"2")]


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"{}"})
