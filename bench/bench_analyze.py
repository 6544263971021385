"""analyze at scale: near-duplicates, outliers and clusters at 100k and 1M rows x 256 dims.

Each size runs in its own process (its peak RSS is the figure). Vectors are clustered like real embeddings
(bench_ann's generator) with 1% planted near-copies. Prints wall seconds per step and in all, peak memory
(goal: 1M in under 10 minutes and 4 GB), and the recall of near-duplicate pairs against an exact search on a
50k sample, with the exact all-pairs time on that sample beside the indexed graph's as the baseline ratio:
    .venv/bin/python bench/bench_analyze.py --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_ann import clustered

THRESHOLD = 0.95
SAMPLE = 50_000


def planted(n: int, dim: int) -> tuple[np.ndarray, int]:
    """n rows: the last 1% near-copies (cosine ~0.9998) of random earlier rows."""
    copies = n // 100
    X = clustered(n, dim, seed=1)
    rng = np.random.default_rng(2)
    src = rng.integers(0, n - copies, copies)
    X[n - copies :] = X[src] + 0.01 * rng.standard_normal((copies, dim)).astype(np.float32)
    return X, copies


def pairs_of(group: np.ndarray, rows: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of sample rows that share a duplicate group."""
    by: dict[int, list[int]] = {}
    for i in rows.tolist():
        if group[i] >= 0:
            by.setdefault(int(group[i]), []).append(i)
    return {(a, b) for m in by.values() for a in m for b in m if a < b}


def one_size(n: int, dim: int) -> dict:
    from embedforge.tasks import analyses
    from embedforge.tasks.neighbours import knn_graph, unit_rows

    X, copies = planted(n, dim)
    timings = {}
    t = time.perf_counter()
    Xn = unit_rows(X)
    del X
    graph = knn_graph(Xn, k=10)
    timings["graph"] = time.perf_counter() - t
    t = time.perf_counter()
    dups = analyses.duplicates(graph, [f"h{i}" for i in range(n)], [None] * n, THRESHOLD)
    timings["duplicates"] = time.perf_counter() - t
    t = time.perf_counter()
    analyses.outliers(graph)
    timings["outliers"] = time.perf_counter() - t
    t = time.perf_counter()
    analyses.clusters(Xn)
    timings["clusters"] = time.perf_counter() - t
    rows = np.r_[np.arange(SAMPLE - copies // 2), np.arange(n - copies // 2, n)][:SAMPLE]
    t = time.perf_counter()
    exact = knn_graph(Xn[rows], k=10, exact_below=len(rows) + 1)
    exact_s = time.perf_counter() - t
    truth = {(int(rows[a]), int(rows[b])) for a, b in pairs_of(
        analyses.duplicates(exact, [f"h{i}" for i in rows], [None] * len(rows), THRESHOLD).columns["dup_group"],
        np.arange(len(rows)),
    )}  # fmt: skip
    found = pairs_of(dups.columns["dup_group"], rows)
    return {
        "n": n,
        "timings": timings,
        "total_s": sum(timings.values()),
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "recall": len(found & truth) / max(len(truth), 1),
        "sample_pairs": len(truth),
        "exact_sample_s": exact_s,
        "graph_sample_s": timings["graph"] * (len(rows) / n),
        "exact_graph": graph.exact,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.dim)))
        return
    print(f"{'rows':>9} {'graph s':>8} {'dups s':>7} {'outl s':>7} {'clust s':>8} {'total s':>8} {'peak GB':>8} "
          f"{'dup recall':>10} {'exact/indexed (50k)':>20}")  # fmt: skip
    for n in (int(s) for s in args.sizes.split(",")):
        done = subprocess.run([sys.executable, __file__, "--one", str(n), "--dim", str(args.dim)],
                              capture_output=True, text=True, check=True)  # fmt: skip
        r = json.loads(done.stdout.strip().splitlines()[-1])
        t = r["timings"]
        # the baseline: all pairs of the 50k sample exactly, against the indexed graph's time per row of the full
        # table (all pairs grows as n^2: at n rows it is (n/50k)^2 times the sample's)
        scale = (n / SAMPLE) ** 2
        print(f"{n:>9} {t['graph']:>8.1f} {t['duplicates']:>7.1f} {t['outliers']:>7.1f} {t['clusters']:>8.1f} "
              f"{r['total_s']:>8.1f} {r['peak_gb']:>8.2f} {r['recall']:>10.3f} "
              f"{r['exact_sample_s'] * scale / t['graph']:>19.1f}x", flush=True)  # fmt: skip
    print(
        f"goal: 1M rows in < 600 s and < 4 GB; dup recall vs exact on a {SAMPLE} sample >= 0.95; "
        "last column: exact all-pairs time at that size (from the sample, n^2) over the indexed graph's"
    )


if __name__ == "__main__":
    main()
