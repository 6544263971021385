"""CSFM from a local checkpoint in the reference format (small random weights), through the real loader."""

import numpy as np
import pytest
import torch

from embedforge.modalities.base import Series
from embedforge.modalities.cardiac import csfm
from embedforge.modalities.cardiac.network import VARIANTS, CSFMConfig, CSFMSignalEncoder
from embedforge.modalities.cardiac.signal import LEADS, WINDOW, CardiacInput, CardiacSeries
from embedforge.registry.encoders import ENCODERS, build_encoder

SMALL = CSFMConfig(dim=48, depth=2, heads=2, mlp_dim=64)
# Tensors the reference checkpoint carries besides the signal encoder (text branch, heads).
EXTRA = {
    "mlp_head.weight": (1, 48),
    "mlp_head.bias": (1,),
    "text_pos_embedding": (1, 64, 48),
    "text_type_embedding": (1, 1, 48),
    "dense_head.0.weight": (8, 48, 3),
}


def save_reference_checkpoint(path, cfg=SMALL, seed=0, drop=()):
    """A flat state dict with ``encoder.``-prefixed keys, as the CSFM repository's ``.pth`` files are."""
    torch.manual_seed(seed)
    state = {f"encoder.{k}": v for k, v in CSFMSignalEncoder(cfg).state_dict().items() if k not in drop}
    state.update({f"encoder.{k}": torch.randn(shape) for k, shape in EXTRA.items()})
    state["decoder.proj.weight"] = torch.randn(4, 4)
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    path = save_reference_checkpoint(tmp_path_factory.mktemp("csfm") / "checkpoint.pth")
    return build_encoder("cardiac/csfm-base", weights=str(path))


def _inputs(rng, masks):
    """Random 13 x 2500 inputs whose masked channels hold large garbage (it must not matter)."""
    out = []
    for mask in masks:
        x = rng.normal(size=(len(LEADS), WINDOW)).astype(np.float32)
        x[~mask] = 1e3
        out.append(CardiacInput(x=x, channel_mask=mask, n_valid=WINDOW))
    return out


def test_probe_explains_gated_weights_until_a_checkpoint_is_given(tmp_path, monkeypatch):
    monkeypatch.delenv(csfm.WEIGHTS_ENV, raising=False)
    reason = ENCODERS.get("cardiac/csfm-base").probe()
    assert reason and "gated" in reason and csfm.WEIGHTS_ENV in reason
    with pytest.raises(FileNotFoundError):
        build_encoder("cardiac/csfm-base")
    monkeypatch.setenv(csfm.WEIGHTS_ENV, str(tmp_path / "missing.pth"))
    assert "no CSFM checkpoint" in ENCODERS.get("cardiac/csfm-base").probe()
    save_reference_checkpoint(tmp_path / "model.pth")
    monkeypatch.setenv(csfm.WEIGHTS_ENV, str(tmp_path))
    assert ENCODERS.get("cardiac/csfm-base").probe() is None


def test_small_checkpoint_loads_and_embeds_at_its_width(encoder, tmp_path):
    assert encoder.model.cfg == SMALL and encoder.spec.dim == SMALL.dim
    rng = np.random.default_rng(0)
    out = encoder.encode(_inputs(rng, [np.ones(13, bool)] * 2))
    assert out.shape == (2, SMALL.dim) and out.dtype == np.float32 and np.isfinite(out).all()
    assert not np.allclose(out[0], out[1])
    identity = encoder.identity()
    assert identity["dim"] == SMALL.dim and identity["weights"].endswith("checkpoint.pth")
    other = build_encoder("cardiac/csfm-base", weights=str(save_reference_checkpoint(tmp_path / "b.pth", seed=1)))
    assert other.fingerprint != encoder.fingerprint


