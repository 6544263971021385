"""Pooling on the model's device (torch) gives the numbers of the host (numpy) recipe it replaced."""

from collections import defaultdict

import numpy as np
import pytest
import torch

import embedforge.modalities.timeseries  # noqa: F401  (registers the encoders)
from embedforge.modalities.base import state_dict_fingerprint
from embedforge.modalities.timeseries import pooling as pool
from embedforge.modalities.timeseries.augment import difference
from embedforge.registry.encoders import ENCODERS

RECIPES = [(s, layers) for s in pool.STRATEGIES for layers in pool.LAYERS]
FIXTURES = {
    "timeseries/tirex": "tirex_dir",
    "timeseries/chronos-bolt-small": "chronos_dir",
    "timeseries/moment-small": "moment_dir",
}


def _series(rng, channels: int) -> list[np.ndarray]:
    """Lengths below, at and above the tiny models' 64-step context; NaN gaps inside; 1-step and odd lengths."""
    out = []
    for n in (3, 30, 50, 50, 64, 100, 9):
        x = rng.standard_normal((channels, n)).astype(np.float32)
        if n >= 30:
            x[:, 5:9] = np.nan  # masked inside the series
        out.append(x)
    return out


def host_reference(enc, inputs: list[np.ndarray]) -> np.ndarray:
    """The recipe as it ran before: equal-length rows per forward, every layer to numpy, pooled row by row."""
    rows = [
        (i, v, c, view[c])
        for i, x in enumerate(inputs)
        for v, view in enumerate(([difference(x)] if enc.diff else []) + [x])
        for c in range(len(x))
    ]
    by_len = defaultdict(list)
    for row in rows:
        by_len[len(row[3])].append(row)
    pooled = {}
    for length, group in by_len.items():
        hidden = enc._hidden(np.stack([r[3] for r in group]))
        for (i, v, c, _), h in zip(group, hidden):
            layer = pool.select_layers(pool.pool_tokens(h, enc._n_tokens(length), enc.pooling), enc.layers)
            pooled[(i, v, c)] = pool.l2_normalize(layer.astype(np.float64))
    views = range(2 if enc.diff else 1)
    return np.stack(
        [
            np.concatenate([pool.combine_channels([pooled[(i, v, c)] for c in range(len(x))]) for v in views])
            for i, x in enumerate(inputs)
        ]
    ).astype(np.float32)


@pytest.mark.parametrize("strategy, layers", RECIPES)
def test_torch_pooling_equals_numpy_row_by_row(strategy, layers):
    rng = np.random.default_rng(1)
    hidden = rng.standard_normal((5, 7, 3, 4)).astype(np.float32)
    n_tokens = [1, 3, 7, 9, 3]  # per row; 9 > tokens takes them all, as numpy's slice does
    want = np.stack([pool.select_layers(pool.pool_tokens(h, k, strategy), layers) for h, k in zip(hidden, n_tokens)])
    got = pool.pool_layers(torch.from_numpy(hidden), n_tokens, strategy, layers)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6)
    per_layer = pool.pool_layers(list(torch.from_numpy(hidden).unbind(2)), n_tokens, strategy, layers)
    np.testing.assert_array_equal(per_layer.numpy(), got.numpy())


def test_torch_pooling_rejects_unknown_recipes():
    h = torch.zeros(1, 2, 1, 3)
    with pytest.raises(ValueError, match="strategy"):
        pool.pool_layers(h, [1], "max")
    with pytest.raises(ValueError, match="layer selection"):
        pool.pool_layers(h, [1], "mean", "first")


def test_rows_combine_like_channels_one_by_one():
    blocks = pool.l2_normalize(np.random.default_rng(2).standard_normal((3, 2, 4, 5)))  # n, channels, layers, dim
    want = np.stack([pool.combine_channels(list(b)) for b in blocks])
    np.testing.assert_allclose(pool.combine_rows(blocks), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(FIXTURES))
