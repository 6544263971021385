"""The registered classifier heads fit and predict like sklearn estimators."""

import numpy as np
import pytest

import embedforge.modalities.timeseries  # noqa: F401  (registers the heads)
from embedforge.registry.heads import HEADS, build_head


def _blobs(n=120, d=10, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b", "c"])[np.arange(n) % 3]
    centres = rng.standard_normal((3, d)) * 3
    X = centres[np.arange(n) % 3] + rng.standard_normal((n, d))
    return X.astype(np.float32), y


def test_registered_names():
    assert {"classify/logreg", "classify/rf", "classify/linear", "classify/ridge"} <= set(HEADS.names("classify/"))


@pytest.mark.parametrize("name", ["classify/logreg", "classify/rf", "classify/linear", "classify/ridge"])
def test_head_separates_blobs(name):
    X, y = _blobs()
    Xt, yt = _blobs(seed=0)[0][:30] + 0.1, y[:30]
    params = {"lr": 1e-2} if name == "classify/linear" else {}
    head = build_head(name, **params).fit(X, y)
    assert np.mean(head.predict(Xt) == yt) >= 0.9
    if hasattr(head, "predict_proba"):
        p = head.predict_proba(Xt)
        assert p.shape == (30, 3) and np.allclose(p.sum(axis=1), 1)


def test_linear_head_defaults_and_early_stopping():
    head = build_head("classify/linear")
    assert (head.lr, head.weight_decay) == (1e-4, 0.01)
    X, y = _blobs(n=60)
    head.set_params(lr=0.5, patience=2, max_epochs=500).fit(X, y)
    assert head.n_epochs_ < 500  # validation loss stopped improving long before the cap
    assert list(head.classes_) == ["a", "b", "c"]


def test_linear_head_is_deterministic():
    X, y = _blobs(n=60)
    a = build_head("classify/linear", lr=1e-2, max_epochs=20).fit(X, y).decision_function(X)
    b = build_head("classify/linear", lr=1e-2, max_epochs=20).fit(X, y).decision_function(X)
    np.testing.assert_array_equal(a, b)
