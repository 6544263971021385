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
