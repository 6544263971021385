"""The k-nearest-neighbour graph of a table's vectors, built once and shared by every analysis.

Near-duplicates, outlier scores, hubness, the intrinsic dimension and label checks all read the same graph. It
comes from faiss: an exact inner-product scan up to ``exact_below`` rows, an IVF index above (n log n work, not
all pairs), so a million rows stay minutes, not hours.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

EXACT_BELOW = 50_000  # rows up to which the graph is exact (a blocked brute-force scan)


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
    """Rows scaled to unit length (float32, C order); zero rows stay zero."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


def _threads() -> None:
    import faiss

    faiss.omp_set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)))


def _index(Xn: np.ndarray, exact_below: int, seed: int):
    """A flat (exact) index for small tables, an IVF-Flat index trained on a sample for large ones."""
    import faiss

    n, d = Xn.shape
    index: Any
    if n <= exact_below:
        index = faiss.IndexFlatIP(d)
    else:
        nlist = int(4 * math.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample = Xn[np.sort(rng.choice(n, size=min(n, 40 * nlist), replace=False))]
        index.train(sample)
        index.nprobe = min(64, max(16, nlist // 8))  # at most ~64/4n^0.5 of the rows scanned per query
    index.add(Xn)
    return index


def knn_graph(X: np.ndarray, k: int = 10, exact_below: int = EXACT_BELOW, seed: int = 0) -> Graph:
    """Each row's k nearest other rows by cosine similarity (the row itself left out, exact copies kept)."""
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"a neighbour graph needs at least 2 rows, got {n}")
    k = min(k, n - 1)
    _threads()
    Xn = unit_rows(X)
    index = _index(Xn, exact_below, seed)
    sim, idx = index.search(Xn, k + 1)
    is_self = idx == np.arange(n)[:, None]
    keep = ~is_self
    keep[~is_self.any(axis=1), -1] = False  # self not among the k+1 (ties with exact copies): drop the last
    idx, sim = idx[keep].reshape(n, k), sim[keep].reshape(n, k)
    sim = np.where(idx < 0, np.nan, sim).astype(np.float32)
    return Graph(idx=idx.astype(np.int64), sim=sim, exact=n <= exact_below)
