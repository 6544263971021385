"""Long utterances are embedded in bounded windows and pooled: the vector is the pooled window vectors."""

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


def test_ge2e_long_clip_vector_equals_its_pooled_window_vectors(ge2e):
    from embedforge.modalities.speech.synth import make_voice, synthesize

    rng = np.random.default_rng(7)
    wave = synthesize(make_voice("id1", "f", 165.0, rng), 13.0, rng).astype(np.float32)
    spans = long_windows(len(wave), 16000)
    assert len(spans) == 2
    per_window = ge2e.encode([wave[a:b] for a, b in spans])
    pooled = per_window.mean(axis=0)
    pooled /= np.linalg.norm(pooled)
    short = wave[:32000]
    batch = ge2e.encode([short, wave, short])
    np.testing.assert_allclose(batch[1], pooled, atol=1e-5)
    np.testing.assert_allclose(batch[0], batch[2], atol=1e-6)
    np.testing.assert_allclose(batch[0], ge2e.encode([short])[0], atol=1e-5)
    assert abs(float(np.linalg.norm(batch[1])) - 1.0) < 1e-5


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
