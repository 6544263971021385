"""The serving view of the HeightCeleb head gives what the head gives for one-utterance speakers, folded or not."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from embedforge.modalities.speech.heightceleb import HeightHead
from embedforge.tasks.train import PerRowHeight

HEIGHT_CM_TOL, PROB_TOL = 1e-6, 1e-9  # folded vs sklearn: float64 rounding only


def _fitted(regressor: str = "pls", sexes=("f", "m"), dim: int = 16) -> tuple[HeightHead, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, dim)).astype(np.float32) * rng.uniform(0.2, 5, dim).astype(np.float32)
    groups = np.repeat(np.arange(40), 3).astype(str)
    sex = np.array(sexes)[np.arange(120) % len(sexes)]
    height = rng.normal(170, 8, 120) + 5 * X[:, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the single-sex case warns by design
        return HeightHead(regressor=regressor).fit(X, height, sex, groups), X


def _assert_same(served, ref) -> None:
    np.testing.assert_allclose(served["height_cm"], ref["height_pred"], rtol=0, atol=HEIGHT_CM_TOL)
    np.testing.assert_allclose(served["sex_prob"], ref["sex_prob"], rtol=0, atol=PROB_TOL)
    assert list(served["sex"]) == list(ref["sex_pred"]) and list(served.columns) == ["height_cm", "sex", "sex_prob"]


@pytest.mark.parametrize("regressor", ["pls", "ridge", "svr"])
def test_folded_view_matches_the_heads_sklearn_models(regressor):
    head, X = _fitted(regressor)
    view = PerRowHeight(head)
    assert view.affine_ is not None and view.affine_.W.shape == (16, 3)  # sex decision + one height per sex
    Q = np.vstack([X[:9], np.random.default_rng(1).normal(0, 4, (40, 16))]).astype(np.float32)
    served = view.predict_vectors(Q)
    _assert_same(served, head.predict(Q, [f"{i:03d}" for i in range(len(Q))]))
    proba, sex, height = view._sklearn(np.asarray(Q, dtype=np.float64))
    assert list(served["sex"]) == list(sex)
    np.testing.assert_allclose(served["height_cm"], height, rtol=0, atol=HEIGHT_CM_TOL)
    np.testing.assert_allclose(served["sex_prob"], proba.max(axis=1), rtol=0, atol=PROB_TOL)
    assert set(served["sex"]) == {"f", "m"}  # both routes of the per-sex height taken


def test_a_non_linear_height_model_keeps_the_sklearn_path():
    head, X = _fitted()
    for s in ("f", "m"):
        head.height_models_[s] = make_pipeline(StandardScaler(), SVR(kernel="rbf", C=10)).fit(X[:60], 170 + X[:60, 0])
    view = PerRowHeight(head)
    assert view.affine_ is None
    _assert_same(view.predict_vectors(X[:12]), head.predict(X[:12], [f"{i:02d}" for i in range(12)]))


def test_a_single_sex_head_is_served_unfolded():
    head, X = _fitted(sexes=("m",))
    view = PerRowHeight(head)
    assert view.affine_ is None  # the constant (Dummy) classifier has no decision function to fold
    _assert_same(view.predict_vectors(X[:5]), head.predict(X[:5], list("abcde")))


def test_views_pickled_before_folding_fold_when_loaded():
    head, X = _fitted("ridge")
    old = PerRowHeight(head)
    del old.affine_  # the state a view registered before this change was pickled with
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.affine_ is not None
    _assert_same(loaded.predict_vectors(X[:6]), head.predict(X[:6], list("abcdef")))
