"""The k-nearest-neighbour graph of a table's vectors, built once and shared by every analysis.

Near-duplicates, outlier scores, hubness, the intrinsic dimension and label checks all read the same graph.
Up to ``exact_below`` rows it is exact (faiss' blocked inner-product scan). Above, rows are partitioned into
~2 sqrt(n) spherical k-means cells, and each cell's rows are compared with the rows of the ``nprobe`` cells
whose centres are nearest its own, as one matrix product per cell: n sqrt(n) work, not all pairs, and each
candidate block is read once per cell instead of once per query (per-query IVF probing spent its time on
memory traffic: 1,308 s at 1M x 256 against 193 s here, recall@10 1.000, bench/bench_analyze.py).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

EXACT_BELOW = 50_000  # rows up to which the graph is exact (a blocked brute-force scan)
NPROBE = 24  # cells searched per cell: recall@10 0.96 on 32-d Gaussian classes (hard), ~1 on clustered data


@dataclass
class Graph:
    """Row i's k nearest other rows (``idx``, -1 where none) and their cosine similarities (``sim``), best first."""

    idx: np.ndarray
    sim: np.ndarray
    exact: bool

    @property
    def k(self) -> int:
        return int(self.idx.shape[1])


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, C order); zero rows stay zero. Already-unit rows are not copied."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    if np.all((np.abs(norms - 1.0) < 1e-4) | (norms == 0)):
        return X
    return X / np.maximum(norms, 1e-12)


def _threads() -> None:
    import faiss

    faiss.omp_set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)))


def _exact(Xn: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    sim, idx = faiss.knn(Xn, Xn, k, metric=faiss.METRIC_INNER_PRODUCT)
    return sim, idx


def _cells(Xn: np.ndarray, nlist: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means centres (trained on a sample) and each row's cell."""
    import faiss

    n, d = Xn.shape
    rng = np.random.default_rng(seed)
    sample = Xn[np.sort(rng.choice(n, size=min(n, 32 * nlist), replace=False))]
    km = faiss.Kmeans(d, nlist, niter=10, seed=seed, spherical=True, verbose=False, min_points_per_centroid=1)
    km.train(sample)
    _, assign = km.index.search(Xn, 1)
    return np.asarray(km.centroids, dtype=np.float32), assign.ravel()


def _by_cell(Xn: np.ndarray, k: int, nprobe: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k best among the rows of the ``nprobe`` cells nearest its own cell (its own included)."""
    n = Xn.shape[0]
    nlist = max(2, int(2 * math.sqrt(n)))
    centres, assign = _cells(Xn, nlist, seed)
    nprobe = min(nprobe, nlist)
    near = np.argsort(-(centres @ centres.T), axis=1)[:, :nprobe]
    order = np.argsort(assign, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(assign, minlength=nlist))]
    Xs = Xn[order]  # rows of a cell are contiguous: each candidate block is a slice
    sim = np.full((n, k), -np.inf, dtype=np.float32)
    idx = np.full((n, k), -1, dtype=np.int64)
    for c in range(nlist):
        lo, hi = bounds[c], bounds[c + 1]
        if lo == hi:
            continue
        cand = [(bounds[j], bounds[j + 1]) for j in near[c] if bounds[j + 1] > bounds[j]]
        block = np.concatenate([Xs[a:b] for a, b in cand])
        ids = np.concatenate([order[a:b] for a, b in cand])
        s, i = _top_k(Xs[lo:hi] @ block.T, min(k, len(block)))
        rows = order[lo:hi]
        sim[rows, : s.shape[1]] = s
        idx[rows, : i.shape[1]] = ids[i]
    return sim, idx


def _top_k(S: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest of each row of S, best first (a partition, then a sort of k: 2.5x faiss.knn's heap here)."""
    part = np.argpartition(-S, k - 1, axis=1)[:, :k] if k < S.shape[1] else np.tile(np.arange(S.shape[1]), (len(S), 1))
    vals = np.take_along_axis(S, part, axis=1)
    best = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(vals, best, axis=1), np.take_along_axis(part, best, axis=1)


def knn_graph(X: np.ndarray, k: int = 10, exact_below: int = EXACT_BELOW, seed: int = 0, nprobe: int = NPROBE) -> Graph:
    """Each row's k nearest other rows by cosine similarity (the row itself left out, exact copies kept)."""
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"a neighbour graph needs at least 2 rows, got {n}")
    k = min(k, n - 1)
    _threads()
    Xn = unit_rows(X)
    sim, idx = _exact(Xn, k + 1) if n <= exact_below else _by_cell(Xn, k + 1, nprobe, seed)
    is_self = idx == np.arange(n)[:, None]
    keep = ~is_self
    keep[~is_self.any(axis=1), -1] = False  # self not among the k+1 (ties with exact copies): drop the last
    idx, sim = idx[keep].reshape(n, k), sim[keep].reshape(n, k)
    sim = np.where(idx < 0, np.nan, sim).astype(np.float32)
    return Graph(idx=idx.astype(np.int64), sim=sim, exact=n <= exact_below)
