"""Device-side GE2E preprocessing (torch STFT, torchaudio mel filters) checked on CPU against the librosa path.

Tolerance: mel values within 1e-5 of the spectrogram's peak (float32 STFT vs librosa's float64 filters);
embeddings within cosine 0.99999 of the librosa path. The GPU check script runs the same code on CUDA.
A run of frames computed from the samples under it alone (``span``) is the whole spectrogram's run.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from embedforge.modalities.base import Audio
from embedforge.modalities.speech import ge2e as ge2e_module
from embedforge.modalities.speech.devicemel import DeviceMel, frames, span
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


def test_frame_runs_from_spans_match_the_whole_spectrogram(voices):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer.audio import wav_to_mel_spectrogram
    wave = voices[2][1]
    ref = wav_to_mel_spectrogram(wave)
    n = frames(len(wave))
    runs = [(0, 1), (0, 160), (3, 170), (n - 160, n), (n - 1, n), (40, n)]  # edges: zero padding on both sides
    got = DeviceMel("cpu").framed([span(wave, a, b) for a, b in runs])
    for (a, b), mel in zip(runs, got):
        assert mel.shape == (b - a, 40)
        assert np.abs(mel.numpy() - ref[a:b]).max() <= MEL_TOL * np.abs(ref).max()


def _resemblyzer_partials(model, wave):
    """embed_utterance's partial mels: padded to the last slice, one librosa spectrogram, sliced."""
    from resemblyzer.audio import wav_to_mel_spectrogram

    wav_slices, mel_slices = model.compute_partial_slices(len(wave), 1.3, 0.75)
    wave = np.pad(wave, (0, max(0, wav_slices[-1].stop - len(wave))))
    mel = wav_to_mel_spectrogram(wave)
    return np.stack([mel[s] for s in mel_slices])


def test_partial_mels_match_resemblyzers_in_any_chunking(ge2e, voices, monkeypatch):
    waves = [w for _, w in voices[:4]]  # 1.3 s ... 11 s: one partial up to 13
    refs = [_resemblyzer_partials(ge2e.model, w) for w in waves]
    for size in (128, 5, 1):  # partials per LSTM pass: runs split across chunks and inputs
        monkeypatch.setattr(ge2e_module, "MAX_PARTIALS", size)
        owners, mels = zip(*((o, m.numpy()) for o, m in ge2e._partial_mels(waves)))
        assert max(len(o) for o in owners) <= size
        owners, mels = np.concatenate(owners), np.concatenate(mels)
        for i, ref in enumerate(refs):
            part = mels[owners == i]
            assert part.shape == ref.shape
            assert np.abs(part - ref).max() <= MEL_TOL * np.abs(ref).max()


def test_embeddings_keep_parity_and_speaker_identity(ge2e, voices):
    waves = [w for _, w in voices]  # one over 10 s: still one mean over all its partials
    ours = ge2e.encode(waves)
    ref = np.stack([ge2e._forward(_resemblyzer_partials(ge2e.model, w)).mean(0) for w in waves])
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert (np.sum(ours * ref, axis=1) >= COS_TOL).all()

    speakers = np.array([s for s, _ in voices])
    sim = ours @ ours.T
    same = sim[(speakers[:, None] == speakers[None]) & ~np.eye(len(ours), dtype=bool)]
    other = sim[speakers[:, None] != speakers[None]]
    assert same.mean() > other.mean() and np.median(same) > np.quantile(other, 0.9)
