"""The CLI's one console: what it prints can be copied, so nothing wraps mid-path when stdout is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from rich.console import Console

from embedforge.tasks.progress import Tick

PIPE_WIDTH = 10_000  # tables keep their natural width; nothing is folded for a pipe or a log file


def make_console(file: IO[str] | None = None) -> Console:
    """A terminal gets rich's usual layout; a pipe or file gets long lines left whole."""
    stream = file or sys.stdout
    if stream.isatty():
        return Console(file=file)
    return Console(file=file, soft_wrap=True, width=PIPE_WIDTH)


console = make_console()


def print_copyable(line: str, **options: Any) -> None:
    """A command, path or URI on a terminal: the terminal folds it, so a copy of it stays one line (rich would break
    it with newlines at the terminal's width)."""
    console.print(line, soft_wrap=True, **options)


@contextmanager
def terminal_bar(label: str) -> Iterator[Tick]:
    """A progress reporter for a long phase run in this process: a bar on a terminal, nothing on a pipe or log
    (where a redrawn line is noise). Cleared when the phase ends; what it did is printed by the command."""
    from embedforge.tasks.progress import silent

    if not console.is_terminal:
        yield silent
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from embedforge.flows.progress import BAR_WIDTH, phase_column

    columns = (
        TextColumn("{task.description}", table_column=phase_column(console.width)),  # long phases cut, not the bar
        BarColumn(bar_width=BAR_WIDTH),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int | None, text: str) -> None:
            bar.update(task, completed=done, total=total, description=text or label)

        yield tick
