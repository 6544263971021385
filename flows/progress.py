"""Rich progress for a flow running in a background thread, and what the CLI settles before any flow starts."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Column


def _progress_of(plan_file: Path, since: float | None) -> tuple[int | None, int]:
    """(items to embed, items done) from the plan file and the shards' result files; a plan file older than
    ``since`` is an earlier run's (None: the file is this run's plan, made before it started)."""
    if not plan_file.exists() or (since is not None and plan_file.stat().st_mtime < since - 1):
        return None, 0
    try:
        plan = json.loads(plan_file.read_text())
    except (OSError, ValueError):  # being written
        return None, 0
    done = 0
    for shard in plan["shards"]:
        result = Path(shard + ".result")
        if result.exists():
            r = json.loads(result.read_text())
            done += r["embedded"] + r["reused"] + r["skipped"] + r["failed"]
    return plan["pending"], done


BAR_WIDTH = 24
COUNTS_WIDTH = 36  # "12/345", elapsed and remaining times, and the gaps between columns


def phase_column(width: int) -> Column:
    """The phase text's column, cut with an ellipsis to what the terminal leaves beside a whole bar."""
    return Column(no_wrap=True, overflow="ellipsis", max_width=max(16, width - BAR_WIDTH - COUNTS_WIDTH))


Poll = Callable[[float], tuple["int | None", int, "str | None"]]
"""Given the start time: (steps in all or None, steps done, what is being done or None for the label)."""


def run_with_progress(work: Callable[[], Any], plan_file: Path, label: str, planned: bool = False) -> Any:
    """Run an embed flow in a thread with a bar over its plan's items; re-raise what it raised. ``planned``: the
    plan file was made for this run before it (the CLI plans first), so its age says nothing."""
    return run_polling(work, lambda since: (*_progress_of(plan_file, None if planned else since), None), label)


def run_polling(work: Callable[[], Any], poll: Poll, label: str) -> Any:
    """Run ``work`` in a thread and draw a bar from ``poll`` until it returns; re-raise what it raised."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    start = time.time()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    columns = (
        TextColumn("{task.description}", table_column=phase_column(shutil.get_terminal_size().columns)),
        BarColumn(bar_width=BAR_WIDTH),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False, disable=not sys.stdout.isatty()) as bar, logs_above(bar):
        task = bar.add_task(label, total=None)  # (a pipe or log: no bar)
        while thread.is_alive():
            total, done, text = poll(start)
            bar.update(task, total=total, completed=done, description=text or label)
            thread.join(0.3)
        total, done, _ = poll(start)
        bar.update(task, total=total, completed=total if total is not None else done, description=label)
    if "error" in box:
        raise box["error"]
    return box["result"]


@contextmanager
def logs_above(bar: Progress) -> Iterator[None]:
    """Prefect's log lines printed above a live bar, not over it, when both go to the terminal (a task run's
    routine line left to the bar).

    Prefect's console handlers print through a Rich console of their own, made on the stream they were configured
    with, which Rich's redirect of ``sys.stderr`` under a live display cannot reach: each line landed after the
    bar's text, and the next redraw tore it. While the bar is up they print through its console instead.
    """
    if bar.disable or not sys.stderr.isatty():
        yield
        return
    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    saved: dict[Any, Console] = {}
    handlers: list[Any] = [h for lg in loggers for h in lg.handlers]  # Prefect's: a ``console`` attribute
    for handler in dict.fromkeys(handlers):  # once each: Prefect puts one console handler on several loggers
        if isinstance(getattr(handler, "console", None), Console):
            saved[handler] = handler.console
            handler.console = bar.console
            handler.addFilter(_counted_by_the_bar)
    try:
        yield
    finally:
        for handler, own in saved.items():
            handler.console = own
            handler.removeFilter(_counted_by_the_bar)


def _counted_by_the_bar(record: logging.LogRecord) -> bool:
    """A task run's INFO line ("Finished in state Completed()", one per shard) is what the bar counts: not printed
    beside it. Warnings and errors are, and the Prefect UI keeps every line (its handler is another)."""
    return not (record.name.startswith("prefect.task_runs") and record.levelno <= logging.INFO)


def connect_prefect() -> str | None:
    """Choose the Prefect API a command's flows report to, through the environment Prefect reads at import (a
    command that imported it earlier, during the server's boot, has it read again: ``prefect_sees_api``).

    An API the caller exported wins; then the local stack's server when it is up (runs show in its UI); then
    the home's background server, started on first use and shared by later commands
    (``embedforge.infra.local_server``). None with ``EMBEDFORGE_PREFECT_SERVER=temporary``: Prefect's own
    temporary server for this process, as before.
    """
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from embedforge.infra.stack import prefect_api_url, running
    from embedforge.registry.settings import Settings

    settings = Settings()
    if "prefect-server" in running(settings):
        os.environ["PREFECT_API_URL"] = prefect_api_url(settings)
    elif settings.prefect_server == "background":
        from embedforge.infra.local_server import ensure_server

        os.environ["PREFECT_API_URL"] = ensure_server(settings)
    else:
        return None
    return os.environ["PREFECT_API_URL"]


def connect_beside_plan(params: Any) -> Callable[[], str | None]:
    """``connect_prefect`` begun now in a thread, where it would start the home's background server (~5 s) and the
    command surely has work (its first write to a new local table): the server boots while the dataset is planned.
    Returns the join, which gives the API URL or raises what connecting raised. Anywhere else connecting waits for
    the plan, so a rerun with nothing to do never starts a server."""
    if not (_server_would_start() and _new_local_table(params)):
        return connect_prefect
    return connect_in_background()


def connect_for_work(connected: Callable[[], str | None]) -> Callable[[], str | None]:
    """Once the plan found work: a server that would start (an existing table whose home's server stopped when
    idle) begins booting now, in a thread, so that the encoder is built meanwhile (``build_while_booting``)."""
    if getattr(connected, "booting", False) or not _server_would_start():
        return connected
    return connect_in_background()


def import_prefect_while_booting(join: Callable[[], str | None]) -> None:
    """While the server boots, import Prefect and the embed flow (~1 s) instead of after it. Prefect reads its
    settings, the API URL among them, at import; ``prefect_sees_api`` has it read them again once connected."""
    if getattr(join, "booting", False):
        import embedforge.flows.embed  # noqa: F401


def prefect_sees_api() -> None:
    """After connecting: a Prefect imported before ``PREFECT_API_URL`` was set reads its settings again (Prefect's
    own ``refresh_global_settings_context``, as after its plugins set variables); not imported: nothing to do."""
    if "prefect.context" in sys.modules:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


def connect_in_background() -> Callable[[], str | None]:
    """``connect_prefect`` begun in a thread; the join gives the API URL or raises what connecting raised."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["url"] = connect_prefect()
        except BaseException as exc:  # handed to the joining thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="prefect-server-start", daemon=True)
    thread.start()

    def join() -> str | None:
        thread.join()
        if "error" in box:
            raise box["error"]
        return box.get("url")

    join.booting = True  # type: ignore[attr-defined]
    return join


