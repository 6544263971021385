"""GE2E: the real resemblyzer weights; batched == one-by-one == resemblyzer's own embed_utterance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedforge.modalities.base import Audio, ItemError
from embedforge.modalities.speech.synth import make_voice, synthesize
from embedforge.registry.encoders import ENCODERS


@pytest.fixture(scope="module")
def waves(ge2e):
    """Six preprocessed utterances of three synthetic speakers, of different lengths."""
    rng = np.random.default_rng(3)
    out = []
    for i, (sex, height) in enumerate([("m", 185.0), ("f", 158.0), ("m", 170.0)]):
        voice = make_voice(f"id{i}", sex, height, rng)
        for seconds in (1.2, 2.9):
            out.append(ge2e.preprocess(Audio(synthesize(voice, seconds, rng)[None], 16000), f"{i}/{seconds}"))
    return out


def test_spec_and_probe():
    entry = ENCODERS.get("speech/ge2e")
    assert entry.spec.dim == 256 and entry.spec.input["sample_rate"] == 16000
    assert entry.probe() is None


def test_batched_equals_one_by_one(ge2e, waves):
    batched = ge2e.encode(waves)
    single = np.stack([ge2e.encode([w])[0] for w in waves])
    assert batched.shape == (6, 256) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    reordered = ge2e.encode(waves[::-1])[::-1]
    np.testing.assert_allclose(batched, reordered, atol=1e-5)


def test_matches_resemblyzer_embed_utterance(ge2e, waves):
    ours = ge2e.encode(waves)
    theirs = np.stack([ge2e.model.embed_utterance(w) for w in waves])
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_same_speaker_is_closer_than_other_speakers(ge2e, waves):
    v = ge2e.encode(waves)
    sim = v @ v.T
    same = [sim[0, 1], sim[2, 3], sim[4, 5]]
    assert min(same) > max(sim[0, 2], sim[0, 3], sim[2, 5], sim[1, 4])


def test_preprocess_resamples_and_mixes(ge2e):
    rng = np.random.default_rng(0)
    voice = make_voice("x", "f", 165.0, rng)
    wave = synthesize(voice, 2.0, rng)
    from embedforge.modalities.speech.audio import resample

    stereo = Audio(np.stack([resample(wave, 16000, 44100)] * 2), 44100)
    out = ge2e.preprocess(stereo, "stereo")
    assert out.ndim == 1 and out.dtype == np.float32
    assert abs(len(out) - 32000) <= 16000 * 0.1  # VAD may trim a little


def test_silence_is_an_item_error(ge2e):
    with pytest.raises(ItemError, match=r"quiet-item.*silent"):
        ge2e.preprocess(Audio(np.zeros((1, 32000), np.float32), 16000), "quiet-item")


def test_alternative_weights_file(ge2e, tmp_path):
    torch.manual_seed(0)
    state = {k: torch.randn_like(v) for k, v in ge2e.model.state_dict().items()}
    path = tmp_path / "other.pt"
    torch.save({"model_state": state}, path)
    other = ENCODERS.get("speech/ge2e").build(weights=str(path))
    assert other.fingerprint != ge2e.fingerprint
    assert other.identity()["weights"] == str(path)

    bad = tmp_path / "bad.pt"
    torch.save({"model_state": {"linear.weight": state["linear.weight"]}}, bad)
    with pytest.raises(ValueError, match="not a GE2E checkpoint"):
        ENCODERS.get("speech/ge2e").build(weights=str(bad))
