"""Long utterances in bounded memory. ECAPA: whole up to 300 s (SpeechBrain's vector), beyond that embedded in
10 s windows and pooled. GE2E: every partial of the whole utterance, embedded a chunk at a time and summed (the
vector is resemblyzer's ``embed_utterance`` of the whole utterance)."""

import numpy as np

from embedforge.modalities.speech.audio import long_windows, pool_windows


def test_windows_cover_the_input_with_full_windows():
    assert long_windows(16000 * 10, 16000) == [(0, 160000)]
    assert long_windows(100, 16000) == [(0, 100)]
    spans = long_windows(16000 * 25, 16000)
    assert spans == [(0, 160000), (128000, 288000), (240000, 400000)]
    assert all(b - a == 160000 for a, b in spans) and spans[-1][1] == 16000 * 25


def test_pooling_is_mean_then_l2():
    v = np.array([[3.0, 4.0], [0.0, 1.0], [1.0, 0.0]])
    out = pool_windows(v, np.array([0, 1, 1]), 2)
    np.testing.assert_allclose(out, [[0.6, 0.8], [2**-0.5, 2**-0.5]], rtol=1e-6)


def test_ge2e_long_clip_is_one_mean_over_all_its_partials(ge2e, monkeypatch):
    from embedforge.modalities.speech import ge2e as ge2e_module
    from embedforge.modalities.speech.synth import make_voice, synthesize

    rng = np.random.default_rng(7)
    wave = synthesize(make_voice("id1", "f", 165.0, rng), 13.0, rng).astype(np.float32)
    short = wave[:32000]
    reference = ge2e.model.embed_utterance(wave)
    batch = ge2e.encode([short, wave, short])
    assert float(batch[1] @ reference) >= 0.99999
    np.testing.assert_allclose(batch[1], reference, atol=1e-5)
    np.testing.assert_allclose(batch[0], batch[2], atol=1e-6)
    np.testing.assert_allclose(batch[0], ge2e.encode([short])[0], atol=1e-5)
    assert abs(float(np.linalg.norm(batch[1])) - 1.0) < 1e-5

    monkeypatch.setattr(ge2e_module, "MAX_PARTIALS", 3)  # the clip's 16 partials over six LSTM passes
    np.testing.assert_allclose(ge2e.encode([short, wave, short]), batch, atol=1e-5)


def test_ge2e_preprocessing_matches_resemblyzer_exactly():
    from resemblyzer.audio import preprocess_wav as reference

    from embedforge.modalities.speech.ge2e import preprocess_wav
    from embedforge.modalities.speech.synth import make_voice, synthesize

    rng = np.random.default_rng(11)
    voice = synthesize(make_voice("id2", "m", 181.0, rng), 3.0, rng).astype(np.float32)
    wave = np.concatenate([voice * 0.05, np.zeros(16000 * 2, np.float32), voice * 0.05, rng.normal(0, 1e-4, 7777)])
    ours, theirs = preprocess_wav(wave.astype(np.float32)), reference(wave.astype(np.float32))
    assert len(theirs) < len(wave)  # the long silence was trimmed
    np.testing.assert_array_equal(ours, theirs)
