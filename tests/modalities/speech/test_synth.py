"""The synthetic voices: formants follow height, the dataset is VoxCeleb-shaped, and the real GE2E
encoder plus the HeightCeleb head recovers height and sex from it."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from embedforge.modalities.speech.heightceleb import HeightHead, height_metrics, mean_baseline
from embedforge.modalities.speech.synth import Voice, make_voice, make_voxceleb_dataset, synthesize
from embedforge.registry.datasets import open_dataset


def centroid(wave: np.ndarray, sr: int = 16000) -> float:
    """Spectral centroid of the long-term spectrum between 200 Hz and 4 kHz."""
    spec = np.abs(np.fft.rfft(wave)) ** 2
    f = np.fft.rfftfreq(len(wave), 1 / sr)
    band = (f > 200) & (f < 4000)
    return float((f[band] * spec[band]).sum() / spec[band].sum())


def test_longer_tract_lowers_the_formants():
    short, long = (Voice("x", "m", 170.0, 115.0, tract) for tract in (14.0, 16.5))
    a, b = synthesize(short, 2.0, np.random.default_rng(5)), synthesize(long, 2.0, np.random.default_rng(5))
    assert a.dtype == np.float32 and a.shape == (32000,) and np.isfinite(a).all()
    assert centroid(b) < 0.95 * centroid(a)


def test_voices_scale_with_height_and_pitch_with_sex():
    rng = np.random.default_rng(0)
    tall = [make_voice("t", "m", 195.0, rng) for _ in range(20)]
    short = [make_voice("s", "m", 160.0, rng) for _ in range(20)]
    women = [make_voice("w", "f", 165.0, rng) for _ in range(20)]
    assert min(v.tract_cm for v in tall) > max(v.tract_cm for v in short)
    assert max(v.f0 for v in tall + short) < min(v.f0 for v in women)


def test_dataset_layout_and_table(tmp_path):
    table = make_voxceleb_dataset(tmp_path, n_speakers=6, utts_per_speaker=2, seed=1, seconds=0.5)
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["VoxCeleb1 ID", "height", "sex", "split"]
    assert sorted(r["sex"] for r in rows) == ["F", "F", "F", "M", "M", "M"]
    assert {r["split"] for r in rows if r["sex"] == "M"} == {"TRAIN", "TEST"}
    assert {r["split"] for r in rows if r["sex"] == "F"} == {"TRAIN", "TEST"}
    wavs = sorted(tmp_path.glob("wav/id*/*/*.wav"))
    assert len(wavs) == 12
    data, rate = sf.read(str(wavs[0]))
    assert rate == 16000 and data.shape == (8000,)
    items = open_dataset(f"voxceleb:{tmp_path}").items()  # height_celeb.csv beside the data is found
    heights = {r["VoxCeleb1 ID"]: float(r["height"]) for r in rows}
    assert all(it.labels["height"] == heights[it.group] for it in items)
    assert {it.split for it in items} == {"train", "test"}


@pytest.mark.slow
def test_ge2e_vectors_predict_height_and_sex(tmp_path, ge2e):
    """40 speakers x 4 utterances of 3 s: head MAE clearly below the mean predictors, sex classified."""
    make_voxceleb_dataset(tmp_path, n_speakers=40, utts_per_speaker=4, seed=0, seconds=3.0)
    ds = open_dataset(f"voxceleb:{tmp_path}")
    items = ds.items()
    X = ge2e.encode([ge2e.preprocess(ds.load(it), it.id) for it in items])
    g = np.array([it.group for it in items])
    h = np.array([it.labels["height"] for it in items])
    s = np.array([it.labels["sex"] for it in items])
    train = np.array([it.split == "train" for it in items])
    head = HeightHead(regressor="pls", n_components=2).fit(X[train], h[train], s[train], g[train])
    pred = head.predict(X[~train], g[~train])
    metrics = height_metrics(pred, g[~train], h[~train], s[~train])
    base = mean_baseline((g[train], h[train], s[train]), (g[~train], h[~train], s[~train]))
    assert metrics["sex_accuracy"] >= 0.9
    assert metrics["mae"] < 0.6 * base["mae_mean"]
    assert metrics["mae"] < base["mae_sex_mean"]
