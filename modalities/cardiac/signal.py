"""ECG/PPG preprocessing into CSFM's input: 250 Hz, cleaned, z-scored, 13 channels x 10 s windows.

The layout follows the CSFM reference code (github.com/guxiao0822/Cardiac-Sensing-FM,
utils/preprocess.py): resample to 250 Hz, ``nk.ecg_clean`` / ``nk.ppg_clean``, per-channel
z-score, 2500-sample windows. Channel slots 0-11 are the 12 ECG leads, slot 12 is PPG; a single
wearable ECG lead goes into lead II. Missing channels are zero-filled and masked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from embedforge.modalities.base import ItemError, Series

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "PPG")
PPG_SLOT = 12
TARGET_RATE = 250
WINDOW_SECONDS = 10
WINDOW = TARGET_RATE * WINDOW_SECONDS  # 2500 samples
MIN_SECONDS = 1.0  # the cleaning filters need at least this much signal
MIN_RATES = {"ECG": 50.0, "PPG": 20.0}  # below these a QRS complex / pulse wave is not resolved: refused
MAX_NAN_FRACTION = 0.5  # a channel with more missing samples is masked, not interpolated

_ALIASES = {
    **{lead.upper(): lead for lead in LEADS},
    "MLI": "I",
    "MLII": "II",
    "MLIII": "III",
    "ML2": "II",
    "ECG": "II",
    "EKG": "II",
    "ECG1": "II",
    "WEARABLE": "II",
    "PLETH": "PPG",
    "BVP": "PPG",
    "PULSE": "PPG",
    "PLETHYSMOGRAM": "PPG",
}


@dataclass(frozen=True)
class CardiacSeries(Series):
    """A raw cardiac recording: channels x time at ``sample_rate``, with one lead name per channel."""

    leads: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardiacInput:
    """CSFM's input for one window: 13 x 2500 float32, the present channels, and the real length."""

    x: np.ndarray  # (13, WINDOW) float32; masked channels and padding are zero
    channel_mask: np.ndarray  # (13,) bool, True where the channel holds signal
    n_valid: int  # samples of real signal; the rest of the window is zero padding

    def token_mask(self, patch: int) -> np.ndarray:
        """(13, WINDOW // patch) bool: which patch tokens carry signal."""
        n_patches = self.x.shape[1] // patch
        valid_patches = np.arange(n_patches) * patch < self.n_valid
        return self.channel_mask[:, None] & valid_patches[None, :]


def canonical_lead(name: str) -> str | None:
    """Map a recorded channel name (``MLII``, ``Lead aVR``, ``PLETH`` ...) to a CSFM slot name."""
    key = re.sub(r"[\s_\-]|^LEAD", "", str(name).strip().upper())
    return _ALIASES.get(key)


def default_leads(n_channels: int) -> tuple[str, ...]:
    """Lead names for an unnamed array: 1 -> II (wearable), 12 -> standard 12-lead, 13 -> + PPG."""
    if n_channels in (1, 12, 13):
        return ("II",) if n_channels == 1 else LEADS[:n_channels]
    raise ValueError(f"{n_channels} unnamed channels: pass lead names (one per channel)")


def window_bounds(n: int, size: int, stride: int | None = None, remainder: str = "drop") -> list[tuple[int, int]]:
    """Start/stop of windows over ``n`` samples; a short tail is dropped or kept (``remainder='keep'``).

    A signal shorter than one window always yields one short window, so it fails loudly downstream
    instead of silently vanishing.
    """
    if size <= 0 or (stride is not None and stride <= 0):
        raise ValueError("window size and stride must be positive")
    if remainder not in ("drop", "keep"):
        raise ValueError(f"remainder must be 'drop' or 'keep', not {remainder!r}")
    stride = stride or size
    if n < size:
        return [(0, n)]
    bounds = [(s, s + size) for s in range(0, n - size + 1, stride)]
    last_stop = bounds[-1][1]
    if remainder == "keep" and last_stop < n:
        bounds.append((bounds[-1][0] + stride, n))
    return bounds


def rational_factors(src_rate: float, dst_rate: float = TARGET_RATE) -> tuple[int, int]:
    """(up, down) with dst/src = up/down, for ``resample_poly``; non-integer rates are approximated."""
    if not (src_rate > 0 and math.isfinite(src_rate)):
        raise ValueError(f"invalid sample rate {src_rate!r}")
    ratio = Fraction(dst_rate).limit_denominator(10_000) / Fraction(src_rate).limit_denominator(10_000)
    ratio = ratio.limit_denominator(10_000)
    return ratio.numerator, ratio.denominator


def resample(x: np.ndarray, src_rate: float, dst_rate: float = TARGET_RATE) -> np.ndarray:
    """Polyphase-resample channels x time (anti-aliased; edges extended linearly, so offsets leave no step)."""
    from scipy.signal import resample_poly

    up, down = rational_factors(src_rate, dst_rate)
    if up == down:
        return np.asarray(x, dtype=np.float64)
    return resample_poly(np.asarray(x, dtype=np.float64), up, down, axis=-1, padtype="line")


