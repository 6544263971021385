"""Progress of long phases, reported by plain functions without knowing who draws it.

A function that can run long takes ``progress``: a callable ``(done, total, text)``; the CLI passes one that draws
a bar on a terminal, everything else passes nothing. Work that runs inside a flow (benchmark cells, possibly on
other workers) cannot call back into the CLI: it appends one JSON line per finished step to a progress file, which
the CLI reads (appends of one short line are atomic, so concurrent tasks never interleave a line).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

Tick = Callable[[int, "int | None", str], None]
"""``(done, total or None when unknown, what is being done)``."""


def silent(done: int, total: int | None, text: str) -> None:
    """The default reporter: nothing shown (tests, deployments, a pipe)."""


def append_event(path: str | None, **event: Any) -> None:
    """One JSON line appended to the progress file ``path`` (nothing when no file was asked for)."""
    if not path:
        return
    line = (json.dumps(event, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """The events written so far; a line being written (no newline yet) is left for the next read."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n") and line.strip()]
