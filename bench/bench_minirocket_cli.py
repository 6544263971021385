"""MiniRocket as a user waits for it: ``embedforge embed`` of a UCR set against a plain aeon script, whole commands.

The set (default ItalyPowerDemand, 1,096 series, shipped with aeon) is fit on its train split and transformed
whole on both sides; one numba/BLAS/torch thread each; an existing home (the shared Prefect server is up); medians
of --trials, interleaved (issue 20's goal: <= 1.3x wall and CPU). ``--repeat N`` writes N jittered copies of every
series as a UCR .tsv folder (``bench_timeseries.enlarged_dataset``), which both sides read: ACSF1 x8 is the 1,600
series the issue measured:
    .venv/bin/python bench/bench_minirocket_cli.py --trials 3
    .venv/bin/python bench/bench_minirocket_cli.py --trials 3 --dataset ACSF1 --repeat 8
``--fresh`` adds the same command as the first one in a new home (its background server started by it; goal <= 2x).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench_fixed_costs import timed
from bench_timeseries import enlarged_dataset

ROOT = Path(__file__).resolve().parent.parent
PLAIN = """
import sys
import numpy as np
from aeon.datasets import load_classification
from aeon.transformations.collection.convolution_based import MiniRocket
Xtr, _ = load_classification(sys.argv[1], split="train")
Xte, _ = load_classification(sys.argv[1], split="test")
features = MiniRocket(n_kernels=10000, random_state=0).fit(Xtr).transform(np.concatenate([Xtr, Xte]))
print(features.shape)
"""
PLAIN_TSV = """
import sys
import numpy as np
from aeon.transformations.collection.convolution_based import MiniRocket
def read(split):
    with open(f"{sys.argv[1]}_{split}.tsv") as f:
        return np.array([line.split("\\t")[1:] for line in f if line.strip()], dtype=float)[:, None, :]
Xtr, Xte = read("TRAIN"), read("TEST")
features = MiniRocket(n_kernels=10000, random_state=0).fit(Xtr).transform(np.concatenate([Xtr, Xte]))
print(features.shape)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ItalyPowerDemand")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=1, help="jittered copies of every series (a .tsv folder both read)")
    ap.add_argument("--fresh", action="store_true", help="also time embed as the first command of a new home")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-minirocket-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    env.update(EMBEDFORGE_HOME=str(tmp / "home"), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               EMBEDFORGE_TORCH_THREADS="1", PYTHONPATH=str(ROOT))  # fmt: skip
    cli = [sys.executable, "-m", "embedforge.flows.cli"]
    ref = enlarged_dataset(args.dataset, args.repeat, tmp / "data")
    folder = ref.removeprefix("ucr:")
    plain = [sys.executable, "-c", PLAIN_TSV, f"{folder}/{args.dataset}"] if args.repeat > 1 else [
        sys.executable, "-c", PLAIN, args.dataset]  # fmt: skip

    def embed(n: int) -> list[str]:  # a fresh store each time: every series is new work
        return [*cli, "embed", "--dataset", ref, "--encoder", "timeseries/minirocket", "--weights", ref,
                "--db", str(tmp / f"db{n}")]  # fmt: skip

    timed(embed(-1), env)  # the home, its server and numba's caches are not what is compared
    timed(plain, env)
    runs: dict[str, list[tuple[float, float]]] = {"plain aeon script": [], "embedforge embed": []}
    for n in range(args.trials):
        runs["plain aeon script"].append(timed(plain, env)[:2])
        runs["embedforge embed"].append(timed(embed(n), env)[:2])
        if args.fresh:  # CPU: the command's own (its server runs detached, as for a user)
            fresh = {**env, "EMBEDFORGE_HOME": str(tmp / f"fresh{n}")}
            runs.setdefault("embed, fresh home", []).append(timed(embed(1000 + n), fresh)[:2])
            timed([*cli, "server", "stop"], fresh)
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in runs.items()}
    base_wall, base_cpu = med["plain aeon script"]
    print(f"MiniRocket on {args.dataset} x{args.repeat}, one thread, medians of {args.trials}")
    print(f"{'':>20} {'wall s':>7} {'cpu s':>7} {'wall / plain':>13} {'cpu / plain':>12}")
    for name, (wall, cpu) in med.items():
        print(f"{name:>20} {wall:>7.2f} {cpu:>7.2f} {wall / base_wall:>13.2f} {cpu / base_cpu:>12.2f}")
    timed([*cli, "server", "stop"], env)


if __name__ == "__main__":
    main()
