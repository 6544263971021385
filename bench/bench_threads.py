"""Torch threads per shard: the derived default against one thread and against every core, whole commands.

The default gives each of the shards a process runs at once (``--workers``) its share of the cores; "all cores"
is torch's own default (every shard takes every core: oversubscribed as soon as two run). Each row embeds fresh
GE2E utterances in an existing home (the shared Prefect server is up), median of --trials, interleaved:
    .venv/bin/python bench/bench_threads.py --files 120 --trials 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_fixed_costs import timed

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=120)
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    from embedforge.modalities.speech.synth import make_voxceleb_dataset

    cores = len(os.sched_getaffinity(0))
    tmp = Path(tempfile.mkdtemp(prefix="bench-threads-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_", "EMBEDFORGE_TORCH", "OMP_"))}
    env.update(EMBEDFORGE_HOME=str(tmp / "home"), HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    cli = [sys.executable, "-m", "embedforge.flows.cli"]
    seq = iter(range(10**6))

    def embed(workers: int, threads: str | None) -> tuple[float, float]:
        n = next(seq)
        table = make_voxceleb_dataset(tmp / f"v{n}", args.files // 4, 4, seed=n, seconds=1.0)
        run_env = dict(env, **({"EMBEDFORGE_TORCH_THREADS": threads} if threads else {}))
        shard = str(max(1, args.files // 4))  # four shards: two workers have work at once
        cmd = [*cli, "embed", "--encoder", "speech/ge2e", "--dataset", f"voxceleb:{tmp / f'v{n}'}",
               "-o", f"heightceleb={table}", "--workers", str(workers), "--shard-size", shard]  # fmt: skip
        return timed(cmd, run_env)[:2]

    embed(1, None)  # the home, its server and the model's first load are not what is compared
    rows = {
        "1 worker, default threads": (1, None),
        "1 worker, 1 thread": (1, "1"),
        f"2 workers, default ({max(1, cores // 2)} each)": (2, None),
        f"2 workers, all cores ({cores} each)": (2, str(cores)),
    }
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in rows}
    for _ in range(args.trials):
        for name, (workers, threads) in rows.items():
            runs[name].append(embed(workers, threads))
    print(f"{args.files} new 1 s utterances, GE2E, {cores} cores; medians of {args.trials}")
    base = statistics.median(r[0] for r in runs["1 worker, default threads"])
    print(f"{'':>32} {'wall s':>7} {'cpu s':>7} {'wall / default':>15}")
    for name, r in runs.items():
        wall, cpu = statistics.median(x[0] for x in r), statistics.median(x[1] for x in r)
        print(f"{name:>32} {wall:>7.2f} {cpu:>7.2f} {wall / base:>15.2f}")
    timed([*cli, "server", "stop"], env)


if __name__ == "__main__":
    main()
