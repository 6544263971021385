"""Post-processing transforms over stored vectors (compact vectors): fitted on a table, applied to rows and queries.

Each transform maps float vectors to what a derived table stores: ``apply`` gives the float vectors search and
heads see, ``codes`` the compact bytes a quantizer keeps (``None`` for float transforms). Fitted state is a
dict of numpy arrays, so a derived table can transform its queries the same way. numpy only: cheap to import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from embedforge.registry.registry import Registry


class VectorTransform:
    """Fit on a block of vectors, then map any vectors into the derived space."""

    name = "identity"
    quantized = False

    def __init__(self, k: int | None = None) -> None:
        self.k = k
        self.state: dict[str, np.ndarray] = {}

    def fit(self, X: np.ndarray) -> VectorTransform:
        return self

    def apply(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32)

    def codes(self, X: np.ndarray) -> np.ndarray | None:
        return None

    def decode(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def bytes_per_vector(self, dim: int) -> int:
        return 4 * self.out_dim(dim)

    def out_dim(self, dim: int) -> int:
        return dim

    def load(self, state: dict[str, np.ndarray]) -> VectorTransform:
        self.state = {k: np.asarray(v) for k, v in state.items()}
        return self

    def _k(self, dim: int) -> int:
        k = dim if self.k is None else int(self.k)
        if not 1 <= k <= dim:
            raise ValueError(f"{self.name}: k={k} must be between 1 and the vectors' dimension {dim}")
        return k


class Whiten(VectorTransform):
    """WhiteningBERT: mean-centre, then whiten with the top k directions (unit covariance).

    The output basis is rotated (orthogonal Procrustes) to lie as close as possible to the input axes,
    so whitening already-whitened data with k = dim is the identity, not an arbitrary rotation.
    """

    name = "whiten"

    def fit(self, X: np.ndarray) -> Whiten:
        X = np.asarray(X, dtype=np.float64)
        k = self._k(X.shape[1])
        mu = X.mean(0)
        _, S, Vt = np.linalg.svd(X - mu, full_matrices=False)  # thin SVD: cheap when dim >> rows too
        if k > len(S):
            raise ValueError(f"whiten: k={k} needs at least {k} rows to fit on, got {len(X)}")
        W = Vt[:k].T / np.sqrt(np.maximum(S[:k] ** 2 / len(X), 1e-12))
        A, _, Bt = np.linalg.svd(W[:k, :].T)  # Procrustes: the k x k rotation taking W nearest to I[:, :k]
        self.state = {"mean": mu, "W": W @ (A @ Bt)}
        return self

    def apply(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.state["mean"]) @ self.state["W"]).astype(np.float32)

    def out_dim(self, dim: int) -> int:
        return self._k(dim)


class Truncate(VectorTransform):
    """Matryoshka-style: keep the first k dimensions (for encoders trained so the prefix carries most)."""

    name = "truncate"

    def apply(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        return np.ascontiguousarray(X[:, : self._k(X.shape[1])])

    def out_dim(self, dim: int) -> int:
        return self._k(dim)


class PCA(VectorTransform):
    """Mean-centre and project on the top k principal directions (for encoders not trained for truncation)."""

    name = "pca"

    def fit(self, X: np.ndarray) -> PCA:
        X = np.asarray(X, dtype=np.float64)
        k = self._k(X.shape[1])
        mu = X.mean(0)
        _, S, Vt = np.linalg.svd(X - mu, full_matrices=False)
        self.state = {"mean": mu, "components": Vt[:k].T, "explained": (S[:k] ** 2).sum() / max((S**2).sum(), 1e-30)}
        return self

    def apply(self, X: np.ndarray) -> np.ndarray:
        Z = (np.asarray(X, dtype=np.float64) - self.state["mean"]) @ self.state["components"]
        return Z.astype(np.float32)

    def out_dim(self, dim: int) -> int:
        return self._k(dim)


class Int8(VectorTransform):
    """Scalar quantization: one byte a dimension, ranges calibrated per dimension on the table (0.1-99.9 %)."""

    name = "int8"
    quantized = True

    def fit(self, X: np.ndarray) -> Int8:
        X = np.asarray(X, dtype=np.float32)
        lo, hi = np.percentile(X, 0.1, axis=0), np.percentile(X, 99.9, axis=0)
        self.state = {"lo": lo, "scale": np.maximum(hi - lo, 1e-12) / 255.0}
        return self

    def codes(self, X: np.ndarray) -> np.ndarray:
        q = np.rint((np.asarray(X, dtype=np.float32) - self.state["lo"]) / self.state["scale"]) - 128
        return np.clip(q, -128, 127).astype(np.int8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return ((codes.astype(np.float32) + 128) * self.state["scale"] + self.state["lo"]).astype(np.float32)

    def apply(self, X: np.ndarray) -> np.ndarray:
        return self.decode(self.codes(X))

    def bytes_per_vector(self, dim: int) -> int:
        return dim


class Binary(VectorTransform):
    """Binary quantization: the sign of each mean-centred dimension, 8 dimensions a byte (search rescores)."""

    name = "binary"
    quantized = True

    def fit(self, X: np.ndarray) -> Binary:
        self.state = {"mean": np.asarray(X, dtype=np.float32).mean(0)}
        return self

    def codes(self, X: np.ndarray) -> np.ndarray:
        return np.packbits((np.asarray(X, dtype=np.float32) - self.state["mean"]) > 0, axis=1)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        dim = len(self.state["mean"])
        return np.unpackbits(codes, axis=1, count=dim).astype(np.float32) * 2 - 1

    def apply(self, X: np.ndarray) -> np.ndarray:
        return self.decode(self.codes(X))

    def bytes_per_vector(self, dim: int) -> int:
        return (dim + 7) // 8


TRANSFORMS: Registry[Callable[..., VectorTransform]] = Registry("transform")
for _cls in (Whiten, Truncate, PCA, Int8, Binary):
    TRANSFORMS.register(_cls.name, _cls)


def build_transform(name: str, k: int | None = None, **params: Any) -> VectorTransform:
    """An unfitted transform by registry name (``whiten``, ``truncate``, ``pca``, ``int8``, ``binary``)."""
    return TRANSFORMS.get(name)(k=k, **params)
