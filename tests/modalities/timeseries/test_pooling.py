"""The pooling recipe against values worked out by hand on a 3-token, 2-layer, 2-d input."""

import math

import numpy as np
import pytest

from embedforge.modalities.timeseries import pooling

# tokens x layers x dim; T = 5 steps with patch 4 -> ceil(5/4) = 2 series tokens (the last two)
H = np.array(
    [
        [[1.0, 0.0], [2.0, 2.0]],
        [[3.0, 4.0], [0.0, 0.0]],
        [[0.0, 2.0], [4.0, -2.0]],
    ]
)
S5 = math.sqrt(5.0)


def test_series_tokens_are_ceil_of_length_over_patch():
    assert pooling.n_context_tokens(5, 4) == 2
    assert pooling.n_context_tokens(8, 4) == 2
    assert pooling.n_context_tokens(9, 4) == 3
    assert pooling.n_context_tokens(1, 32) == 1


def test_mean_over_last_tokens_then_l2_per_layer():
    pooled = pooling.pool_tokens(H, 2, "mean-last")
    np.testing.assert_allclose(pooled, [[1.5, 3.0], [2.0, -1.0]])
    np.testing.assert_allclose(pooling.l2_normalize(pooled), [[1 / S5, 2 / S5], [2 / S5, -1 / S5]])


def test_other_strategies_and_last_layer_only():
    np.testing.assert_allclose(pooling.pool_tokens(H, 2, "last"), [[0.0, 2.0], [4.0, -2.0]])
    np.testing.assert_allclose(pooling.pool_tokens(H, 2, "mean"), [[4 / 3, 2.0], [2.0, 0.0]])
    np.testing.assert_allclose(pooling.select_layers(pooling.pool_tokens(H, 2, "last"), "last"), [[4.0, -2.0]])
    with pytest.raises(ValueError, match="strategy"):
        pooling.pool_tokens(H, 2, "max")


def test_one_channel_vector_is_layer_normed_concatenation():
    # [1, 2, 2, -1] / sqrt5 has mean 1/sqrt5 and variance 0.3 -> [0, 1, 1, -2] / sqrt(1.5)
    vec = pooling.embed_hidden([H], n_tokens=2)
    np.testing.assert_allclose(vec, np.array([0.0, 1.0, 1.0, -2.0]) / math.sqrt(1.5 + 5e-5), rtol=1e-5, atol=1e-6)
    assert vec.dtype == np.float32


def test_channels_interleave_inside_each_layer():
    a = np.array([[3.0, 4.0], [0.0, 2.0]])  # channel A: layer 0, layer 1 (already pooled)
    b = np.array([[0.0, 5.0], [1.0, 0.0]])
    flat = np.array([0.6, 0.8, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0])  # A_l0, B_l0, A_l1, B_l1 after L2
    out = pooling.combine_channels([pooling.l2_normalize(a), pooling.l2_normalize(b)])
    expected = (flat - flat.mean()) / np.sqrt(flat.var() + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert abs(out.mean()) < 1e-6 and abs(out.std() - 1) < 1e-3


def test_zero_hidden_state_does_not_divide_by_zero():
    vec = pooling.embed_hidden([np.zeros((2, 1, 3))], n_tokens=1)
    assert np.all(np.isfinite(vec))
