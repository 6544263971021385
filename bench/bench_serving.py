"""MLflow REST latency of a served speech head against MLflow serving a plain sklearn model of the same size.

    .venv/bin/python bench/bench_serving.py --requests 300
One request at a time from one client over a kept-alive connection; requests to the servers interleave in
rounds so load from other jobs hits them alike. Prints p50/p99 per server, CPU seconds per request of each
server process, and (goals) head-only p50 <= 10 ms and head-only p50 within 1.1x of the plain sklearn
model served by ``mlflow models serve --env-manager local`` (same vector dim, same tracking store).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
DIM = 256


def timed(server, body: dict) -> float:
    t0 = time.perf_counter()
    status, answer = server.post_keepalive(body)
    assert status == 200, answer
    return (time.perf_counter() - t0) * 1000


def server_cpu(server) -> float:
    """CPU seconds of a server's process tree (uvicorn and its children)."""
    import psutil

    proc = psutil.Process(server.proc.pid)
    return sum(sum(p.cpu_times()[:2]) for p in [proc, *proc.children(recursive=True)])


def register_plain_sklearn(tracking: str, root: Path, name: str) -> None:
    """A LogisticRegression on DIM-d vectors (the head's input size), logged with mlflow.sklearn, alias champion."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, DIM)).astype(np.float32)
    model = LogisticRegression(max_iter=200).fit(X, (X[:, 0] > 0).astype(int))
    mlflow.set_tracking_uri(tracking)
    mlflow.set_experiment("bench-plain")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2], registered_model_name=name)
    MlflowClient(tracking).set_registered_model_alias(name, "champion", info.registered_model_version)


class MlflowServer:
    """``mlflow models serve --env-manager local`` (no embedforge wrapper), with the helpers' client methods."""

    def __init__(self, model: str, tracking: str, log: Path) -> None:
        from tests.serving_helpers import Server, free_port

        self.port, self.log_path, self.log = free_port(), log, open(log, "wb")  # noqa: SIM115
        cmd = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", model, "--env-manager", "local"]
        self.proc = subprocess.Popen(
            [*cmd, "--port", str(self.port), "--host", "127.0.0.1"],
            env={
                **os.environ,
                "MLFLOW_TRACKING_URI": tracking,
                "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for fn in ("wait_ready", "post_keepalive", "stop"):
            setattr(self, fn, getattr(Server, fn).__get__(self))


def measure(servers: dict, bodies: dict, n: int, warm: int = 20) -> dict[str, tuple[np.ndarray, float]]:
    """Interleaved rounds (one request to each server per round); latencies in ms and server CPU s/request."""
    for key, server in servers.items():
        for _ in range(warm):
            timed(server, bodies[key])
    cpu0 = {k: server_cpu(s) for k, s in servers.items()}
    lat: dict[str, list[float]] = {k: [] for k in servers}
    for _ in range(n):
        for key, server in servers.items():
            lat[key].append(timed(server, bodies[key]))
    return {k: (np.array(v), (server_cpu(servers[k]) - cpu0[k]) / n) for k, v in lat.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--audio-requests", type=int, default=50)
    args = parser.parse_args()

    from embedforge.registry.settings import apply_quiet_env

    apply_quiet_env()
    from tests.serving_helpers import Server, register_speech_head

    vec = list(np.full(DIM, 1 / 16.0))
    bodies = {
        "head": {"dataframe_records": [{"vector": vec}]},
        "plain-wrapped": {"inputs": [vec]},
        "plain-mlflow": {"inputs": [vec]},
    }
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EMBEDFORGE_HOME"] = tmp
        tracking, wav = register_speech_head(Path(tmp), "bench-hc")
        register_plain_sklearn(tracking, Path(tmp), "bench-plain")
        servers = {
            "head": Server("bench-hc-head@champion", tracking, Path(tmp) / "head.log"),
            "plain-wrapped": Server("bench-plain@champion", tracking, Path(tmp) / "plain-wrapped.log"),
            "plain-mlflow": MlflowServer("models:/bench-plain@champion", tracking, Path(tmp) / "plain.log"),
        }
        audio = Server("bench-hc@champion", tracking, Path(tmp) / "audio.log")
        try:
            for s in [*servers.values(), audio]:
                s.wait_ready()
            rows = measure(servers, bodies, args.requests)
            clip = {"dataframe_records": [{"audio": base64.b64encode(wav.read_bytes()).decode()}]}
            kb = wav.stat().st_size // 1000
            rows["audio"] = measure({"audio": audio}, {"audio": clip}, args.audio_requests, warm=3)["audio"]
        finally:
            for s in [*servers.values(), audio]:
                with contextlib.suppress(ProcessLookupError):
                    s.stop()
    labels = {
        "head": f"head-only ({DIM}-d vector), embedforge serve",
        "plain-wrapped": "plain sklearn LogReg, embedforge serve",
        "plain-mlflow": "plain sklearn LogReg, mlflow models serve",
        "audio": f"end-to-end ({kb} kB WAV, GE2E)",
    }
    print(f"\nload average {os.getloadavg()[0]:.2f} (1 min); requests interleaved across the three vector servers")
    for key, (ms, cpu) in rows.items():
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        print(
            f"{labels[key]:44s} n={len(ms):4d} p50 {p50:6.2f} ms  p99 {p99:7.2f} ms  server cpu {cpu * 1e3:5.2f} ms/req"
        )
    p50 = {k: float(np.percentile(v[0], 50)) for k, v in rows.items()}
    cpu = {k: v[1] for k, v in rows.items()}
    print(f"RATIO head-only p50 / 10 ms goal               = {p50['head'] / 10:.2f}  (goal <= 1)")
    print(f"RATIO head-only / plain mlflow serve p50       = {p50['head'] / p50['plain-mlflow']:.3f}  (goal <= 1.1)")
    print(f"RATIO head-only / plain mlflow serve cpu/req   = {cpu['head'] / cpu['plain-mlflow']:.3f}")
    print(f"RATIO plain (embedforge serve) / plain mlflow  = {p50['plain-wrapped'] / p50['plain-mlflow']:.3f}")


if __name__ == "__main__":
    main()
