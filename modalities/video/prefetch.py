"""A bounded prefetch: one thread prepares the next items while the caller works on the current one."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_END = object()


def prefetched(items: Iterable[Any], fn: Callable[[Any], Any], depth: int = 2) -> Iterator[tuple[Any, Any]]:
    """Yield ``(item, fn(item) or the exception it raised)`` in order; at most ``depth`` results wait in memory.

    ``depth=0`` runs ``fn`` inline (no thread), the baseline the prefetch is measured against.
    """
    if depth <= 0:
        for item in items:
            yield item, _call(fn, item)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    worker = threading.Thread(target=_produce, args=(items, fn, q, stop), daemon=True, name="video-prefetch")
    worker.start()
    try:
        while (got := q.get()) is not _END:
            yield got
    finally:
        stop.set()  # the consumer left early: let the producer finish its put and exit
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)
        worker.join()


def _produce(items, fn, q: queue.Queue, stop: threading.Event) -> None:
    for item in items:
        if stop.is_set():
            break
        q.put((item, _call(fn, item)))
    q.put(_END)


def _call(fn, item):
    try:
        return fn(item)
    except Exception as exc:  # handed to the consumer, which names the item
        return exc
