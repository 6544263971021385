"""Classifier heads on stored features: plain sklearn-style estimators (fit / predict / predict_proba).

- ``classify/logreg``: standardise + logistic regression.
- ``classify/rf``: random forest (no scaling needed).
- ``classify/linear``: one torch linear layer, AdamW (lr 1e-4, weight decay 0.01), early stopping
  on a stratified validation split, as the TiRex classification paper's linear head.
- ``classify/ridge``: standardise + RidgeClassifierCV over 10 alphas in [1e-3, 1e3], the head
  of the MiniRocket paper (Dempster et al. 2021).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from embedforge.registry.heads import HEADS


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

    alphas = np.logspace(-3, 3, 10) if alphas is None else np.asarray(alphas)
    return make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=alphas))


class LinearHead:
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

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        keys = (
            "lr",
            "weight_decay",
            "max_epochs",
            "batch_size",
            "val_fraction",
            "patience",
            "delta",
            "dropout",
            "seed",
        )
        return {k: getattr(self, k) for k in keys}

    def set_params(self, **params: Any) -> LinearHead:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def fit(self, X: np.ndarray, y: np.ndarray) -> LinearHead:
        import torch

        torch.manual_seed(self.seed)
        X = np.asarray(X, dtype=np.float32)
        self.classes_, target = np.unique(np.asarray(y), return_inverse=True)
        tr, va = self._split(target)
        self.model_ = torch.nn.Sequential(
            torch.nn.Dropout(self.dropout), torch.nn.Linear(X.shape[1], len(self.classes_))
        )
        opt = torch.optim.AdamW(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(target.astype(np.int64))
        best, best_state, wait = np.inf, copy.deepcopy(self.model_.state_dict()), 0
        gen = torch.Generator().manual_seed(self.seed)
        for self.n_epochs_ in range(1, self.max_epochs + 1):
            self._epoch(Xt[tr], yt[tr], opt, gen)
            loss = self._loss(Xt[va], yt[va]) if len(va) else self._loss(Xt[tr], yt[tr])
            if loss < best - self.delta:
                best, best_state, wait = loss, copy.deepcopy(self.model_.state_dict()), 0
            else:
                wait += 1
                if wait >= self.patience:
                    break
        self.model_.load_state_dict(best_state)
        self.best_val_loss_ = best
        return self

    def _split(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stratified hold-out when every class can spare a sample; else a plain random one."""
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(target))
        n_val = int(round(self.val_fraction * len(idx)))
        if n_val < 1 or len(idx) - n_val < 1:
            return idx, idx[:0]
        strat = target if np.bincount(target).min() >= 2 and n_val >= len(self.classes_) else None
        tr, va = train_test_split(idx, test_size=n_val, random_state=self.seed, stratify=strat)
        return np.sort(tr), np.sort(va)

    def _epoch(self, X, y, opt, gen) -> None:
        import torch

        self.model_.train()
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), self.batch_size):
            batch = order[start : start + self.batch_size]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(self.model_(X[batch]), y[batch]).backward()
            opt.step()

    def _loss(self, X, y) -> float:
        import torch

        self.model_.eval()
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(self.model_(X), y))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        import torch

        self.model_.eval()
        with torch.no_grad():
            return self.model_(torch.from_numpy(np.asarray(X, dtype=np.float32))).numpy()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = self.decision_function(X)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))


HEADS.register("classify/logreg", make_logreg)
HEADS.register("classify/rf", make_rf)
HEADS.register("classify/linear", LinearHead)
HEADS.register("classify/ridge", make_ridge)
