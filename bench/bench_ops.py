"""Orchestration cost on the local stack: ms per shard task, and the Dask runner's throughput over threads.

Starts its own stack (Prefect server, worker, MLflow) in a temporary home on free ports, points the
embed flow at it, and prints what it measured:
    .venv/bin/python bench/bench_ops.py --items 48 --busy-items 32 --busy-ms 250
Encoders here are synthetic on purpose: ``bench/null`` costs nothing (orchestration alone shows), and
``bench/busy`` holds the GIL for --busy-ms per item (threads cannot overlap it; processes can).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def register() -> None:
    """Two synthetic encoders over the ``arrays`` adapter of tests/fakes.py (idempotent: Dask workers import this)."""
    from embedforge.modalities.base import Encoder, EncoderSpec
    from embedforge.registry.encoders import ENCODERS, register_encoder

    class Synthetic(Encoder):
        def __init__(self, spec: EncoderSpec, iters: int) -> None:
            self.spec, self.iters, self.weights_source = spec, iters, "none"

        def preprocess(self, sample, item_id):
            return np.asarray(sample.values, dtype=np.float32).reshape(-1)

        def encode(self, inputs):
            for _ in inputs:  # a fixed amount of pure-Python work: holds the GIL, like Python preprocessing
                spin(self.iters)
            return np.stack([[x.mean(), x.std()] for x in inputs]).astype(np.float32)

    iters = int(os.environ.get("BENCH_BUSY_ITERS", "0"))
    for name, cost in (("bench/null", 0), ("bench/busy", iters)):
        if name not in ENCODERS:
            spec = EncoderSpec(name=name, dim=2, input={"iters": cost}, weights="none", description="benchmark only")
            register_encoder(spec, probe=lambda: None)(
                lambda weights=None, device="cpu", s=spec, c=cost: Synthetic(s, c)
            )


def spin(iters: int) -> int:
    total = 0
    for i in range(iters):
        total += i * i
    return total


def iters_per_ms() -> float:
    """Calibrate the spin on one core (best of a few, so other load on the machine counts less)."""
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        spin(200_000)
        times.append(time.perf_counter() - t0)
    return 200_000 / (min(times) * 1000)


if __name__ != "__main__":
    register()  # imported through EMBEDFORGE_PLUGINS by flow runs and Dask workers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_items(root: Path, n: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        np.save(root / f"x{i:04d}.npy", rng.standard_normal(64).astype(np.float32))
    return root


def plain(data: Path, encoder: str, db: str, work: str, shard_size: int) -> float:
    """The same plan and shard functions called directly: no Prefect at all."""
    from embedforge.tasks.embed import embed_shard, plan_embedding

    t0 = time.perf_counter()
    plan = plan_embedding(
        dataset=f"arrays:{data}", encoder=encoder, db_uri=db, work_dir=work, shard_size=shard_size, dataset_name="b"
    )
    for path in plan.shards:
        embed_shard(shard_path=path, encoder=encoder, db_uri=db, batch_size=16)
    return time.perf_counter() - t0


def flow(data: Path, encoder: str, db: str, shard_size: int, runner: dict) -> float:
    from embedforge.flows.embed import run_embed
    from embedforge.flows.params import EmbedParams

    params = EmbedParams(
        dataset=f"arrays:{data}",
        encoder=encoder,
        db=db,
        shard_size=shard_size,
        batch_size=16,
        dataset_name="b",
        runner=runner,
    )
    t0 = time.perf_counter()
    summary = run_embed(params)
    elapsed = time.perf_counter() - t0
    assert summary["embedded"] == len(list(data.glob("*.npy"))), summary
    return elapsed


def best(fn, repeats: int, tmp: Path, label: str) -> float:
    """Fastest of ``repeats`` runs, each into a fresh store (the embed flow skips what is stored)."""
    times = []
    for i in range(repeats):
        times.append(fn(str(tmp / f"db-{label}-{i}"), str(tmp / f"work-{label}-{i}")))
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=48, help="items; also the shard-task count at shard size 1")
    parser.add_argument("--busy-items", type=int, default=32, help="items for the runner comparison")
    parser.add_argument("--busy-ms", type=float, default=250.0, help="GIL-holding cost per item of bench/busy")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ["BENCH_BUSY_ITERS"] = str(int(args.busy_ms * iters_per_ms()))
    os.environ["EMBEDFORGE_PLUGINS"] = "tests.fakes,bench.bench_ops"

    from embedforge.infra.stack import prefect_api_url, stack_down, stack_up
    from embedforge.registry.settings import Settings, apply_quiet_env

    apply_quiet_env()
    with tempfile.TemporaryDirectory(prefix="bench-ops-") as tmp_name:
        tmp = Path(tmp_name)
        settings = Settings(
            home=tmp / "home",
            prefect_port=free_port(),
            mlflow_port=free_port(),
            plugins=os.environ["EMBEDFORGE_PLUGINS"],
        )
        t0 = time.perf_counter()
        entries = stack_up(settings)
        print(
            f"stack up: {time.perf_counter() - t0:.1f} s "
            f"(prefect {entries['prefect-server']['ready_s']} s, mlflow {entries['mlflow']['ready_s']} s, "
            f"worker {entries['prefect-worker']['ready_s']} s after the server)"
        )
        os.environ.update({"PREFECT_API_URL": prefect_api_url(settings), "EMBEDFORGE_HOME": str(settings.home)})
        try:
            measure(args, tmp)
        finally:
            stack_down(settings)


def measure(args, tmp: Path) -> None:
    register()
    data = make_items(tmp / "items", args.items)
    n, r = args.items, args.repeats
    thread1 = {"kind": "thread", "workers": 1}
    flow(data, "bench/null", str(tmp / "warm"), n, thread1)  # client, imports, first API calls
    one_plain = best(lambda db, w: plain(data, "bench/null", db, w, n), r, tmp, "p1")
    many_plain = best(lambda db, w: plain(data, "bench/null", db, w, 1), r, tmp, "pn")
    one_flow = best(lambda db, w: flow(data, "bench/null", db, n, thread1), r, tmp, "f1")
    many_flow = best(lambda db, w: flow(data, "bench/null", db, 1, thread1), r, tmp, "fn")
    fixed = one_flow - one_plain
    per_task = ((many_flow - many_plain) - fixed) / (n - 1)
    print(
        f"null encoder, {n} items: plain 1 shard {one_plain:.2f} s, {n} shards {many_plain:.2f} s; "
        f"flow 1 shard {one_flow:.2f} s, {n} shards {many_flow:.2f} s"
    )
    print(
        f"flow fixed cost {fixed * 1000:.0f} ms; per shard task {per_task * 1000:.1f} ms "
        f"(store work per shard without Prefect {(many_plain - one_plain) / (n - 1) * 1000:.1f} ms)"
    )

    n = args.busy_items
    data = make_items(tmp / "busy-items", n)
    shard = max(1, n // 8)
    busy = {}
    for label, runner in (
        ("thread x1", thread1),
        ("thread x2", {"kind": "thread", "workers": 2}),
        ("dask x2 (new cluster per run)", {"kind": "dask", "workers": 2}),
    ):
        busy[label] = best(lambda db, w, rn=runner: flow(data, "bench/busy", db, shard, rn), r, tmp, label)
    busy["dask x2 (warm cluster)"] = warm_dask(data, shard, r, tmp)
    ideal = n * args.busy_ms / 1000
    print(
        f"busy encoder ({args.busy_ms:.0f} ms/item GIL-bound, {n} items in shards of {shard}; serial compute "
        f"{ideal:.2f} s): " + ", ".join(f"{k} {v:.2f} s ({n / v:.1f} items/s)" for k, v in busy.items())
    )
    print(
        "throughput ratios over thread x1 (the default runner): "
        + ", ".join(f"{k} {busy['thread x1'] / v:.2f}" for k, v in busy.items() if k != "thread x1")
    )


def warm_dask(data: Path, shard: int, repeats: int, tmp: Path) -> float:
    """Steady state: a long-lived 2-process cluster (``runner.dask_address``), warmed by one untimed run."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        runner = {"kind": "dask", "dask_address": cluster.scheduler_address}
        flow(data, "bench/busy", str(tmp / "db-dask-warmup"), shard, runner)
        return best(lambda db, w: flow(data, "bench/busy", db, shard, runner), repeats, tmp, "dask-warm")


if __name__ == "__main__":
    main()
