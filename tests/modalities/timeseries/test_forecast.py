"""Random-weight checkpoints in each model's own format load through the real loaders and embed."""

import json

import numpy as np
import pytest

import embedforge.modalities.timeseries  # noqa: F401  (registers the encoders)
from embedforge.modalities.base import ItemError, Series
from embedforge.registry.encoders import ENCODERS, build_encoder

RNG = np.random.default_rng(0)
SERIES = [Series(RNG.standard_normal((1, n)).astype(np.float32)) for n in (30, 50, 50, 100)]

# name -> (fixture, n_layers * d_model of the tiny config)
TINY = {
    "timeseries/tirex": ("tirex_dir", 2 * 16),
    "timeseries/chronos-bolt-small": ("chronos_dir", 2 * 16),
    "timeseries/moment-small": ("moment_dir", 3 * 16),
}


@pytest.fixture(params=sorted(TINY))
def tiny(request):
    fixture, per_channel = TINY[request.param]
    return request.param, str(request.getfixturevalue(fixture)), per_channel


def _embed(enc, series):
    return enc.encode([enc.preprocess(s, f"s{i}") for i, s in enumerate(series)])


def test_registered_dims_are_the_real_models():
    assert ENCODERS.get("timeseries/tirex").spec.dim == 12 * 512
    assert ENCODERS.get("timeseries/tirex-diff").spec.dim == 2 * 12 * 512
    assert ENCODERS.get("timeseries/chronos-bolt-small").spec.dim == 6 * 512
    assert ENCODERS.get("timeseries/moment-small").spec.dim == 8 * 512
    assert ENCODERS.get("timeseries/mantis").spec.dim == 256


def test_loads_from_own_format_and_reports_its_dim(tiny):
    name, weights, per_channel = tiny
    enc = build_encoder(name, weights=weights)
    assert enc.dim == enc.spec.dim == enc.identity()["dim"] == per_channel
    assert enc.identity()["weights"] == weights and len(enc.fingerprint) == 12
    out = _embed(enc, SERIES)
    assert out.shape == (4, per_channel) and out.dtype == np.float32 and np.all(np.isfinite(out))
    assert not np.allclose(out[0], out[1])


def test_vector_does_not_depend_on_batch_mates(tiny):
    name, weights, _ = tiny
    enc = build_encoder(name, weights=weights)
    together = _embed(enc, SERIES)
    alone = np.stack([_embed(enc, [s])[0] for s in SERIES])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_diff_variant_is_its_own_encoder_with_twice_the_dim(tiny):
    name, weights, per_channel = tiny
    plain, diff = build_encoder(name, weights=weights), build_encoder(name + "-diff", weights=weights)
    assert diff.spec.name == name + "-diff" and diff.dim == 2 * per_channel
    both = _embed(diff, SERIES[:2])
    np.testing.assert_allclose(both[:, per_channel:], _embed(plain, SERIES[:2]), atol=1e-5)
    differenced = [Series(np.diff(s.values, axis=-1)) for s in SERIES[:2]]
    np.testing.assert_allclose(both[:, :per_channel], _embed(plain, differenced), atol=1e-5)


def test_multivariate_concatenates_channels(tiny):
    name, weights, per_channel = tiny
    enc = ENCODERS.get(name).factory(weights=weights, channels=3)
    assert enc.dim == 3 * per_channel
    out = _embed(enc, [Series(RNG.standard_normal((3, 40)).astype(np.float32))])
    assert out.shape == (1, 3 * per_channel)
    with pytest.raises(ItemError, match="s0: 1 channel"):
        enc.preprocess(SERIES[0], "s0")


def test_other_recipes_change_dim_and_fingerprint(tiny):
    name, weights, per_channel = tiny
    default = build_encoder(name, weights=weights)
    last = ENCODERS.get(name).factory(weights=weights, pooling="last", layers="last")
    assert last.dim == per_channel // default.n_layers
    assert last.fingerprint != default.fingerprint and last.fingerprint.startswith(default.fingerprint)
    assert _embed(last, SERIES[:1]).shape == (1, last.dim)


@pytest.mark.parametrize("bad, why", [(np.full((1, 20), np.nan), "all NaN"), (np.zeros((1, 0)), "zero-length")])
def test_bad_series_name_the_item(tiny, bad, why):
    name, weights, _ = tiny
    enc = build_encoder(name, weights=weights)
    with pytest.raises(ItemError, match=f"train/7: .*{why}"):
        enc.preprocess(Series(bad), "train/7")


