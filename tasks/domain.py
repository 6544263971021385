"""The served head's domain: a request whose vector lies far from every training vector is refused, not scored.

A head answers for inputs like those it was trained on. A request in another layout (one ECG lead where the head
saw ECG and PPG, another sample rate, a different encoder's vectors) embeds somewhere no training item lies, and
a linear head extrapolates to nonsense (1.6 million bpm, HTTP 200). The guard measures each request vector's
distance to its nearest training vector against the spread of training vectors among themselves: the
leave-one-out nearest-neighbour distances of the training set, their 99th percentile times ``SLACK``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_REFERENCE = 2000  # training vectors kept with the model (a seeded sample of larger sets)
MIN_REFERENCE = 8  # fewer training vectors give no usable spread: no guard
SLACK = 3.0  # how far beyond the training spread a request may lie


@dataclass
class Domain:
    """Reference training vectors and the distance beyond which a request is out of domain."""

    reference: np.ndarray  # (n, dim) float32
    threshold: float
    train_spread: float  # the 99th percentile of leave-one-out nearest-neighbour distances

    def distances(self, X: np.ndarray) -> np.ndarray:
        """Each row's Euclidean distance to its nearest reference vector."""
        return np.sqrt(_nearest_sq(np.asarray(X, dtype=np.float32), self.reference))

    def outside(self, X: np.ndarray) -> list[tuple[int, float]]:
        """(row, distance) of every row beyond the threshold."""
        d = self.distances(X)
        return [(i, float(d[i])) for i in np.flatnonzero(d > self.threshold)]


def fit_domain(X: np.ndarray, seed: int = 0) -> Domain | None:
    """The domain of these training vectors, or None when there are too few to measure a spread."""
    X = np.asarray(X, dtype=np.float32)
    if len(X) > MAX_REFERENCE:
        X = X[np.random.default_rng(seed).choice(len(X), MAX_REFERENCE, replace=False)]
    X = np.unique(X, axis=0)  # copies would make every leave-one-out distance zero
    if len(X) < MIN_REFERENCE:
        return None
    loo = np.sqrt(_nearest_sq(X, X, exclude_self=True))
    spread = float(np.quantile(loo, 0.99))
    if not np.isfinite(spread) or spread <= 0:
        return None
    return Domain(reference=X, threshold=SLACK * spread, train_spread=spread)


def _nearest_sq(Q: np.ndarray, R: np.ndarray, exclude_self: bool = False, block: int = 512) -> np.ndarray:
    """Squared distance of each query row to its nearest reference row, in blocks (bounded memory)."""
    r2 = np.einsum("ij,ij->i", R, R)
    out = np.empty(len(Q), dtype=np.float64)
    for start in range(0, len(Q), block):
        q = Q[start : start + block]
        d = np.einsum("ij,ij->i", q, q)[:, None] + r2[None, :] - 2.0 * (q @ R.T)
        if exclude_self:
            d[np.arange(len(q)), np.arange(start, start + len(q))] = np.inf
        out[start : start + block] = np.maximum(d.min(axis=1), 0.0)
    return out
