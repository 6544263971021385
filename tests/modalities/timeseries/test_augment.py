"""Differencing and the train-fitted patch statistics against values worked out by hand."""

import numpy as np
import pytest

from embedforge.modalities.base import Series
from embedforge.modalities.timeseries.augment import PatchStats, difference, patch_bounds, patch_stats


def test_difference():
    np.testing.assert_array_equal(difference(np.array([[1.0, 4.0, 9.0, 16.0]])), [[3.0, 5.0, 7.0]])


def test_eight_patches_and_remainder_patch():
    assert patch_bounds(16) == [(i, i + 2) for i in range(0, 16, 2)]
    assert patch_bounds(17)[-1] == (16, 17) and len(patch_bounds(17)) == 9
    assert patch_bounds(5) == [(i, i + 1) for i in range(5)]  # T < 8: one step per patch


def test_patch_statistics_are_nan_aware_and_ordered_patch_then_stat():
    x = np.arange(17, dtype=np.float64)[None, :]
    x[0, 3] = np.nan  # patch 1 becomes [2, nan]
    s = patch_stats(x).reshape(9, 4)  # mean, std, max, min
    np.testing.assert_allclose(s[0], [0.5, 0.5, 1.0, 0.0])
    np.testing.assert_allclose(s[1], [2.0, 0.0, 2.0, 2.0])
    np.testing.assert_allclose(s[8], [16.0, 0.0, 16.0, 16.0])


def test_two_channels_are_concatenated_channel_first():
    x = np.stack([np.arange(8.0), -np.arange(8.0)])
    s = patch_stats(x).reshape(2, 8, 4)
    np.testing.assert_allclose(s[0, 7], [7.0, 0.0, 7.0, 7.0])
    np.testing.assert_allclose(s[1, 7], [-7.0, 0.0, -7.0, -7.0])


def test_fit_on_train_then_standardise_each_sample():
    # T = 8: each patch is one step, so mean = max = min = x and std = 0.
    # train {0, 2}: those three statistics get mean 1, std 1; std has mean 0, std 0 -> z = 0.
    stats = PatchStats().fit([Series(np.zeros((1, 8))), Series(np.full((1, 8), 2.0))])
    z = stats.transform([np.full((1, 8), 3.0)])[0].reshape(8, 4)
    # before the per-sample step: [2, 0, 2, 2] per patch; mean 1.5, sample std sqrt(24/31)
    sd = np.sqrt(24 / 31)
    np.testing.assert_allclose(z, np.tile([0.5 / sd, -1.5 / sd, 0.5 / sd, 0.5 / sd], (8, 1)), rtol=1e-5)


def test_nan_patch_and_short_series_become_zero_before_sample_standardising():
    stats = PatchStats().fit([np.zeros((1, 8)), np.full((1, 8), 2.0)])
    short = np.full((1, 6), 3.0)  # padded with NaN to the fitted length 8: last two patches all NaN
    holey = np.full((1, 8), 3.0)
    holey[0, 0] = np.nan
    z_short, z_holey = stats.transform([short, holey]).reshape(2, 8, 4)
    np.testing.assert_allclose(z_short[6:], z_short[6:][0, 1])  # NaN -> 0, same value as the std columns
    assert np.allclose(z_holey[0], z_holey[0, 1]) and not np.allclose(z_holey[1], z_holey[1, 1])
    assert np.all(np.isfinite(z_short)) and np.all(np.isfinite(z_holey))


def test_transform_uses_train_statistics_not_the_batch():
    stats = PatchStats().fit([np.zeros((1, 16)), np.ones((1, 16))])
    one = stats.transform([np.full((1, 16), 5.0)])
    both = stats.transform([np.full((1, 16), 5.0), np.full((1, 16), -5.0)])
    np.testing.assert_allclose(one[0], both[0])


def test_unfitted_transform_refuses():
    with pytest.raises(RuntimeError, match="fit"):
        PatchStats().transform([np.zeros((1, 8))])
