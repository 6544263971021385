"""Checks and reshaping shared by every time-series encoder: validate, trim padding, fill, resample."""

from __future__ import annotations

import numpy as np

from embedforge.modalities.base import ItemError, Series


def as_channels(sample: Series | np.ndarray, item_id: str) -> np.ndarray:
    """Return a float32 (channels, time) array with trailing NaN padding removed; reject empty input."""
    values = sample.values if isinstance(sample, Series) else sample
    try:
        x = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise ItemError(f"{item_id}: expected a Series or an array of numbers, got {type(sample).__name__}") from None
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ItemError(f"{item_id}: expected a (channels, time) series, got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ItemError(f"{item_id}: zero-length series (shape {x.shape})")
    if np.isinf(x).any():
        raise ItemError(f"{item_id}: series contains inf")
    observed = ~np.isnan(x).all(axis=0)
    if not observed.any():
        raise ItemError(f"{item_id}: series is all NaN (no observed value)")
    return x[:, : int(np.flatnonzero(observed)[-1]) + 1]


def fill_nan(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over internal gaps, edge values held; an all-NaN channel becomes zeros."""
    out = x.copy()
    t = np.arange(x.shape[-1])
    for row in out:
        ok = ~np.isnan(row)
        if not ok.any():
            row[:] = 0.0
        elif not ok.all():
            row[~ok] = np.interp(t[~ok], t[ok], row[ok])
    return out


def resample(x: np.ndarray, length: int, align_corners: bool = False) -> np.ndarray:
    """Linear interpolation of every channel to ``length`` steps, as torch's F.interpolate(mode="linear")."""
    n = x.shape[-1]
    if n == length:
        return x.astype(np.float32, copy=True)
    # without align_corners: sample centres; np.interp clamps at both ends like torch does
    pos = np.linspace(0.0, n - 1, length) if align_corners else (np.arange(length) + 0.5) * (n / length) - 0.5
    src = np.arange(n)
    return np.stack([np.interp(pos, src, row) for row in np.atleast_2d(x)]).astype(np.float32)


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Pad with NaN or cut on the right so every sample has the same number of steps."""
    if x.shape[-1] >= length:
        return x[..., :length]
    pad = np.full((*x.shape[:-1], length - x.shape[-1]), np.nan, dtype=x.dtype)
    return np.concatenate([x, pad], axis=-1)