@pytest.mark.parametrize("strategy, layers", RECIPES)
def test_encoders_match_the_host_pooling(request, name, strategy, layers):
    weights = str(request.getfixturevalue(FIXTURES[name]))
    enc = ENCODERS.get(name).factory(weights=weights, pooling=strategy, layers=layers)
    inputs = _series(np.random.default_rng(3), 1)
    got = enc.encode(inputs)
    assert got.shape == (len(inputs), enc.dim) and np.all(np.isfinite(got))
    np.testing.assert_allclose(got, host_reference(enc, inputs), rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_diff_and_channels_match_the_host_pooling(request, name):
    weights = str(request.getfixturevalue(FIXTURES[name]))
    enc = ENCODERS.get(name + "-diff").factory(weights=weights, channels=2)
    inputs = _series(np.random.default_rng(4), 2)[1:]  # differencing needs 2 steps
    np.testing.assert_allclose(enc.encode(inputs), host_reference(enc, inputs), rtol=1e-5, atol=2e-5)


def test_moment_runs_any_lengths_in_one_pass_within_the_token_budget(moment_dir):
    enc = ENCODERS.get("timeseries/moment-small").factory(weights=str(moment_dir))
    inputs = _series(np.random.default_rng(5), 1)
    rows = [(i, 0, 0, x[0]) for i, x in enumerate(inputs)]
    assert [len(c) for c in enc._chunks(rows)] == [len(rows)]  # 3 to 100 steps, one forward pass
    big = enc.encode(inputs)
    enc.tokens_per_forward = 2 * (enc.seq_len // enc.patch)  # two rows a pass
    assert [len(c) for c in enc._chunks(rows)] == [2, 2, 2, 1]
    np.testing.assert_allclose(enc.encode(inputs), big, atol=1e-5)


def test_short_series_get_more_rows_a_pass(chronos_dir):
    enc = ENCODERS.get("timeseries/chronos-bolt-small").factory(weights=str(chronos_dir))
    enc.tokens_per_forward = 16
    rows = [(i, 0, 0, np.zeros(n, np.float32)) for i, n in enumerate([8] * 20 + [64] * 3)]
    assert sorted(len(c) for c in enc._chunks(rows)) == [1, 2, 4, 16]  # 1 token: 16 a pass; 8 tokens: 2
    enc.tokens_per_forward = 1  # a row longer than the budget still runs, alone
    assert max(len(c) for c in enc._chunks(rows)) == 1


def test_tf32_is_a_recorded_option_and_default_identity_is_unchanged(moment_dir):
    factory = ENCODERS.get("timeseries/moment-small").factory
    default, tf32 = factory(weights=str(moment_dir)), factory(weights=str(moment_dir), precision="tf32")
    assert "precision" not in default.spec.input and tf32.spec.input["precision"] == "tf32"
    assert default.fingerprint == state_dict_fingerprint(default.model.state_dict())
    assert tf32.fingerprint.startswith(default.fingerprint + "+")
    inputs = _series(np.random.default_rng(6), 1)
    np.testing.assert_array_equal(tf32.encode(inputs), default.encode(inputs))  # no effect on CPU
    with pytest.raises(ValueError, match="precision='fp16'"):
        factory(weights=str(moment_dir), precision="fp16")


def test_tf32_holds_only_inside_a_cuda_forward_pass(moment_dir, monkeypatch):
    enc = ENCODERS.get("timeseries/moment-small").factory(weights=str(moment_dir), precision="tf32")
    before = torch.get_float32_matmul_precision()
    with enc._matmul_precision():
        assert torch.get_float32_matmul_precision() == before  # on CPU: untouched
    monkeypatch.setattr(enc, "_device", lambda: torch.device("cuda"))
    with enc._matmul_precision():
        assert torch.get_float32_matmul_precision() == "high"
    assert torch.get_float32_matmul_precision() == before
