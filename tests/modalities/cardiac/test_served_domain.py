"""A served heart-rate head refuses a layout it was not trained on (one ECG lead for ECG+PPG) instead of answering.

Before the domain guard, a ridge head on ECG+PPG vectors answered a single-lead request with millions of bpm.
"""

from __future__ import annotations

import numpy as np
import pytest

from embedforge.modalities.cardiac.signal import CardiacSeries
from embedforge.registry.encoders import build_encoder
from embedforge.tasks.features import Features
from embedforge.tasks.leaderboard import FittedHead
from embedforge.tasks.pyfunc import BadRequest
from embedforge.tasks.train_head import served_head

RATE = 250


def _recording(hr: int, seed: int, leads=("II", "PPG")) -> CardiacSeries:
    import neurokit2 as nk

    ecg = nk.ecg_simulate(duration=10, sampling_rate=RATE, heart_rate=hr, random_state=seed)
    ppg = nk.ppg_simulate(duration=10, sampling_rate=RATE, heart_rate=hr, random_state=seed)
    values = np.stack([ecg, ppg][: len(leads)]).astype(np.float32)
    return CardiacSeries(values=values, sample_rate=RATE, leads=tuple(leads))


@pytest.fixture(scope="module")
def trained():
    from sklearn.linear_model import Ridge

    enc = build_encoder("cardiac/spectrum")
    rates = list(range(55, 115, 3))
    X = enc.encode([enc.preprocess(_recording(hr, i), f"r{i}") for i, hr in enumerate(rates)])
    y = np.array(rates, dtype=np.float64)
    model = Ridge(alpha=1.0).fit(X, y)
    n = len(rates)
    feats = Features(
        ids=[f"r{i}" for i in range(n)],
        X=X,
        labels=[{"heart_rate": r} for r in rates],
        split=["train"] * n,
        group=[None] * n,
        identity=enc.identity(),
        datasets=["sim"] * n,
        hashes=[str(i) for i in range(n)],
    )
    fitted = FittedHead(model, "regression", {}, n, 0, y[:0], y[:0], None)
    return enc, served_head(fitted, feats, "heart_rate")


def test_the_answer_column_is_the_target(trained):
    enc, head = trained
    out = head.predict_vectors(enc.encode([enc.preprocess(_recording(90, 99), "q")]))
    assert list(out.columns) == ["heart_rate"] and 60 < float(out["heart_rate"][0]) < 120


def test_a_single_lead_request_to_an_ecg_ppg_head_is_refused_naming_what_it_was_trained_on(trained):
    enc, head = trained
    one_lead = enc.encode([enc.preprocess(_recording(90, 99, leads=("II",)), "q")])
    with pytest.raises(BadRequest, match=r"row 0: input unlike anything.*cardiac/spectrum input of dataset sim"):
        head.predict_vectors(one_lead)


def test_nan_vectors_are_refused(trained):
    enc, head = trained
    bad = np.full((1, enc.spec.dim), np.nan, dtype=np.float32)
    with pytest.raises(BadRequest, match=r"row 0: .*NaN"):
        head.predict_vectors(bad)