def test_trailing_nan_padding_is_ignored(tiny):
    name, weights, _ = tiny
    enc = build_encoder(name, weights=weights)
    padded = Series(np.concatenate([SERIES[0].values, np.full((1, 13), np.nan, np.float32)], axis=1))
    np.testing.assert_allclose(_embed(enc, [padded]), _embed(enc, SERIES[:1]), atol=1e-6)


def test_tirex_matches_the_reference_embedding(tirex_dir):
    """Our pooling on TiRex equals tirex's own TiRexEmbedding (without its batch-fitted statistics)."""
    import torch
    from tirex.models.embedding import TiRexEmbedding

    two = ENCODERS.get("timeseries/tirex-diff").factory(weights=str(tirex_dir), channels=2)
    ref = TiRexEmbedding.__new__(TiRexEmbedding)
    torch.nn.Module.__init__(ref)
    ref.model, ref.batch_size, ref.data_augmentation, ref.number_of_patches = two.model, 8, True, 8
    x = RNG.standard_normal((3, 2, 45)).astype(np.float32)
    expected = ref(torch.from_numpy(x)).numpy()  # [diff embedding, embedding, batch statistics]
    assert two.dim == 2 * 2 * 32
    np.testing.assert_allclose(_embed(two, [Series(v) for v in x]), expected[:, : two.dim], atol=1e-4)


def test_chronos_last_layer_is_the_pipeline_embedding(chronos_dir):
    import torch
    from chronos import ChronosBoltPipeline

    enc = build_encoder("timeseries/chronos-bolt-small", weights=str(chronos_dir))
    x = SERIES[3].values
    expected, _ = ChronosBoltPipeline.from_pretrained(str(chronos_dir)).embed(torch.from_numpy(x[0]))
    np.testing.assert_allclose(enc._hidden(x)[0, :, -1], expected[0, :-1].numpy(), atol=1e-5)  # [REG] dropped


def test_moment_refuses_a_file_missing_its_layers(moment_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((moment_dir / "config.json").read_text())
    state = load_file(str(moment_dir / "model.safetensors"))
    del state["patch_embedding.value_embedding.weight"]
    save_file(state, str(broken / "model.safetensors"))
    with pytest.raises(ValueError, match="value_embedding"):
        build_encoder("timeseries/moment-small", weights=str(broken))
    (broken / "config.json").write_text(json.dumps({"seq_len": 64}))
    with pytest.raises(ValueError, match="t5_config"):
        build_encoder("timeseries/moment-small", weights=str(broken))


def test_moment_masks_left_padding_and_resizes_long_series(moment_dir):
    enc = build_encoder("timeseries/moment-small", weights=str(moment_dir))
    assert enc._n_tokens(30) == 4 and enc._n_tokens(1000) == 8
    long = Series(RNG.standard_normal((1, 300)).astype(np.float32))
    assert _embed(enc, [long]).shape == (1, enc.dim)


def test_mantis_loads_and_embeds(mantis_dir):
    enc = build_encoder("timeseries/mantis", weights=str(mantis_dir))
    assert enc.dim == 16 and enc.seq_len == 64
    out = _embed(enc, SERIES)
    assert out.shape == (4, 16) and np.all(np.isfinite(out))
    np.testing.assert_allclose(out, np.stack([_embed(enc, [s])[0] for s in SERIES]), atol=1e-5)
    three = ENCODERS.get("timeseries/mantis").factory(weights=str(mantis_dir), channels=3)
    assert _embed(three, [Series(RNG.standard_normal((3, 70)))]).shape == (1, 48)
    for bad, why in ((np.full((1, 9), np.nan), "all NaN"), (np.zeros((1, 0)), "zero-length")):
        with pytest.raises(ItemError, match=f"x1: .*{why}"):
            enc.preprocess(Series(bad), "x1")


def test_missing_weights_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model\.ckpt"):
        build_encoder("timeseries/tirex", weights=str(tmp_path))


def test_probes_explain_missing_hub_weights(monkeypatch, tmp_path):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    for name in (
        "timeseries/tirex",
        "timeseries/chronos-bolt-small-diff",
        "timeseries/moment-small",
        "timeseries/mantis",
    ):
        reason = ENCODERS.get(name).probe()
        assert reason and "not in the hub cache" in reason and "local directory" in reason
    assert ENCODERS.get("timeseries/minirocket").probe() is None
