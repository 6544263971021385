"""MLflow REST latency of a served speech head: head-only (vector in) and end-to-end (base64 audio in).

    .venv/bin/python bench/bench_serving.py --requests 200
Prints p50/p99 per model (goal: head-only p50 <= 10 ms), one request at a time from one client.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def latencies(server, body: dict, n: int) -> np.ndarray:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, answer = server.post_keepalive(body)
        out.append(time.perf_counter() - t0)
        assert status == 200, answer
    return np.array(out) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    from embedforge.registry.settings import apply_quiet_env

    apply_quiet_env()
    from tests.serving_helpers import Server, register_speech_head

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EMBEDFORGE_HOME"] = tmp
        tracking, wav = register_speech_head(Path(tmp), "bench-hc")
        head = Server("bench-hc-head@champion", tracking, Path(tmp) / "head.log")
        audio = Server("bench-hc@champion", tracking, Path(tmp) / "audio.log")
        try:
            head.wait_ready()
            audio.wait_ready()
            vector = {"dataframe_records": [{"vector": list(np.full(256, 1 / 16.0))}]}
            clip = {"dataframe_records": [{"audio": base64.b64encode(wav.read_bytes()).decode()}]}
            latencies(head, vector, 10), latencies(audio, clip, 3)  # warm-up
            rows = [
                ("head-only (256-d vector)", latencies(head, vector, args.requests)),
                (f"end-to-end ({wav.stat().st_size // 1000} kB WAV, GE2E)", latencies(audio, clip, args.requests // 4)),
            ]
        finally:
            head.stop()
            audio.stop()
    for name, ms in rows:
        print(f"{name:34s} n={len(ms):4d}  p50 {np.percentile(ms, 50):7.2f} ms  p99 {np.percentile(ms, 99):7.2f} ms")
    print(f"RATIO head-only p50 / 10 ms goal = {np.percentile(rows[0][1], 50) / 10:.2f}  (goal <= 1)")


if __name__ == "__main__":
    main()
