"""``cardiac/spectrum``: a weight-free baseline encoder, the band-power profile of each channel slot.

Same preprocessing as CSFM (13 slots, 10 s at 250 Hz, cleaned, z-scored), then per slot the
Hann-windowed power spectrum pooled by 24 triangular bands log-spaced over 0.5-40 Hz, as log
relative power. Heart rate, rhythm regularity and QRS width show up as where the power sits, so a
linear head can read vitals off it. Missing slots are all-zero. Deterministic; nothing to download.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from embedforge.modalities.base import Encoder, EncoderSpec
from embedforge.modalities.cardiac import signal
from embedforge.registry.encoders import register_encoder

BANDS = 24
LOW_HZ, HIGH_HZ = 0.5, 40.0
SPEC = EncoderSpec(
    name="cardiac/spectrum",
    dim=BANDS * len(signal.LEADS),
    input={
        "sample_rate": signal.TARGET_RATE,
        "window_samples": signal.WINDOW,
        "channels": list(signal.LEADS),
        "single_lead": "II",
        "clean": "neurokit2 ecg_clean / ppg_clean (default methods)",
        "normalise": "per-channel z-score",
        "bands": {"count": BANDS, "low_hz": LOW_HZ, "high_hz": HIGH_HZ, "spacing": "log", "shape": "triangular"},
        **signal.input_limits(),
    },
    weights="none",
    description="Log relative band power (24 log-spaced bands, 0.5-40 Hz) per ECG/PPG channel slot; a baseline",
    license="Apache-2.0",
    reference="numpy/scipy statement of its documented recipe (no outside reference exists)",
)


@lru_cache(maxsize=4)
def filterbank(n: int = signal.WINDOW, rate: float = signal.TARGET_RATE, bands: int = BANDS) -> np.ndarray:
    """(bands, n // 2 + 1) triangular weights with log-spaced centres over LOW_HZ..HIGH_HZ."""
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    edges = np.geomspace(LOW_HZ, HIGH_HZ, bands + 2)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)


def band_profile(inp: signal.CardiacInput) -> np.ndarray:
    """Log relative band power of every present slot over its real samples; zeros for missing slots."""
    n = inp.n_valid
    x = inp.x[:, :n].astype(np.float64) * np.hanning(n)
    power = (np.abs(np.fft.rfft(x, axis=1)) ** 2) @ filterbank(n).T
    rel = power / np.maximum(power.sum(axis=1, keepdims=True), 1e-12)
    out = np.log(rel + 1e-6) * inp.channel_mask[:, None]
    return out.ravel().astype(np.float32)


class SpectrumEncoder(Encoder):
    """Band-power profile per channel slot; each vector depends only on its own input."""

    spec = SPEC
    weights_source = "none"

    def preprocess(self, sample: Any, item_id: str) -> signal.CardiacInput:
        return signal.prepare(sample, item_id)

    def encode(self, inputs: list[signal.CardiacInput]) -> np.ndarray:
        if not inputs:
            return np.zeros((0, SPEC.dim), dtype=np.float32)
        return np.stack([band_profile(i) for i in inputs])


@register_encoder(SPEC, probe=lambda: None)
def spectrum(weights: str | None = None, device: str = "cpu") -> SpectrumEncoder:
    """No weights: ``weights`` must be None."""
    if weights:
        raise ValueError("cardiac/spectrum has no weights; leave weights unset")
    return SpectrumEncoder()
