"""Folding scaler + linear sklearn models into one affine map: exact where the model is affine, refused elsewhere."""

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.svm import SVR, LinearSVR

from embedforge.tasks.affine import binary_proba, fold_binary_classifier, fold_regressor

DIM = 12


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(5.0, 3.0, (80, DIM)) * rng.uniform(0.1, 10, DIM)  # columns of very different scales
    y = 170 + X @ rng.normal(0, 0.5, DIM) + rng.normal(0, 1, 80)
    return X, y, (y > np.median(y)).astype(int), rng.normal(5.0, 6.0, (30, DIM))


LINEAR = {
    "pls": lambda: PLSRegression(n_components=3, scale=False),
    "ridge": lambda: RidgeCV(alphas=np.logspace(-2, 4, 13)),
    "linear svr": lambda: SVR(kernel="linear", epsilon=1.0),
    "liblinear svr": lambda: LinearSVR(epsilon=1.0, max_iter=20000),
    "ols, no scaler": LinearRegression,
}


@pytest.mark.parametrize("kind", LINEAR)
def test_linear_regressors_fold_to_their_own_predictions(kind, data):
    X, y, _, Q = data
    model = LINEAR[kind]() if kind.endswith("no scaler") else make_pipeline(StandardScaler(), LINEAR[kind]())
    model.fit(X, y)
    affine = fold_regressor(model, DIM)
    assert affine is not None and affine.W.shape == (DIM, 1)
    np.testing.assert_allclose(affine(Q)[:, 0], np.ravel(model.predict(Q)), rtol=1e-9, atol=1e-7)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # a short MLP is enough here
@pytest.mark.parametrize(
    "model",
    [
        make_pipeline(StandardScaler(), SVR(kernel="rbf")),
        make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0)),
        make_pipeline(PolynomialFeatures(2), StandardScaler(), RidgeCV()),
    ],
    ids=["rbf svr", "mlp", "polynomial features"],
)
def test_models_without_an_affine_map_are_not_folded(model, data):
    X, y, _, _ = data
    assert fold_regressor(model.fit(X, y), DIM) is None


def test_binary_logistic_pipeline_folds_to_its_probabilities(data):
    X, _, labels, Q = data
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000)).fit(
        X, np.array(["f", "m"])[labels]
    )
    affine = fold_binary_classifier(model, DIM)
    assert affine is not None
    np.testing.assert_allclose(binary_proba(affine(Q)[:, 0]), model.predict_proba(Q), rtol=0, atol=1e-12)
    np.testing.assert_allclose(affine(Q)[:, 0], model.decision_function(Q), rtol=1e-9, atol=1e-9)


def test_classifiers_it_cannot_fold_are_left_to_sklearn(data):
    X, _, labels, _ = data
    three = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, labels + (X[:, 0] > 5))
    assert len(three.classes_) == 3 and fold_binary_classifier(three, DIM) is None
    assert fold_binary_classifier(DummyClassifier().fit(X, labels), DIM) is None
