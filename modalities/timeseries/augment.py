"""The paper's two feature augmentations (arXiv 2510.26777): first differences and absolute statistics.

Forecasters scale every input to zero mean and unit variance, so their embeddings cannot see a
series' level or spread. ``PatchStats`` gives that back: the raw series is cut into 8 patches
(size T // 8, any remainder its own patch), each patch gives mean, std, max and min (NaN-aware),
each statistic is z-scored with the TRAINING set's mean and std (NaN -> 0), and every sample's
vector is then standardised on its own. It is fit on train items only, like any other scaler.

Differences live in the encoders (``diff=True``), because embedding ``diff(x)`` needs the model.

Two deliberate differences from tirex's reference code: the remainder patch uses the same
NaN-aware population statistics as the full patches (tirex uses NaN-unaware, unbiased ones there),
and an all-NaN patch gives NaN statistics (then 0) instead of +-float32 max.
"""

from __future__ import annotations

import warnings

import numpy as np

from embedforge.modalities.base import Series
from embedforge.modalities.timeseries.series import fit_length

N_PATCHES = 8
STATS = ("mean", "std", "max", "min")
EPS = 1e-8


def difference(x: np.ndarray) -> np.ndarray:
    """First differences along time: (channels, T) -> (channels, T - 1)."""
    return np.diff(x, axis=-1)


def patch_bounds(length: int, n_patches: int = N_PATCHES) -> list[tuple[int, int]]:
    """[start, stop) of each patch: size max(1, T // n), the remainder as one extra patch."""
    size = max(1, length // n_patches)
    full = length // size
    bounds = [(i * size, (i + 1) * size) for i in range(full)]
    if full * size < length:
        bounds.append((full * size, length))
    return bounds


def patch_stats(x: np.ndarray, n_patches: int = N_PATCHES) -> np.ndarray:
    """(channels, T) -> flat vector ordered channel, patch, (mean, std, max, min); NaN-aware."""
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN patches give NaN on purpose
        for start, stop in patch_bounds(x.shape[-1], n_patches):
            p = x[:, start:stop].astype(np.float64)
            rows.append(np.stack([np.nanmean(p, -1), np.nanstd(p, -1), np.nanmax(p, -1), np.nanmin(p, -1)], -1))
    return np.stack(rows, axis=1).reshape(-1)  # (channels, patches, 4) flattened


class PatchStats:
    """Fit on the training series, transform any series into standardised patch statistics."""

    def __init__(self, n_patches: int = N_PATCHES) -> None:
        self.n_patches = n_patches
        self.length: int | None = None
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def _raw(self, series: list[Series | np.ndarray], length: int) -> np.ndarray:
        arrays = [np.atleast_2d(np.asarray(s.values if isinstance(s, Series) else s, dtype=np.float64)) for s in series]
        return np.stack([patch_stats(fit_length(a, length), self.n_patches) for a in arrays])

    def fit(self, series: list[Series | np.ndarray]) -> PatchStats:
        """Learn the common length (longest training series) and each statistic's mean and std."""
        if not series:
            raise ValueError("PatchStats.fit needs at least one training series")
        self.length = length = max(
            np.atleast_2d(np.asarray(s.values if isinstance(s, Series) else s)).shape[-1] for s in series
        )
        raw = self._raw(series, length)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mean_ = np.nanmean(raw, axis=0)
            self.std_ = np.nanstd(raw, axis=0)
        return self

    def transform(self, series: list[Series | np.ndarray]) -> np.ndarray:
        """(n, channels * patches * 4) float32: z-scored per statistic, then per sample."""
        if self.mean_ is None or self.std_ is None or self.length is None:
            raise RuntimeError("PatchStats is not fitted: call fit(train_series) first")
        z = np.nan_to_num((self._raw(series, self.length) - self.mean_) / (self.std_ + EPS), nan=0.0)
        z = (z - z.mean(axis=1, keepdims=True)) / (z.std(axis=1, ddof=1, keepdims=True) + EPS)
        return z.astype(np.float32)

    def fit_transform(self, series: list[Series | np.ndarray]) -> np.ndarray:
        return self.fit(series).transform(series)