def build_while_booting(join: Callable[[], str | None], params: Any) -> None:
    """While the background server boots in a thread (a fresh home, ~4 s of a process of its own), build the run's
    encoder in this process, where the flow's first shard finds it (``registry.cache``): its imports and fit
    overlap the boot instead of following it. Only for the default thread runner (a Dask worker builds its own)
    and only then: with a server up, the shard builds it as ever. A build that fails here is left to the shard,
    which builds again and records why."""
    from embedforge.flows.params import RunnerParams

    if not getattr(join, "booting", False) or params.runner != RunnerParams():
        return
    from embedforge.registry.cache import cached_encoder
    from embedforge.registry.runtime import resolve_device

    try:
        cached_encoder(params.encoder, params.weights, device=resolve_device(params.device),
                       options=params.encoder_options)  # fmt: skip
    except Exception:  # not this step's to report: the shard task builds again and records the failure
        return


def _server_would_start() -> bool:
    """No exported API, no stack, background mode, and no live background server: connecting would start one."""
    if os.environ.get("PREFECT_API_URL"):
        return False
    from embedforge.infra.local_server import read_state
    from embedforge.infra.stack import is_alive, running
    from embedforge.registry.settings import Settings

    settings = Settings()
    if settings.prefect_server != "background" or "prefect-server" in running(settings):
        return False
    state = read_state(settings)
    return state is None or not is_alive(state)


def _new_local_table(params: Any) -> bool:
    """The embed run's table does not exist yet in a local store: every item is work (object stores: unknown)."""
    from embedforge.registry.settings import Settings
    from embedforge.tasks.store import table_name

    db = str(params.db or Settings().lancedb_uri)
    if "://" in db and not db.startswith("file://"):
        return False
    table = table_name(params.encoder, params.weights, params.encoder_options or None)
    return not (Path(db.removeprefix("file://")) / f"{table}.lance").exists()


def plan_first(params: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Plan against the store before any Prefect server starts: (the run's summary when there is nothing to do,
    else the plan file, which the flow takes as ``params.plan`` instead of scanning the dataset again)."""
    from embedforge.registry.settings import Settings
    from embedforge.tasks.embed import plan_embedding
    from embedforge.tasks.report import embed_summary

    plan = plan_embedding(
        dataset=params.dataset,
        encoder=params.encoder,
        db_uri=params.db or Settings().lancedb_uri,
        work_dir=str(Settings().home / "shards"),
        weights=params.weights,
        shard_size=params.shard_size,
        dataset_name=params.dataset_name,
        options=params.options,
        encoder_options=params.encoder_options,
    )
    if plan.shards:
        from embedforge.tasks.embed import plan_path

        return None, str(plan_path(Settings().home / "shards", plan.table, plan.dataset))
    return embed_summary(plan, [], params.db or Settings().lancedb_uri), None
