"""The HeightCeleb head on synthetic speaker vectors whose geometry encodes height and sex."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embedforge.modalities.speech.heightceleb import HeightHead, height_metrics, mean_baseline, plot_diagnostics


def speakers(n: int, seed: int, utts: int = 3, dim: int = 16):
    """Utterance vectors: a height direction, a sex direction, speaker and utterance noise."""
    rng = np.random.default_rng(seed)
    u, v = np.eye(dim)[0], np.eye(dim)[1]
    sex = np.where(np.arange(n) % 2 == 0, "m", "f")
    height = np.where(sex == "m", rng.normal(178, 7, n), rng.normal(165, 7, n))
    rows, groups, hs, ss = [], [], [], []
    for i in range(n):
        centre = (height[i] - 171) / 7 * u + (3.0 if sex[i] == "m" else -3.0) * v + rng.normal(0, 0.15, dim)
        for _ in range(utts):
            rows.append(centre + rng.normal(0, 0.2, dim))
            groups.append(f"id{i:05d}")
            hs.append(height[i])
            ss.append(sex[i].upper() if i % 3 else sex[i])  # labels arrive as "M"/"F" or "m"/"f"
    return np.array(rows, np.float32), np.array(hs), np.array(ss, object), np.array(groups)


@pytest.fixture(scope="module")
def data():
    return speakers(60, 0), speakers(30, 1)


@pytest.mark.parametrize("regressor", ["pls", "ridge", "svr"])
def test_beats_the_mean_and_classifies_sex(data, regressor):
    (X, h, s, g), (Xt, ht, st, gt) = data
    head = HeightHead(regressor=regressor).fit(X, h, s, g)
    pred = head.predict(Xt, gt)
    assert list(pred.columns) == ["group", "sex_pred", "sex_prob", "height_pred"]
    assert len(pred) == 30 and pred["group"].is_unique
    assert pred["sex_prob"].between(0.5, 1.0).all()
    metrics = height_metrics(pred, gt, ht, st)
    base = mean_baseline((g, h, s), (gt, ht, st))
    assert metrics["sex_accuracy"] >= 0.95
    assert metrics["mae"] < 0.6 * base["mae_sex_mean"] < base["mae_mean"]
    assert metrics["n"] == 30 and metrics["n_m"] == 15 and metrics["n_f"] == 15
    assert metrics["rmse"] >= metrics["mae"]


def test_missing_labels_drop_the_speaker_with_a_warning(data):
    (X, h, s, g), _ = data
    h, s = h.astype(float).copy(), s.copy()
    h[g == "id00004"] = np.nan
    s[g == "id00007"] = None
    with pytest.warns(UserWarning) as caught:
        head = HeightHead().fit(X, h, s, g)
    messages = [str(w.message) for w in caught]
    assert "speaker id00004 dropped from training: missing height" in messages
    assert "speaker id00007 dropped from training: missing sex" in messages
    assert set(messages) <= set(head.warnings_)
    assert head.n_speakers_ == 58


def test_metrics_by_hand():
    pred = pd.DataFrame(
        {
            "group": ["a", "b", "c", "d"],
            "sex_pred": ["m", "f", "f", "m"],
            "sex_prob": [0.9, 0.8, 0.7, 0.6],
            "height_pred": [180.0, 160.0, 170.0, 175.0],
        }
    )
    m = height_metrics(pred, ["a", "b", "c", "d", "d"], [178, 164, 168, np.nan, np.nan], ["m", "f", "m", "m", "m"])
    assert m["mae"] == pytest.approx((2 + 4 + 2) / 3)
    assert m["rmse"] == pytest.approx(np.sqrt((4 + 16 + 4) / 3))
    assert m["mae_m"] == pytest.approx(2.0) and m["mae_f"] == pytest.approx(4.0)
    assert m["sex_accuracy"] == pytest.approx(3 / 4)


def test_known_sex_routes_the_regressor(data):
    (X, h, s, g), (Xt, _ht, st, gt) = data
    head = HeightHead().fit(X, h, s, g)
    flipped = np.where(pd.Series(st).str.lower() == "m", "f", "m")
    a, b = head.predict(Xt, gt), head.predict(Xt, gt, sex=flipped)
    assert (a["sex_pred"] == b["sex_pred"]).all()
    assert not np.allclose(a["height_pred"], b["height_pred"])


def test_plots_are_png_files(data, tmp_path):
    (X, h, s, g), (Xt, ht, st, gt) = data
    pred = HeightHead().fit(X, h, s, g).predict(Xt, gt)
    paths = plot_diagnostics(pred, gt, ht, st, tmp_path / "plots")
    assert [p.name for p in paths] == ["height_parity.png", "height_residuals.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_errors(data):
    (X, h, s, g), _ = data
    with pytest.raises(ValueError, match="unknown regressor"):
        HeightHead(regressor="forest")
    head = HeightHead().fit(X, h, s, g)
    with pytest.raises(ValueError, match="16"):
        head.predict(X[:, :10], g)
    with pytest.raises(ValueError, match="at least 2 labelled speakers"):
        HeightHead().fit(X[:3], h[:3], s[:3], g[:3])


def test_fitted_head_pickles(data):
    import pickle

    (X, h, s, g), (Xt, _, _, gt) = data
    head = HeightHead(regressor="ridge").fit(X, h, s, g)
    again = pickle.loads(pickle.dumps(head))
    pd.testing.assert_frame_equal(head.predict(Xt, gt), again.predict(Xt, gt))


def test_parity_plot_states_its_metrics_and_units():
    from matplotlib.figure import Figure

    from embedforge.modalities.speech.heightceleb import _draw_parity

    joined = pd.DataFrame({"height": [160.0, 170.0, 180.0], "height_pred": [162.0, 169.0, 183.0],
                           "sex": ["f", "m", "m"]})  # fmt: skip
    ax = Figure().add_subplot()
    _draw_parity(ax, joined)
    assert "MAE 2.0 cm" in ax.get_title() and "n = 3" in ax.get_title() and "R² 0.93" in ax.get_title()
    assert ax.get_xlabel() == "true height (cm)"
