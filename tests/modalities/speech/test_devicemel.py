"""Device-side GE2E preprocessing (torch STFT, torchaudio mel filters) checked on CPU against the librosa path.

Tolerance: mel values within 1e-5 of the spectrogram's peak (float32 STFT vs librosa's float64 filters);
embeddings within cosine 0.99999 of the librosa path. The GPU check script runs the same code on CUDA.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from embedforge.modalities.base import Audio
from embedforge.modalities.speech.devicemel import DeviceMel
from embedforge.modalities.speech.synth import make_voice, synthesize

MEL_TOL = 1e-5  # relative to each spectrogram's peak
COS_TOL = 0.99999


@pytest.fixture(scope="module")
def voices(ge2e):
    """Four synthetic speakers, three utterances each, of different lengths (one over the 10 s window)."""
    rng = np.random.default_rng(11)
    out = []
    for i, (sex, height) in enumerate([("m", 188.0), ("f", 155.0), ("m", 168.0), ("f", 172.0)]):
        voice = make_voice(f"s{i}", sex, height, rng)
        for seconds in (1.3, 2.6, 11.0 if i == 0 else 3.7):
            wave = synthesize(voice, seconds, rng)
            out.append((i, ge2e.preprocess(Audio(wave[None], 16000), f"s{i}/{seconds}")))
    return out


def test_batched_device_mel_matches_librosa(voices):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer.audio import wav_to_mel_spectrogram
    waves = [w for _, w in voices]
    got = DeviceMel("cpu")(waves)  # one padded batch: lengths differ
    for wave, mel in zip(waves, got):
        ref = wav_to_mel_spectrogram(wave)
        assert mel.shape == ref.shape
        assert np.abs(mel.numpy() - ref).max() <= MEL_TOL * np.abs(ref).max()


def test_device_partials_match_the_librosa_partials(ge2e, voices):
    waves = [w for _, w in voices[:4]]
    for wave, part in zip(waves, ge2e._device_partials(waves)):
        ref = ge2e._partials(wave)
        assert part.shape == ref.shape
        assert np.abs(part.numpy() - ref).max() <= MEL_TOL * np.abs(ref).max()


def test_embeddings_keep_parity_and_speaker_identity(ge2e, voices):
    short = [w for _, w in voices if len(w) < 10 * 16000]  # one window each: the librosa path is one forward
    ours = ge2e.encode(short)
    ref = np.stack([ge2e._forward(ge2e._partials(w)).mean(0) for w in short])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert (np.sum(ours * ref, axis=1) >= COS_TOL).all()

    speakers = np.array([s for s, _ in voices])
    v = ge2e.encode([w for _, w in voices])
    sim = v @ v.T
    same = sim[(speakers[:, None] == speakers[None]) & ~np.eye(len(v), dtype=bool)]
    other = sim[speakers[:, None] != speakers[None]]
    assert same.mean() > other.mean() and np.median(same) > np.quantile(other, 0.9)
