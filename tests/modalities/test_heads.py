"""The shared heads fit and predict like sklearn estimators, and each beats the trivial predictor."""

import numpy as np
import pytest

import embedforge.modalities.heads  # noqa: F401  (registers the heads)
from embedforge.registry.heads import HEADS, head_task

CLASSIFY = ["classify/logreg", "classify/rf", "classify/linear", "classify/ridge"]
REGRESS = ["regress/ridge", "regress/pls", "regress/svr", "regress/mlp"]


def build_head(name, **params):
    return HEADS.get(name)(**params)


def _blobs(n=120, d=10, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"])[np.arange(n) % 3]
    centres = rng.standard_normal((3, d)) * 3
    X = centres[np.arange(n) % 3] + rng.standard_normal((n, d))
    return X.astype(np.float32), y


def _linear(n=200, d=12, noise=0.3, seed=0):
    """y = X w + noise, at the scale of a heart rate (mean 80, spread ~15) so unscaled targets would hurt."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    w = rng.standard_normal(d)
    y = 80 + 5 * (X @ w) + noise * 5 * rng.standard_normal(n)
    return X, y


def test_registered_names_and_tasks():
    assert set(CLASSIFY) <= set(HEADS.names("classify/")) and set(REGRESS) <= set(HEADS.names("regress/"))
    assert {head_task(h) for h in CLASSIFY} == {"classification"}
    assert {head_task(h) for h in REGRESS} == {"regression"}
    for name, task in (("test/bpm-regressor", "regression"), ("test/odd-task", "clustering")):
        if name not in HEADS:
            HEADS.register(name, type("Declared", (), {"task": task}))
    assert head_task("test/bpm-regressor") == "regression"  # a factory's own task wins over its name
    with pytest.raises(ValueError, match="declares task 'clustering'"):
        head_task("test/odd-task")


@pytest.mark.parametrize("name", CLASSIFY)
def test_classify_head_separates_blobs(name):
    X, y = _blobs()
    Xt, yt = _blobs(seed=0)[0][:30] + 0.1, y[:30]
    params = {"lr": 1e-2} if name == "classify/linear" else {}
    head = build_head(name, **params).fit(X, y)
    assert np.mean(head.predict(Xt) == yt) >= 0.9
    if hasattr(head, "predict_proba"):
        p = head.predict_proba(Xt)
        assert p.shape == (30, 3) and np.allclose(p.sum(axis=1), 1)


@pytest.mark.parametrize("name", REGRESS)
def test_regress_head_beats_the_mean_predictor(name):
    X, y = _linear(seed=1)
    X, Xt, y, yt = X[:150], X[150:], y[:150], y[150:]
    pred = np.asarray(build_head(name).fit(X, y).predict(Xt))
    assert pred.shape == yt.shape
    mae, baseline = np.abs(pred - yt).mean(), np.abs(y.mean() - yt).mean()
    assert mae < 0.5 * baseline, (name, mae, baseline)


def test_pls_picks_components_by_cv_within_the_cap():
    X, y = _linear(n=120, d=6, seed=2)
    head = build_head("regress/pls", max_components=20).fit(X, y)
    assert 1 <= head.n_components_ <= 6  # capped by the feature count
    narrow = build_head("regress/pls", max_components=1).fit(X, y)
    assert narrow.n_components_ == 1


def test_linear_head_defaults_and_early_stopping():
    head = build_head("classify/linear")
    assert (head.lr, head.weight_decay) == (1e-4, 0.01)
    X, y = _blobs(n=60)
    head.set_params(lr=0.5, patience=2, max_epochs=500).fit(X, y)
    assert head.n_epochs_ < 500  # validation loss stopped improving long before the cap
    assert list(head.classes_) == ["a", "b", "c"]


def test_mlp_early_stopping_stops_on_noise():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((80, 8)).astype(np.float32), rng.standard_normal(80)  # nothing to learn
    head = build_head("regress/mlp", lr=1e-2, patience=5, max_epochs=1000).fit(X, y)
    assert head.n_epochs_ < 100 and np.isfinite(head.best_val_loss_)
    assert head.get_params()["patience"] == 5


def test_torch_heads_are_deterministic():
    X, y = _blobs(n=60)
    a = build_head("classify/linear", lr=1e-2, max_epochs=20).fit(X, y).decision_function(X)
    b = build_head("classify/linear", lr=1e-2, max_epochs=20).fit(X, y).decision_function(X)
    np.testing.assert_array_equal(a, b)
    Xr, yr = _linear(n=60)
    c = build_head("regress/mlp", max_epochs=10).fit(Xr, yr).predict(Xr)
    d = build_head("regress/mlp", max_epochs=10).fit(Xr, yr).predict(Xr)
    np.testing.assert_array_equal(c, d)