def clean_channel(x: np.ndarray, lead: str, rate: float = TARGET_RATE) -> np.ndarray:
    """neurokit2's default cleaning: ``ecg_clean`` for ECG leads, ``ppg_clean`` for PPG."""
    import neurokit2 as nk

    if lead == "PPG":
        return np.asarray(nk.ppg_clean(x, sampling_rate=rate), dtype=np.float64)
    return np.asarray(nk.ecg_clean(x, sampling_rate=rate), dtype=np.float64)


def fill_gaps(x: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """Linearly interpolate NaN/inf samples; None plus a reason when too little signal is left."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    if not ok.any():
        return None, "all NaN"
    if 1.0 - ok.mean() > MAX_NAN_FRACTION:
        return None, f"{1.0 - ok.mean():.0%} NaN"
    if ok.all():
        return x, None
    idx = np.arange(len(x))
    return np.interp(idx, idx[ok], x[ok]), None


def zscore(x: np.ndarray) -> np.ndarray | None:
    """Zero mean, unit variance; None for a flat channel (nothing to normalise)."""
    mean, std = float(np.mean(x)), float(np.std(x))
    if not np.isfinite(std) or std <= 1e-8 * max(1.0, abs(mean)):
        return None
    return (x - mean) / std


def min_rate(lead: str) -> float:
    """The lowest sampling rate at which this lead's waveform is still resolved."""
    return MIN_RATES["PPG" if lead == "PPG" else "ECG"]


def input_limits() -> dict[str, object]:
    """What the cardiac encoders declare in their input spec and refuse below."""
    return {"min_seconds": MIN_SECONDS, "min_sample_rate_hz": dict(MIN_RATES)}


def prepare_channel(x: np.ndarray, lead: str, rate: float) -> tuple[np.ndarray | None, str | None]:
    """One channel gap-filled, resampled, cleaned, cut to 10 s and z-scored; None plus why if unusable."""
    if rate < min_rate(lead):
        kind = "PPG" if lead == "PPG" else "ECG"
        return None, f"sampled at {rate:g} Hz, {kind} needs at least {min_rate(lead):g} Hz"
    filled, why = fill_gaps(x)
    if filled is None:
        return None, why
    if np.ptp(filled) == 0:
        return None, "flat"
    try:
        cleaned = clean_channel(resample(filled, rate), lead)[:WINDOW]
    except Exception as exc:  # neurokit2 rejects some inputs with assorted exception types
        return None, f"cleaning failed ({type(exc).__name__}: {exc})"
    z = zscore(cleaned)
    return (None, "flat after cleaning") if z is None else (z, None)


def sample_leads(sample: Series, item_id: str) -> tuple[str, ...]:
    """The lead name of each channel: from a CardiacSeries, else the defaults for its channel count."""
    values = np.atleast_2d(np.asarray(sample.values))
    leads = tuple(getattr(sample, "leads", ()) or ())
    try:
        leads = leads or default_leads(values.shape[0])
    except ValueError as exc:
        raise ItemError(f"{item_id}: {exc}") from None
    if len(leads) != values.shape[0]:
        raise ItemError(f"{item_id}: {values.shape[0]} channels but {len(leads)} lead names")
    return leads


def check_sample(sample: Series, item_id: str) -> np.ndarray:
    """Channels x time float64, or an ItemError for an unusable rate, shape or length."""
    if not isinstance(sample, Series):
        raise ItemError(
            f"{item_id}: expected a cardiac series (channels x time, sample rate), got {type(sample).__name__}"
        )
    if sample.sample_rate is None or not (float(sample.sample_rate) > 0):
        raise ItemError(f"{item_id}: cardiac signal needs a positive sample rate, got {sample.sample_rate!r}")
    values = np.asarray(sample.values, dtype=np.float64)
    if values.ndim not in (1, 2):
        raise ItemError(f"{item_id}: expected channels x time, got shape {values.shape}")
    values = np.atleast_2d(values)
    if values.shape[1] == 0:
        raise ItemError(f"{item_id}: zero-length signal")
    seconds = values.shape[1] / float(sample.sample_rate)
    if seconds < MIN_SECONDS:
        raise ItemError(f"{item_id}: signal is {seconds:.2f} s long; at least {MIN_SECONDS:g} s is needed")
    return values


def prepare(sample: Series, item_id: str) -> CardiacInput:
    """A raw recording to CSFM's 13-channel 10 s input (the first 10 s if longer; zero-padded if shorter)."""
    values, leads = check_sample(sample, item_id), sample_leads(sample, item_id)
    x = np.zeros((len(LEADS), WINDOW), dtype=np.float32)
    mask = np.zeros(len(LEADS), dtype=bool)
    problems, n_valid = [], 0
    for row, name in zip(values, leads, strict=True):
        lead = canonical_lead(name)
        if lead is None or mask[LEADS.index(lead)]:
            problems.append(f"{name}: {'unknown lead' if lead is None else 'duplicate of ' + lead}")
            continue
        z, why = prepare_channel(row, lead, float(sample.sample_rate or 0.0))  # positive: checked above
        if z is None:
            problems.append(f"{name}: {why}")
            continue
        slot = LEADS.index(lead)
        x[slot, : len(z)], mask[slot], n_valid = z, True, max(n_valid, len(z))
    if not mask.any():
        raise ItemError(f"{item_id}: no usable cardiac channel ({'; '.join(problems)})")
    return CardiacInput(x=x, channel_mask=mask, n_valid=n_valid)
