"""Heads on stored vectors, shared by every modality: sklearn-style estimators (fit / predict).

The name says how the leaderboard scores a head (:func:`embedforge.registry.heads.head_task`):
``regress/*`` heads are regression heads, the rest classifiers, unless a factory sets ``task``.

- ``classify/*`` heads predict class labels (``predict_proba`` where they can) and are scored with
  accuracy, macro-F1 and AUC: ``logreg`` (standardise + logistic regression), ``rf`` (random
  forest), ``linear`` (one torch linear layer, AdamW lr 1e-4, weight decay 0.01, early stopping on
  a stratified validation split, as the TiRex classification paper), ``ridge`` (standardise +
  RidgeClassifierCV over 10 alphas in [1e-3, 1e3], the MiniRocket paper's head).
- ``regress/*`` heads predict one number and are scored with MAE, RMSE and R²: ``ridge``
  (standardise + RidgeCV), ``pls`` (PLSRegression, components chosen by K-fold CV, capped by the
  feature and sample counts), ``svr`` (standardise inputs and target + RBF SVR), ``mlp`` (a small
  torch MLP, early stopping on a validation part of the training set, like ``classify/linear``).

Plugins register their own heads under the same two prefixes.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np

from embedforge.registry.heads import HEADS

RIDGE_ALPHAS = (-3.0, 3.0)  # log10 range of the ridge grids


def make_logreg(C: float = 1.0, max_iter: int = 2000, seed: int = 0) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))


def make_rf(n_estimators: int = 300, seed: int = 0, n_jobs: int = 1) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs)


def make_ridge(alphas: tuple[float, ...] | None = None) -> Any:
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    grid = np.logspace(*RIDGE_ALPHAS, 10) if alphas is None else np.asarray(alphas)
    return make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=grid))


def make_ridge_regressor(alphas: tuple[float, ...] | None = None) -> Any:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    grid = np.logspace(*RIDGE_ALPHAS, 13) if alphas is None else np.asarray(alphas)
    return make_pipeline(StandardScaler(), RidgeCV(alphas=grid))


def make_svr(C: float = 1.0, epsilon: float = 0.1, kernel: str = "rbf") -> Any:
    """The target is standardised too, so C and epsilon mean the same for bpm as for centimetres."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    model = make_pipeline(StandardScaler(), SVR(C=C, epsilon=epsilon, kernel=kernel))
    return TransformedTargetRegressor(regressor=model, transformer=StandardScaler())


