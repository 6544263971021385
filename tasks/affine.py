"""Fold standardising sklearn pipelines with a linear final model into one affine map (W, b), so a served
request pays one matmul instead of each estimator's input validation. Models without an affine map (an RBF
SVR, an MLP, trees) are left alone: the folders return None and the caller keeps the sklearn path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RTOL, ATOL = 1e-7, 1e-8  # the fold is kept only if it reproduces the model this closely on probe rows


@dataclass(frozen=True)
class Affine:
    """``X @ W + b`` with W of shape (d, k) and b of shape (k,)."""

    W: np.ndarray
    b: np.ndarray

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return X @ self.W + self.b


def _affine_steps(model) -> list[Any] | None:
    """The model's steps if each but the last is a StandardScaler (or passthrough) and the last has ``coef_``."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [s for _, s in model.steps] if isinstance(model, Pipeline) else [model]
    if not all(s in (None, "passthrough") or type(s) is StandardScaler for s in steps[:-1]):
        return None
    return steps if hasattr(steps[-1], "coef_") else None  # an RBF SVR raises on coef_, so hasattr is False


def _probe_rows(steps: list[Any], dim: int) -> np.ndarray:
    """Random rows at the scale the first scaler saw in training (unit scale otherwise)."""
    rows = np.random.default_rng(0).standard_normal((8, dim))
    first = steps[0]
    mean, scale = getattr(first, "mean_", None), getattr(first, "scale_", None)
    return rows * (1.0 if scale is None else scale) + (0.0 if mean is None else mean)


def _fold(fn, dim: int) -> Affine:
    """b = f(0), W[j] = f(e_j) - f(0): read from the model itself, so no estimator's internals are assumed."""
    out = np.asarray(fn(np.vstack([np.zeros(dim), np.eye(dim)])), dtype=np.float64).reshape(dim + 1, -1)
    return Affine(W=np.ascontiguousarray(out[1:] - out[0]), b=out[0].copy())


def fold_regressor(model, dim: int) -> Affine | None:
    """An affine map (d, 1) equal to ``model.predict`` within RTOL/ATOL, or None."""
    steps = _affine_steps(model)
    if steps is None:
        return None
    affine = _fold(model.predict, dim)
    rows = _probe_rows(steps, dim)
    want = np.asarray(model.predict(rows), dtype=np.float64).reshape(len(rows), -1)
    return affine if want.shape[1] == 1 and np.allclose(affine(rows), want, rtol=RTOL, atol=ATOL) else None


def binary_proba(decision: np.ndarray) -> np.ndarray:
    """(n, 2) probabilities of a binary linear classifier from its decision values, as predict_proba gives."""
    from scipy.special import expit

    p = expit(decision)
    return np.column_stack([1.0 - p, p])


def fold_binary_classifier(model, dim: int) -> Affine | None:
    """An affine map (d, 1) of the decision function whose sigmoid equals ``predict_proba``, or None."""
    steps = _affine_steps(model)
    if steps is None or len(getattr(model, "classes_", ())) != 2 or not hasattr(model, "predict_proba"):
        return None
    affine = _fold(model.decision_function, dim)
    rows = _probe_rows(steps, dim)
    decision = np.asarray(model.decision_function(rows), dtype=np.float64).reshape(len(rows), -1)
    proba = np.asarray(model.predict_proba(rows), dtype=np.float64)
    same = np.allclose(affine(rows), decision, rtol=RTOL, atol=ATOL)
    return affine if same and np.allclose(binary_proba(affine(rows)[:, 0]), proba, rtol=RTOL, atol=ATOL) else None
