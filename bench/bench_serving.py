"""MLflow REST latency of a served speech head against MLflow serving a plain sklearn model of the same size.

    .venv/bin/python bench/bench_serving.py --requests 300
One request at a time from one client over a kept-alive connection; requests to the servers interleave in
rounds so load from other jobs hits them alike. Prints p50/p99 per server, CPU seconds per request of each
server process, and (goals) head-only p50 <= 10 ms and head-only p50 within 1.1x of the plain sklearn
model served by ``mlflow models serve --env-manager local`` (same vector dim, same tracking store). The head
is asked twice: with the ``dataframe_records`` body existing clients send, and (its own server) with the
``inputs`` body the plain model gets, which its tensor signature also takes.
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


def register_plain_sklearn(tracking: str, name: str, estimator=None) -> None:
    """A plain sklearn estimator on DIM-d vectors (default: a LogisticRegression), mlflow.sklearn, alias champion."""
    import mlflow
    from mlflow import MlflowClient
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(64, DIM)).astype(np.float32)
    model = estimator if estimator is not None else LogisticRegression(max_iter=200).fit(X, (X[:, 0] > 0).astype(int))
    mlflow.set_tracking_uri(tracking)
    mlflow.set_experiment("bench-plain")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2], registered_model_name=name)
    MlflowClient(tracking).set_registered_model_alias(name, "champion", info.registered_model_version)


def head_sex_pipeline(tracking: str, name: str):
    """The registered head's own sex classifier (StandardScaler + LogisticRegression): a plain sklearn twin."""
    import mlflow

    mlflow.set_tracking_uri(tracking)
    served = mlflow.pyfunc.load_model(f"models:/{name}@champion").unwrap_python_model()
    return served.head.head.sex_model_


def in_process_ms(tracking: str, model: str, body: dict, n: int) -> tuple[float, float]:
    """Median ms of MLflow's scoring function (parse, schema, predict, JSON) and of the bare predict, no HTTP."""
    import json

    import mlflow
    from mlflow.pyfunc import scoring_server

    mlflow.set_tracking_uri(tracking)
    loaded = mlflow.pyfunc.load_model(f"models:/{model}")
    schema, data = loaded.metadata.get_input_schema(), json.dumps(body)
    frame = scoring_server.infer_and_parse_data(json.loads(data), schema)
    out = []
    for call in (
        lambda: scoring_server.invocations(data, "application/json", loaded, schema),
        lambda: loaded.predict(frame),
    ):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            call()
            times.append((time.perf_counter() - t0) * 1000)
        out.append(float(np.median(times[n // 10 :])))
    return out[0], out[1]


def mlflow_server(model: str, tracking: str, log: Path):
    """``mlflow models serve --env-manager local`` (no embedforge wrapper), with the helpers' client methods."""
    from tests.serving_helpers import Server, free_port

    class MlflowServer(Server):
        def __init__(self) -> None:
            self.port, self.log_path, self.log = free_port(), log, open(log, "wb")  # noqa: SIM115
            venv = Path(sys.executable).parent
            cmd = [str(venv / "mlflow"), "models", "serve", "-m", model, "--env-manager", "local"]
            self.proc = subprocess.Popen(
                [*cmd, "--port", str(self.port), "--host", "127.0.0.1"],
                env={**os.environ, "MLFLOW_TRACKING_URI": tracking, "PATH": f"{venv}:{os.environ['PATH']}"},
                stdout=self.log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    return MlflowServer()


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
    bodies: dict[str, dict] = {
        "head": {"dataframe_records": [{"vector": vec}]},
        "head-inputs": {"inputs": [vec]},
        "twin-mlflow": {"inputs": [vec]},
        "plain-wrapped": {"inputs": [vec]},
        "plain-mlflow": {"inputs": [vec]},
    }
    models = {
        "head": "bench-hc-head@champion",
        "head-inputs": "bench-hc-head@champion",
        "twin-mlflow": "bench-twin@champion",
        "plain-wrapped": "bench-plain@champion",
        "plain-mlflow": "bench-plain@champion",
    }
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EMBEDFORGE_HOME"] = tmp
        tracking, wav = register_speech_head(Path(tmp), "bench-hc")
        register_plain_sklearn(tracking, "bench-plain")
        register_plain_sklearn(tracking, "bench-twin", head_sex_pipeline(tracking, "bench-hc-head"))
        inproc = {
            k: in_process_ms(tracking, models[k], bodies[k], 500)
            for k in ("head", "head-inputs", "twin-mlflow", "plain-mlflow")
        }
        servers = {
            k: mlflow_server(f"models:/{models[k]}", tracking, Path(tmp) / f"{k}.log")
            if k.endswith("-mlflow")
            else Server(models[k], tracking, Path(tmp) / f"{k}.log")
            for k in bodies
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
        "head-inputs": "head-only, same body as plain ('inputs')",
        "twin-mlflow": "head's sex Pipeline, mlflow models serve",
        "plain-wrapped": "plain sklearn LogReg, embedforge serve",
        "plain-mlflow": "plain sklearn LogReg, mlflow models serve",
        "audio": f"end-to-end ({kb} kB WAV, GE2E)",
    }
    print(f"\nload average {os.getloadavg()[0]:.2f} (1 min); requests interleaved across the vector servers")
    for key, (ms, cpu) in rows.items():
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        print(
            f"{labels[key]:44s} n={len(ms):4d} p50 {p50:6.2f} ms  p99 {p99:7.2f} ms  server cpu {cpu * 1e3:5.2f} ms/req"
        )
    for key, (score, predict) in inproc.items():
        print(f"in process, no HTTP: {labels[key]:44s} scoring {score:5.2f} ms  of which predict {predict:5.2f} ms")
    p50 = {k: float(np.percentile(v[0], 50)) for k, v in rows.items()}
    cpu_req = {k: v[1] for k, v in rows.items()}
    over = {k: p50[k] - inproc[k][1] for k in inproc}  # server, HTTP and parsing: all but the model's predict
    print(f"RATIO head-only p50 / 10 ms goal                  = {p50['head'] / 10:.2f}  (goal <= 1)")
    print(f"RATIO head-only / plain LogReg mlflow serve p50   = {p50['head'] / p50['plain-mlflow']:.3f}  (goal <= 1.1)")
    print(f"RATIO head-only, inputs / plain LogReg p50        = {p50['head-inputs'] / p50['plain-mlflow']:.3f}  (idem)")
    print(f"RATIO head-only / head's sex Pipeline p50         = {p50['head'] / p50['twin-mlflow']:.3f}")
    print(f"RATIO head-only / plain LogReg server cpu per req = {cpu_req['head'] / cpu_req['plain-mlflow']:.3f}")
    print(
        f"RATIO head-only, inputs / plain LogReg cpu per req = {cpu_req['head-inputs'] / cpu_req['plain-mlflow']:.3f}"
    )
    print(f"RATIO serving overhead (p50 - predict), head/plain = {over['head'] / over['plain-mlflow']:.3f}")
    print(f"RATIO plain LogReg, embedforge serve / mlflow     = {p50['plain-wrapped'] / p50['plain-mlflow']:.3f}")


if __name__ == "__main__":
    main()