def test_default_registration_declares_csfm_base_768():
    spec = ENCODERS.get("cardiac/csfm-base").spec
    assert spec.dim == 768 and spec.input["patch_size"] == 25 and spec.input["channels"] == list(LEADS)
    assert CSFMConfig() == VARIANTS["base"]
    with torch.device("meta"):
        state = CSFMSignalEncoder(CSFMConfig()).state_dict()
    base = csfm.config_from_state(state)
    assert (base.dim, base.depth, base.heads, base.mlp_dim, base.patch_size) == (768, 12, 12, 3072, 25)
    assert sum(t.numel() for t in state.values()) > 80_000_000


def test_checkpoint_keys_follow_the_reference_model():
    keys = set(CSFMSignalEncoder(SMALL).state_dict())
    expected = {
        "cls_token",
        "ts_channel_type_embedding",
        "ts_pos_embedding",
        "ts_to_patch_embedding.1.weight",
        "ts_to_patch_embedding.2.weight",
        "ts_to_patch_embedding.3.bias",
        "transformer.norm.weight",
        "transformer.layers.0.0.norm.weight",
        "transformer.layers.0.0.to_qkv.weight",
        "transformer.layers.0.0.to_out.0.bias",
        "transformer.layers.1.1.net.0.weight",
        "transformer.layers.1.1.net.1.weight",
        "transformer.layers.1.1.net.4.bias",
    }
    assert expected <= keys and "transformer.layers.0.0.to_qkv.bias" not in keys


def test_incomplete_checkpoint_is_refused(tmp_path):
    path = save_reference_checkpoint(tmp_path / "c.pth", drop=("transformer.layers.1.0.to_qkv.weight",))
    with pytest.raises(ValueError, match="lacks 1 encoder tensors"):
        build_encoder("cardiac/csfm-base", weights=str(path))
    (tmp_path / "d").mkdir()
    with pytest.raises(ValueError, match="expected one CSFM checkpoint"):
        build_encoder("cardiac/csfm-base", weights=str(tmp_path / "d"))


def test_masked_channels_do_not_influence_the_embedding(encoder):
    rng = np.random.default_rng(1)
    mask = np.zeros(13, bool)
    mask[[1, 12]] = True
    (a,) = _inputs(rng, [mask])
    b = CardiacInput(x=np.where(mask[:, None], a.x, -7.0).astype(np.float32), channel_mask=mask, n_valid=WINDOW)
    ea, eb = encoder.encode([a]), encoder.encode([b])
    np.testing.assert_array_equal(ea, eb)
    full = encoder.encode([CardiacInput(a.x, np.ones(13, bool), WINDOW)])
    assert np.abs(full - ea).max() > 1e-3  # the same garbage does count once it is unmasked


def test_an_item_embeds_the_same_alone_or_in_a_mixed_batch(encoder):
    rng = np.random.default_rng(2)
    single = np.eye(13, dtype=bool)[1]
    masks = [single, np.ones(13, bool), np.r_[np.ones(12, bool), False], single | np.eye(13, dtype=bool)[12]]
    inputs = _inputs(rng, masks)
    inputs.append(CardiacInput(inputs[0].x, single, n_valid=WINDOW // 3))  # zero-padded tail
    batch = encoder.encode(inputs)
    alone = np.concatenate([encoder.encode([i]) for i in inputs])
    np.testing.assert_allclose(batch, alone, atol=2e-5, rtol=1e-5)
    assert np.abs(batch[0] - batch[4]).max() > 1e-3


def test_preprocess_then_encode_a_real_window(encoder, mitbih_ecg):
    sample = CardiacSeries(mitbih_ecg[None, :3600], 360.0, ("MLII",))
    inp = encoder.preprocess(sample, "mitbih/0")
    assert inp.channel_mask.sum() == 1
    vec = encoder.encode([inp])
    assert vec.shape == (1, SMALL.dim)
    np.testing.assert_array_equal(vec, encoder.encode([encoder.preprocess(Series(sample.values, 360.0), "x")]))
