"""Iterators produced in a thread of their own, a few items ahead of their consumer (the sync's
warehouse read, the publish's record encoding), so that producing and consuming share the
cores."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_POLL_SECONDS = 0.1


def read_ahead(batches: Iterator[T], depth: int, name: str = "featurehouse-read") -> Iterator[T]:
    """`batches`, produced in a thread up to `depth` ahead; its errors are raised here, and
    closing this iterator stops the thread (and closes `batches` there) before returning."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                handoff.put(item, timeout=_POLL_SECONDS)
                return True
        return False

    def run() -> None:
        with contextlib.closing(batches):
            try:
                for batch in batches:
                    if not put(("batch", batch)):
                        return
                put(("end", None))
            except BaseException as exc:  # handed to the reader
                put(("error", exc))

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "batch":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        thread.join()