class Params:
    """sklearn's get_params / set_params read off ``__init__``, without importing sklearn to register."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {k: getattr(self, k) for k in names}

    def set_params(self, **params: Any) -> Any:
        for k, v in params.items():
            setattr(self, k, v)
        return self


class PLSHead(Params):
    """PLS regression whose component count is the K-fold CV winner among 1..cap."""

    def __init__(self, max_components: int = 10, cv: int = 5, seed: int = 0) -> None:
        self.max_components, self.cv, self.seed = max_components, cv, seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> PLSHead:
        from sklearn.cross_decomposition import PLSRegression
        from sklearn.model_selection import GridSearchCV, KFold

        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
        folds = min(self.cv, len(X) // 2)
        fold_train = len(X) - -(-len(X) // max(folds, 1))  # the smallest training part of a fold
        cap = max(1, min(self.max_components, X.shape[1], fold_train - 1 if folds >= 2 else len(X) - 1))
        if folds < 2 or cap == 1:
            self.n_components_ = cap
        else:
            search = GridSearchCV(
                PLSRegression(scale=True),
                {"n_components": list(range(1, cap + 1))},
                cv=KFold(folds, shuffle=True, random_state=self.seed),
                scoring="neg_mean_squared_error",
            ).fit(X, y)
            self.n_components_ = int(search.best_params_["n_components"])
        self.model_ = PLSRegression(n_components=self.n_components_, scale=True).fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.ravel(self.model_.predict(np.asarray(X, dtype=np.float64)))


class TorchHead(Params):
    """A small torch network trained with AdamW, stopping when a held-out part of the training set stops improving.

    Subclasses say how targets become tensors (:meth:`_targets`), the network (:meth:`_network`) and the loss.
    """

    lr: float
    weight_decay: float
    max_epochs: int
    batch_size: int
    val_fraction: float
    patience: int
    delta: float
    seed: int

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Training targets as a numpy array for torch, and class indices to stratify on (or None)."""
        raise NotImplementedError

    def _network(self, dim: int) -> Any:
        raise NotImplementedError

    def _loss(self, out: Any, y: Any) -> Any:
        raise NotImplementedError

    def fit(self, X: np.ndarray, y: np.ndarray) -> Any:
        import torch

        torch.manual_seed(self.seed)
        X = self._inputs(np.asarray(X, dtype=np.float32), fit=True)
        target, strata = self._targets(np.asarray(y))
        tr, va = self._split(len(X), strata)
        self.model_ = self._network(X.shape[1])
        opt = torch.optim.AdamW(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(target)
        best, best_state, wait = np.inf, copy.deepcopy(self.model_.state_dict()), 0
        gen = torch.Generator().manual_seed(self.seed)
        for epoch in range(1, self.max_epochs + 1):
            self.n_epochs_ = epoch
            self._epoch(Xt[tr], yt[tr], opt, gen)
            loss = self._eval_loss(Xt[va], yt[va]) if len(va) else self._eval_loss(Xt[tr], yt[tr])
            if loss < best - self.delta:
                best, best_state, wait = loss, copy.deepcopy(self.model_.state_dict()), 0
            else:
                wait += 1
                if wait >= self.patience:
                    break
        self.model_.load_state_dict(best_state)
        self.best_val_loss_ = best
        return self

    def _inputs(self, X: np.ndarray, fit: bool = False) -> np.ndarray:
        return X

    def _split(self, n: int, strata: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Stratified hold-out when every class can spare a sample; else a plain random one."""
        from sklearn.model_selection import train_test_split

        idx = np.arange(n)
        n_val = round(self.val_fraction * len(idx))
        if n_val < 1 or len(idx) - n_val < 1:
            return idx, idx[:0]
        if strata is not None and (np.bincount(strata).min() < 2 or n_val < len(np.unique(strata))):
            strata = None
        tr, va = train_test_split(idx, test_size=n_val, random_state=self.seed, stratify=strata)
        return np.sort(tr), np.sort(va)

    def _epoch(self, X, y, opt, gen) -> None:
        import torch

        self.model_.train()
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), self.batch_size):
            batch = order[start : start + self.batch_size]
            opt.zero_grad()
            self._loss(self.model_(X[batch]), y[batch]).backward()
            opt.step()

    def _eval_loss(self, X, y) -> float:
        import torch

        self.model_.eval()
        with torch.no_grad():
            return float(self._loss(self.model_(X), y))

    def _forward(self, X: np.ndarray) -> np.ndarray:
        import torch

        self.model_.eval()
        with torch.no_grad():
            return self.model_(torch.from_numpy(self._inputs(np.asarray(X, dtype=np.float32)))).numpy()


class LinearHead(TorchHead):
    """A linear layer trained with AdamW and early stopping on a held-out part of the training set."""

    def __init__(
        self,
        lr: float = 1e-4,
        weight_decay: float = 0.01,
        max_epochs: int = 200,
        batch_size: int = 64,
        val_fraction: float = 0.2,
        patience: int = 7,
        delta: float = 1e-4,
        dropout: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.lr, self.weight_decay, self.max_epochs = lr, weight_decay, max_epochs
        self.batch_size, self.val_fraction, self.patience = batch_size, val_fraction, patience
        self.delta, self.dropout, self.seed = delta, dropout, seed

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.classes_, target = np.unique(y, return_inverse=True)
        return target.astype(np.int64), target

    def _network(self, dim: int):
        import torch

        return torch.nn.Sequential(torch.nn.Dropout(self.dropout), torch.nn.Linear(dim, len(self.classes_)))

    def _loss(self, out, y):
        import torch

        return torch.nn.functional.cross_entropy(out, y)

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self._forward(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = self.decision_function(X)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))


class MLPRegressorHead(TorchHead):
    """One hidden ReLU layer on standardised inputs, MSE on the standardised target, early stopping."""

    def __init__(
        self,
        hidden: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        max_epochs: int = 500,
        batch_size: int = 64,
        val_fraction: float = 0.2,
        patience: int = 20,
        delta: float = 1e-4,
        dropout: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.hidden, self.lr, self.weight_decay, self.max_epochs = hidden, lr, weight_decay, max_epochs
        self.batch_size, self.val_fraction, self.patience = batch_size, val_fraction, patience
        self.delta, self.dropout, self.seed = delta, dropout, seed

    def _inputs(self, X: np.ndarray, fit: bool = False) -> np.ndarray:
        if fit:
            self.x_mean_, self.x_std_ = X.mean(axis=0), X.std(axis=0) + 1e-8
        return ((X - self.x_mean_) / self.x_std_).astype(np.float32)

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, None]:
        y = y.astype(np.float64)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std()) or 1.0
        return ((y - self.y_mean_) / self.y_std_).astype(np.float32)[:, None], None

    def _network(self, dim: int):
        import torch

        return torch.nn.Sequential(
            torch.nn.Linear(dim, self.hidden),
            torch.nn.ReLU(),
            torch.nn.Dropout(self.dropout),
            torch.nn.Linear(self.hidden, 1),
        )

    def _loss(self, out, y):
        import torch

        return torch.nn.functional.mse_loss(out, y)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._forward(X)[:, 0].astype(np.float64) * self.y_std_ + self.y_mean_


HEADS.register("classify/logreg", make_logreg)
HEADS.register("classify/rf", make_rf)
HEADS.register("classify/linear", LinearHead)
HEADS.register("classify/ridge", make_ridge)
HEADS.register("regress/ridge", make_ridge_regressor)
HEADS.register("regress/pls", PLSHead)
HEADS.register("regress/svr", make_svr)
HEADS.register("regress/mlp", MLPRegressorHead)
