"""What the CLI prints to a pipe can be copied: long paths and commands stay on one line."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest
from rich.table import Table

from embedforge.flows.cli.console import make_console

LONG = "/data/" + "/".join(f"folder-{i:02d}" for i in range(30)) + "/clip.wav"


def test_a_pipe_gets_long_lines_whole():
    out = io.StringIO()
    console = make_console(out)
    console.print(f"search         : embedforge search --encoder speech/ge2e --query {LONG} -k 5")
    table = Table("id", "uri")
    table.add_row("a", LONG)
    console.print(table)
    lines = out.getvalue().splitlines()
    assert any(line.endswith(f"{LONG} -k 5") for line in lines)
    assert any(LONG in line for line in lines[1:])  # the table cell is not folded either
    assert max(len(line) for line in lines) < 400  # tables keep their natural width


def test_the_cli_prints_whole_paths_to_a_pipe(tmp_path):
    home = tmp_path / ("h" * 120)
    done = subprocess.run(
        [sys.executable, "-m", "embedforge.flows.cli", "--home", str(home), "stack", "status"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"embedforge stack ({home})" in done.stdout, done.stdout + done.stderr  # a table title, once folded at 80


def test_a_long_phase_draws_a_bar_on_a_terminal_and_nothing_on_a_pipe(monkeypatch):
    from rich.console import Console

    from embedforge.flows.cli import console as cli_console
    from embedforge.tasks.progress import silent

    pipe = io.StringIO()
    monkeypatch.setattr(cli_console, "console", make_console(pipe))
    with cli_console.terminal_bar("indexing") as tick:
        assert tick is silent
    assert pipe.getvalue() == ""
    tty = io.StringIO()
    monkeypatch.setattr(cli_console, "console", Console(file=tty, force_terminal=True, width=100))
    with cli_console.terminal_bar("indexing") as tick:
        tick(3, 10, "tuning search: nprobes=2")
    assert "tuning search: nprobes=2" in tty.getvalue() and "3/10" in tty.getvalue()
    narrow = io.StringIO()
    monkeypatch.setattr(cli_console, "console", Console(file=narrow, force_terminal=True, width=70))
    with cli_console.terminal_bar("embedding") as tick:
        tick(4, 9, "embedding ucr-ItalyPowerDemand with timeseries/minirocket (1096 items)")
    last = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", narrow.getvalue()).split("\r")[-2].strip()
    assert last.startswith("embedding ucr") and "…" in last and "4/9" in last and len(last) <= 70  # cut, not the bar


def test_a_flow_bar_is_quiet_on_a_pipe(capsys):
    from embedforge.flows.progress import run_polling

    assert run_polling(lambda: 42, lambda since: (3, 3, "scoring"), "benchmark toy") == 42
    assert capsys.readouterr().out == ""  # pytest's capture is not a terminal: no bar, no final line
    with pytest.raises(ValueError, match="bad cell"):
        run_polling(lambda: (_ for _ in ()).throw(ValueError("bad cell")), lambda since: (1, 0, None), "x")


def test_a_plan_made_before_the_run_is_read_for_the_bar(tmp_path):
    """The CLI plans first: its plan file is older than the flow's start and is still this run's."""
    import json
    import os
    import time

    from embedforge.flows.progress import _progress_of

    shard = tmp_path / "shard-0000.jsonl"
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"pending": 10, "shards": [str(shard)]}))
    shard.with_name(shard.name + ".result").write_text(json.dumps(dict(embedded=3, reused=1, skipped=0, failed=1)))
    os.utime(plan, (time.time() - 60, time.time() - 60))
    assert _progress_of(plan, time.time()) == (None, 0)  # an earlier run's plan at the same path
    assert _progress_of(plan, None) == (10, 5)


def test_prefect_log_lines_go_above_a_live_bar_and_back_after(monkeypatch):
    """On a terminal, Prefect's console handler prints through the bar's console while the bar is up (Rich then
    draws the line above the bar instead of after its text), and through its own console after."""
    import logging
    import sys

    from prefect.logging.handlers import PrefectConsoleHandler
    from rich.console import Console
    from rich.progress import Progress

    from embedforge.flows.progress import logs_above

    own, tty = io.StringIO(), io.StringIO()
    handler = PrefectConsoleHandler(stream=own)
    log = logging.getLogger("embedforge.tests.bar")
    task_log = logging.getLogger("prefect.task_runs")
    level = task_log.level
    task_log.setLevel(logging.INFO)  # as Prefect configures it
    monkeypatch.setattr(task_log, "propagate", False)
    log.addHandler(handler)
    task_log.addHandler(handler)  # one handler on several loggers, as Prefect's logging config has it
    monkeypatch.setattr(log, "propagate", False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    try:
        with Progress(console=Console(file=tty, force_terminal=True, width=100)) as bar, logs_above(bar):
            bar.add_task("embedding", total=4)
            log.warning("shard 1 finished")
            task_log.info("Task run 'embed-shard-1' - Finished in state Completed()")
            task_log.warning("Task run 'embed-shard-2' - retrying")
        log.warning("after the bar")
    finally:
        log.removeHandler(handler)
        task_log.removeHandler(handler)
        task_log.setLevel(level)
    shown, kept = (re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", f.getvalue()) for f in (tty, own))
    assert "shard 1 finished\n" in shown and "shard 1 finished" not in kept
    assert "after the bar" in kept and "after the bar" not in shown
    assert "retrying" in shown and "Completed()" not in shown + kept  # the bar counts routine task lines
    assert not handler.filters


def test_a_command_printed_on_a_narrow_terminal_copies_as_one_line(monkeypatch):
    from rich.console import Console

    from embedforge.flows.cli import console as cli_console

    tty = io.StringIO()
    monkeypatch.setattr(cli_console, "console", Console(file=tty, force_terminal=True, width=60))
    command = f"search         : embedforge search --encoder speech/ge2e --query {LONG} -k 5"
    cli_console.print_copyable(command)
    assert re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", tty.getvalue()) == command + "\n"  # the terminal folds it, not rich
