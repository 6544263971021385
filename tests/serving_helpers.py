"""Train and register a small real speech head, and run `embedforge serve` for it (tests and bench)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def register_speech_head(root: Path, name: str, speakers: int = 16) -> tuple[str, Path]:
    """Synthetic voices -> GE2E vectors -> HeightCeleb head registered as NAME / NAME-head @champion."""
    from embedforge.flows.embed import run_embed
    from embedforge.flows.params import EmbedParams
    from embedforge.modalities.speech.synth import make_voxceleb_dataset
    from embedforge.tasks.train import train_heightceleb

    table = make_voxceleb_dataset(root / "vox", n_speakers=speakers, utts_per_speaker=2, seed=5, seconds=2.0)
    db, tracking = str(root / "db"), f"sqlite:///{root}/mlflow/mlflow.db"
    run_embed(
        EmbedParams(
            dataset=f"voxceleb:{root / 'vox'}",
            encoder="speech/ge2e",
            db=db,
            dataset_name="vox",
            options={"heightceleb": str(table)},
        )
    )
    train_heightceleb(
        db_uri=db, encoder="speech/ge2e", tracking_uri=tracking, dataset="vox", registered_name=name, alias="champion"
    )
    return tracking, next((root / "vox").rglob("*.wav"))


class Server:
    """`embedforge serve MODEL@ALIAS` in its own process group, stopped on exit."""

    def __init__(self, model: str, tracking: str, log: Path, **env: str) -> None:
        self.port = free_port()
        self.log = open(log, "wb")  # noqa: SIM115 - open as long as the server runs; closed in stop()
        full_env = {**os.environ, "EMBEDFORGE_TRACKING_URI": tracking, **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "embedforge.flows.cli", "serve", model, "--port", str(self.port)],
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.log_path = log

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=5).status == 200:
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()[-3000:]}")

    def post_keepalive(self, body: dict) -> tuple[int, dict]:
        """One persistent connection, as a client library's session would use."""
        import http.client

        if getattr(self, "_conn", None) is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self._conn.request("POST", "/invocations", json.dumps(body), {"Content-Type": "application/json"})
        resp = self._conn.getresponse()
        return resp.status, json.loads(resp.read())

    def post(self, body: bytes | dict) -> tuple[int, dict | str]:
        return self.post_raw(body if isinstance(body, bytes) else json.dumps(body).encode(), "application/json")

    def post_raw(self, data: bytes, content_type: str) -> tuple[int, dict | str]:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/invocations",
            data=data,
            method="POST",
            headers={"Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")
            try:
                return err.code, json.loads(text)
            except ValueError:
                return err.code, text

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


def register_raw_model(tracking: str, encoder: str, name: str, **options) -> None:
    """A two-class head on random vectors of ``encoder``'s dimension, registered as NAME@champion with the
    encoder's raw input: what a served model of that modality decodes, without embedding a dataset first."""
    import mlflow
    import numpy as np

    from embedforge.registry.encoders import build_encoder
    from embedforge.registry.heads import build_head
    from embedforge.tasks.tracking import use_tracking
    from embedforge.tasks.train_head import ServedHead, _register

    ident = build_encoder(encoder, **options).identity()
    X = np.random.default_rng(0).normal(size=(40, int(ident["dim"]))).astype(np.float32)
    head = build_head("classify/logreg").fit(X, np.array(["a", "b"] * 20))
    base = {"encoder": ident, "encoder_weights": None, "encoder_options": options, "task": "classification"}
    use_tracking(tracking, "bombs")
    with mlflow.start_run(run_name=name):
        _register(ServedHead(head, "classification"), {**base, "head": "classify/logreg", "label": "y"}, name,
                  "champion", X[:2])  # fmt: skip


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident since start) of a process, in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
