"""Bounded read-ahead: prepare items in a background thread while the caller encodes earlier ones."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_DONE = object()


def prepared(items: Iterable[Any], prepare: Callable[[Any], Any], depth: int = 0) -> Iterator[tuple[Any, Any, Any]]:
    """Yield (item, prepared, error) in order; with ``depth`` > 0 at most that many wait, prepared in a thread."""
    if depth <= 0:
        for it in items:
            yield _attempt(it, prepare)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for it in items:
                if stop.is_set():
                    return
                q.put(_attempt(it, prepare))
        finally:
            q.put(_DONE)

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while (got := q.get()) is not _DONE:
            yield got
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue, then let it finish
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)


def _attempt(item: Any, prepare: Callable[[Any], Any]) -> tuple[Any, Any, Any]:
    try:
        return item, prepare(item), None
    except Exception as exc:  # one bad item must not stop the others
        return item, None, exc
