"""A CLI run killed with SIGKILL leaves no temporary Prefect server behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from embedforge.infra.ephemeral import tied_command

ROOT = Path(__file__).resolve().parents[2]
SLOW_PLUGIN = """
import time
import numpy as np
from embedforge.modalities.base import Encoder, EncoderSpec
from embedforge.registry.encoders import ENCODERS, register_encoder

SPEC = EncoderSpec(name="test/slow", dim=4, input={"slow": True}, weights="none")


class Slow(Encoder):
    spec = SPEC
    weights_source = "none"

    def preprocess(self, sample, item_id):
        return np.zeros(4, np.float32)

    def encode(self, inputs):
        time.sleep(120)  # the run is killed long before this returns
        return np.ones((len(inputs), 4), np.float32)


if "test/slow" not in ENCODERS:
    register_encoder(SPEC, probe=lambda: None)(lambda weights=None, device="cpu": Slow())
"""


def test_only_the_uvicorn_command_is_wrapped():
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "app:create", "--port", "8123"]
    assert tied_command(cmd, parent=42) == [sys.executable, "-m", "embedforge.infra.ephemeral", "42", *cmd[3:]]
    assert tied_command([sys.executable, "-m", "other"], parent=42) == [sys.executable, "-m", "other"]


def _server_of(cli: psutil.Process) -> psutil.Process | None:
    for child in cli.children(recursive=True):
        try:
            if {"uvicorn", "embedforge.infra.ephemeral"} & set(child.cmdline()):  # Prefect's, tied or not
                return child
        except psutil.NoSuchProcess:
            continue
    return None


@pytest.mark.slow
def test_sigkilled_cli_embed_leaves_no_temporary_server(tmp_path, arrays_dir):
    (tmp_path / "slowplug.py").write_text(SLOW_PLUGIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}  # no API: the temporary server
    env.update(
        EMBEDFORGE_HOME=str(tmp_path / "home"),
        EMBEDFORGE_PLUGINS="tests.fakes,slowplug",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        EMBEDFORGE_PREFECT_SERVER="temporary",
    )
    args = ["embed", "--dataset", f"arrays:{arrays_dir}", "--encoder", "test/slow", "--device", "cpu"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "embedforge.flows.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    cli, server = psutil.Process(proc.pid), None
    try:
        deadline = time.monotonic() + 240
        while server is None and time.monotonic() < deadline and proc.poll() is None:
            server = _server_of(cli)
            time.sleep(0.2)
        assert server is not None, "the CLI never started a temporary Prefect server"
        time.sleep(3)  # mid-run: the server is up and the flow is encoding
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        _, alive = psutil.wait_procs([server], timeout=15)
        assert not alive, f"temporary server {server.pid} outlived the killed CLI: {server.cmdline()}"
    finally:
        for p in [cli, *_children(cli), *([server] if server else [])]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
