"""ECAPA through SpeechBrain's real loader, from a local directory in the hub repo's own layout
(random weights, small channels), offline."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from embedforge.modalities.base import Audio, ItemError, state_dict_fingerprint
from embedforge.modalities.speech import ecapa
from embedforge.registry.encoders import ENCODERS

# The structure of speechbrain/spkrec-ecapa-voxceleb's hyperparams.yaml, with tiny channels.
HYPERPARAMS = """\
# Model: ECAPA for speaker verification (test copy: hub layout, small channels)

# Feature parameters
n_mels: 80

# Pretrain folder (HuggingFace)
pretrained_path: speechbrain/spkrec-ecapa-voxceleb

# Output parameters
out_n_neurons: 5

# Model params
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>

mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False

embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [16, 16, 16, 16, 48]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 8
    lin_neurons: 192

classifier: !new:speechbrain.lobes.models.ECAPA_TDNN.Classifier
    input_size: 192
    out_neurons: !ref <out_n_neurons>

mean_var_norm_emb: !new:speechbrain.processing.features.InputNormalization
    norm_type: global
    std_norm: False

modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
    mean_var_norm_emb: !ref <mean_var_norm_emb>
    classifier: !ref <classifier>

label_encoder: !new:speechbrain.dataio.encoder.CategoricalEncoder

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
        mean_var_norm_emb: !ref <mean_var_norm_emb>
        classifier: !ref <classifier>
        label_encoder: !ref <label_encoder>
    paths:
        embedding_model: !ref <pretrained_path>/embedding_model.ckpt
        mean_var_norm_emb: !ref <pretrained_path>/mean_var_norm_emb.ckpt
        classifier: !ref <pretrained_path>/classifier.ckpt
        label_encoder: !ref <pretrained_path>/label_encoder.txt
"""


def write_model_dir(root, seed: int = 0):
    """hyperparams.yaml + every loadable saved by SpeechBrain's own save hooks (random weights): the on-disk
    layout of speechbrain/spkrec-ecapa-voxceleb, small channels."""
    from hyperpyyaml import load_hyperpyyaml
    from speechbrain.utils.checkpoints import DEFAULT_SAVE_HOOKS, get_default_hook

    (root / "hyperparams.yaml").write_text(HYPERPARAMS)
    torch.manual_seed(seed)
    hp = load_hyperpyyaml(HYPERPARAMS, overrides={"pretrained_path": str(root)})
    hp["mean_var_norm_emb"](torch.randn(8, 1, 192), torch.ones(8))
    hp["label_encoder"].update_from_iterable([f"id1000{i}" for i in range(5)])
    pretrainer = hp["pretrainer"]
    for name, obj in pretrainer.loadables.items():
        get_default_hook(obj, DEFAULT_SAVE_HOOKS)(obj, pretrainer.paths[name])
    return root


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_model_dir(tmp_path_factory.mktemp("spkrec-ecapa-local"))


@pytest.fixture(scope="module")
def encoder(model_dir, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBEDFORGE_HOME", str(tmp_path_factory.mktemp("home")))
        enc = ENCODERS.get("speech/ecapa-voxceleb").build(weights=str(model_dir))
        assert list((ecapa.cache_root()).iterdir()), "SpeechBrain collected nothing under EMBEDFORGE_HOME"
    return enc


def test_registered_spec_is_192d_hub_model():
    entry = ENCODERS.get("speech/ecapa-voxceleb")
    assert entry.spec.dim == 192 and entry.spec.weights == "speechbrain/spkrec-ecapa-voxceleb"


def test_loads_the_saved_weights_through_speechbrain(encoder, model_dir):
    saved = torch.load(model_dir / "embedding_model.ckpt", map_location="cpu", weights_only=True)
    recipe = f"{state_dict_fingerprint(saved)}|recipe={encoder.spec.recipe}"  # the weights' hash, recipe mixed in
    assert encoder.spec.recipe and encoder.fingerprint == hashlib.sha256(recipe.encode()).hexdigest()[:12]
    assert encoder.identity()["weights"] == str(model_dir.resolve())
    assert type(encoder.classifier).__name__ == "EncoderClassifier"


def test_embeds_192d_and_is_batch_invariant(encoder):
    rng = np.random.default_rng(0)
    lengths = [16000, 24000, 16000, 20000, 24000, 8000]
    waves = [
        encoder.preprocess(Audio(rng.normal(0, 0.1, (1, n)).astype(np.float32), 16000), f"u{i}")
        for i, n in enumerate(lengths)
    ]
    batched = encoder.encode(waves)
    single = np.stack([encoder.encode([w])[0] for w in waves])
    assert batched.shape == (6, 192) and batched.dtype == np.float32 and np.isfinite(batched).all()
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert np.abs(batched[0] - batched[2]).max() > 1e-3  # different inputs, different vectors


def test_padding_would_have_shifted_embeddings(encoder):
    """Why encode() buckets by length: SpeechBrain's padded batch changes the short utterance's vector."""
    rng = np.random.default_rng(1)
    short, long = rng.normal(0, 0.1, 12000).astype(np.float32), rng.normal(0, 0.1, 24000).astype(np.float32)
    padded = torch.from_numpy(np.stack([np.pad(short, (0, 12000)), long]))
    naive = encoder.classifier.encode_batch(padded, torch.tensor([0.5, 1.0])).reshape(2, -1).detach().numpy()
    ours = encoder.encode([short, long])
    assert np.abs(naive[0] - ours[0]).max() > 1e-3


def test_preprocess_rejects_too_short_audio(encoder):
    with pytest.raises(ItemError, match=r"tiny.*0\.1 s"):
        encoder.preprocess(Audio(np.ones((1, 100), np.float32) * 0.1, 16000), "tiny")


def test_probe(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDFORGE_HOME", str(tmp_path))
    reason = ecapa.probe("embedforge-tests/no-such-model")
    assert reason is not None and "not available offline" in reason and "--weights DIR" in reason
    default = ecapa.probe()  # None only where the hub model is cached
    assert default is None or "--weights DIR" in default
    assert ecapa.probe(str(model_dir)) is None
    assert "hyperparams.yaml" in ecapa.probe(str(tmp_path))


def test_beyond_the_whole_utterance_limit_the_vector_is_the_mean_of_its_window_vectors(encoder, monkeypatch):
    from embedforge.modalities.speech import ecapa
    from embedforge.modalities.speech.audio import long_windows

    monkeypatch.setattr(ecapa, "EXACT_LIMIT_S", 10)  # the 300 s limit, scaled down to keep the test quick

    rng = np.random.default_rng(3)
    long = rng.normal(0, 0.1, 16000 * 13).astype(np.float32)
    spans = long_windows(len(long), 16000)
    assert spans == [(0, 160000), (48000, 208000)]
    windows = encoder.encode([long[a:b] for a, b in spans])
    short = rng.normal(0, 0.1, 16000).astype(np.float32)
    together = encoder.encode([short, long])
    np.testing.assert_allclose(together[1], windows.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(together[0], encoder.encode([short])[0], rtol=1e-4, atol=1e-5)
