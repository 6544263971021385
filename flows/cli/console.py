"""The CLI's one console: what it prints can be copied, so nothing wraps mid-path when stdout is not a terminal."""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console

PIPE_WIDTH = 10_000  # tables keep their natural width; nothing is folded for a pipe or a log file


def make_console(file: IO[str] | None = None) -> Console:
    """A terminal gets rich's usual layout; a pipe or file gets long lines left whole."""
    stream = file or sys.stdout
    if stream.isatty():
        return Console(file=file)
    return Console(file=file, soft_wrap=True, width=PIPE_WIDTH)


console = make_console()
