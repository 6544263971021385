"""What the CLI prints to a pipe can be copied: long paths and commands stay on one line."""

from __future__ import annotations

import io
import subprocess
import sys

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
