"""Cardiac preprocessing on real MIT-BIH ECG: windows, 360 -> 250 Hz resampling, cleaning, lead layout, bad input."""

import numpy as np
import pytest

from embedforge.modalities.base import ItemError, Series
from embedforge.modalities.cardiac import signal as S
from tests.modalities.cardiac.conftest import ECG_RATE


def _r_peaks(x: np.ndarray, rate: float) -> np.ndarray:
    import neurokit2 as nk

    _, info = nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=rate), sampling_rate=rate)
    return np.asarray(info["ECG_R_Peaks"], dtype=float)


def _matched(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each peak in ``a`` to its nearest peak in ``b``."""
    return np.abs(a[:, None] - b[None, :]).min(axis=1)


@pytest.mark.parametrize("n,size,stride", [(108000, 3600, None), (108000, 3600, 1800), (10000, 2500, 700)])
def test_window_bounds_cover_the_signal_in_full_windows(n, size, stride):
    bounds = S.window_bounds(n, size, stride)
    step = stride or size
    assert len(bounds) == (n - size) // step + 1
    assert all(b - a == size for a, b in bounds)
    assert [a for a, _ in bounds] == list(range(0, step * len(bounds), step))
    assert bounds[-1][1] <= n < bounds[-1][1] + step


def test_window_bounds_short_remainder_dropped_or_kept_and_short_signal_kept():
    assert S.window_bounds(10000, 3600) == [(0, 3600), (3600, 7200)]
    assert S.window_bounds(10000, 3600, remainder="keep") == [(0, 3600), (3600, 7200), (7200, 10000)]
    assert S.window_bounds(1000, 3600) == [(0, 1000)]
    assert S.window_bounds(0, 3600) == [(0, 0)]
    with pytest.raises(ValueError):
        S.window_bounds(100, 0)
    with pytest.raises(ValueError):
        S.window_bounds(100, 10, remainder="pad")


@pytest.mark.parametrize("rate,factors", [(360, (25, 36)), (500, (1, 2)), (128, (125, 64)), (250, (1, 1))])
def test_resampling_factors_are_exact_ratios(rate, factors):
    up, down = S.rational_factors(rate)
    assert (up, down) == factors and up * rate == down * S.TARGET_RATE


def test_resampling_360_to_250_keeps_duration_and_r_peaks(mitbih_ecg):
    out = S.resample(mitbih_ecg[None], ECG_RATE)
    assert out.shape == (1, 300 * S.TARGET_RATE)
    before = _r_peaks(mitbih_ecg, ECG_RATE) * S.TARGET_RATE / ECG_RATE
    after = _r_peaks(out[0], S.TARGET_RATE)
    assert len(before) > 300 and abs(len(before) - len(after)) <= 1
    dist = _matched(after, before)
    assert np.median(dist) <= 1.0 and np.mean(dist <= 2.0) >= 0.99


def test_single_wearable_lead_lands_in_lead_ii_with_its_r_peaks(mitbih_ecg):
    window = mitbih_ecg[None, 36000:39600]  # 10 s at 360 Hz
    inp = S.prepare(S.CardiacSeries(window, ECG_RATE, ("MLII",)), "rec/0")
    assert inp.x.shape == (13, S.WINDOW) and inp.x.dtype == np.float32 and inp.n_valid == S.WINDOW
    assert inp.channel_mask.tolist() == [name == "II" for name in S.LEADS]
    assert not inp.x[~inp.channel_mask].any()
    lead_ii = inp.x[S.LEADS.index("II")]
    assert abs(lead_ii.mean()) < 1e-5 and abs(lead_ii.std() - 1) < 1e-4
    raw_peaks = _r_peaks(window[0], ECG_RATE) * S.TARGET_RATE / ECG_RATE
    assert np.max(_matched(_r_peaks(lead_ii.astype(float), S.TARGET_RATE), raw_peaks)) <= 2.0
    unnamed = S.prepare(Series(window, ECG_RATE), "rec/0")
    np.testing.assert_array_equal(unnamed.x, inp.x)


def test_ppg_goes_to_channel_13_and_twelve_unnamed_leads_fill_the_ecg_slots(mitbih_ecg):
    import neurokit2 as nk

    ppg = nk.ppg_simulate(duration=10, sampling_rate=360, heart_rate=70, random_state=1)
    two = S.prepare(S.CardiacSeries(np.stack([mitbih_ecg[:3600], ppg]), ECG_RATE, ("MLII", "PLETH")), "a")
    assert np.flatnonzero(two.channel_mask).tolist() == [S.LEADS.index("II"), S.PPG_SLOT] == [1, 12]
    twelve = S.prepare(Series(np.tile(mitbih_ecg[:3600], (12, 1)), ECG_RATE), "b")
    assert twelve.channel_mask.tolist() == [True] * 12 + [False]


def test_token_mask_follows_channels_and_padding(mitbih_ecg):
    inp = S.prepare(S.CardiacSeries(mitbih_ecg[None, :1800], ECG_RATE, ("II",)), "short")  # 5 s
    assert inp.n_valid == S.WINDOW // 2 and not inp.x[1, S.WINDOW // 2 :].any()
    tokens = inp.token_mask(25)
    assert tokens.shape == (13, 100) and tokens.sum() == 50 and tokens[1, :50].all()


def test_nan_gaps_are_bridged_but_flat_and_mostly_missing_channels_are_masked(mitbih_ecg):
    lead = mitbih_ecg[:3600].copy()
    lead[1000:1100] = np.nan
    mostly_nan = mitbih_ecg[:3600].copy()
    mostly_nan[:3000] = np.nan
    values = np.stack([lead, np.full(3600, 0.7), mostly_nan])
    inp = S.prepare(S.CardiacSeries(values, ECG_RATE, ("II", "V1", "V2")), "gappy")
    assert np.isfinite(inp.x).all()
    assert np.flatnonzero(inp.channel_mask).tolist() == [S.LEADS.index("II")]


@pytest.mark.parametrize(
    "values,leads,rate,cause",
    [
        (np.full((1, 3600), np.nan), ("II",), 360.0, "all NaN"),
        (np.zeros((1, 0)), ("II",), 360.0, "zero-length"),
        (np.ones((1, 100)), ("II",), 360.0, "at least 1 s"),
        (np.full((2, 3600), 0.3), ("I", "II"), 360.0, "flat"),
        (np.random.default_rng(0).normal(size=(1, 3600)), ("ABP",), 360.0, "unknown lead"),
        (np.random.default_rng(0).normal(size=(1, 3600)), ("II",), None, "sample rate"),
        (np.random.default_rng(0).normal(size=(3, 3600)), (), 360.0, "pass lead names"),
    ],
)
def test_bad_input_raises_item_error_naming_the_item(values, leads, rate, cause):
    with pytest.raises(ItemError) as err:
        S.prepare(S.CardiacSeries(values, rate, leads), "rec42/3")
    assert "rec42/3" in str(err.value) and cause in str(err.value)


@pytest.mark.parametrize(
    "name,lead",
    [
        ("MLII", "II"),
        ("Lead aVR", "aVR"),
        ("v5", "V5"),
        ("PLETH", "PPG"),
        ("ECG", "II"),
        ("lead_III", "III"),
        ("ABP", None),
    ],
)
def test_channel_names_map_to_csfm_slots(name, lead):
    assert S.canonical_lead(name) == lead
