"""Slide heads on bags of stored tile vectors: ``mil/mean``, ``mil/abmil`` (gated attention), ``mil/r2t``.

Every head fits ``fit(bags, y)`` on a list of (n_tiles, d) arrays and answers ``predict_proba(bags)``,
``predict(bags)`` and ``attention(bag)``; ``works_on = "bags"`` tells the leaderboard to group rows by
slide. The torch heads train one bag per step with Adam, a cosine schedule to 0 and cross-entropy, and
stop early on the AUC of a validation split carved from the training bags (never the test bags).
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from embedforge.registry.heads import HEADS

# The reference's optimisation (RRT-MIL main.py): Adam 2e-4, weight decay 1e-5, cosine to 0; patience as CLAM's.
TRAINING: dict[str, Any] = {
    "lr": 2e-4,
    "weight_decay": 1e-5,
    "max_epochs": 60,
    "patience": 10,
    "val_fraction": 0.25,
    "dropout": 0.25,
    "seed": 0,
}


class BagHead:
    """Shared label handling and prediction for bag classifiers."""

    works_on = "bags"
    classes_: np.ndarray
    params: dict[str, Any]

    def predict_proba(self, bags: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def predict(self, bags: list[np.ndarray]) -> np.ndarray:
        return self.classes_[self.predict_proba(bags).argmax(axis=1)]

    def score_bags(self, *, feats, X: np.ndarray, label: str):
        """Leaderboard hook: rows grouped into slides, fitted on train slides, scored on test slides."""
        from embedforge.modalities.pathology.bags import score_bags

        return score_bags(self, feats=feats, X=X, label=label)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return dict(self.params)

    def _encode(self, y) -> np.ndarray:
        self.classes_, target = np.unique(np.asarray(y).astype(str), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"need at least two classes to train a slide head, got {list(self.classes_)}")
        return target


class MeanMIL(BagHead):
    """Mean-pooled tile vectors, standardised, logistic regression: the baseline."""

    def __init__(self, C: float = 1.0, max_iter: int = 2000, seed: int = 0) -> None:
        self.params = {"C": C, "max_iter": max_iter, "seed": seed}

    def fit(self, bags: list[np.ndarray], y) -> MeanMIL:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        target = self._encode(y)
        p = self.params
        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(C=p["C"], max_iter=p["max_iter"]))
        self.model_.fit(np.stack([b.mean(axis=0) for b in bags]), target)
        return self

    def predict_proba(self, bags: list[np.ndarray]) -> np.ndarray:
        return self.model_.predict_proba(np.stack([np.asarray(b, np.float32).mean(axis=0) for b in bags]))

    def attention(self, bag: np.ndarray) -> np.ndarray:
        return np.full(len(bag), 1.0 / len(bag))


class TorchBagHead(BagHead):
    """Adam + cosine schedule, one bag per step, early stopping on validation AUC with a patience."""

    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown options {sorted(unknown)}")
        self.params = {**self.defaults, **params}

    def build(self, dim: int, n_classes: int):
        raise NotImplementedError

    def fit(self, bags: list[np.ndarray], y) -> TorchBagHead:
        import torch

        p, target = self.params, self._encode(y)
        torch.manual_seed(p["seed"])
        tr, va = validation_split(target, p["val_fraction"], p["seed"])
        self.model_ = self.build(bags[0].shape[1], len(self.classes_))
        opt = torch.optim.Adam(self.model_.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, p["max_epochs"], 0)
        data = [torch.from_numpy(np.asarray(b, np.float32)) for b in bags]
        rng = np.random.default_rng(p["seed"])
        best, best_state, wait = (-np.inf, -np.inf), copy.deepcopy(self.model_.state_dict()), 0
        for self.n_epochs_ in range(1, p["max_epochs"] + 1):
            self._epoch(data, target, tr, opt, rng)
            sched.step()
            score = self._validate([data[i] for i in va], target[va]) if len(va) else (0.0, float(self.n_epochs_))
            if score > best:
                best, best_state, wait = score, copy.deepcopy(self.model_.state_dict()), 0
            else:
                wait += 1
                if wait >= p["patience"]:
                    break
        self.model_.load_state_dict(best_state)
        self.model_.eval()
        self.val_auc_, self.val_loss_ = float(best[0]), float(-best[1])
        return self

    def _epoch(self, data, target, train_idx, opt, rng) -> None:
        """One pass over the training bags in a fresh order, one bag per step."""
        import torch

        self.model_.train()
        for i in rng.permutation(train_idx):
            opt.zero_grad()
            logits, _ = self.model_(data[i])
            torch.nn.functional.cross_entropy(logits, torch.tensor([int(target[i])])).backward()
            opt.step()

    def _validate(self, bags, target) -> tuple[float, float]:
        """(AUC, -loss) on the validation bags: AUC first, loss breaks ties."""
        import torch

        proba = self._proba(bags)
        loss = float(torch.nn.functional.nll_loss(torch.log(torch.from_numpy(proba) + 1e-12), torch.from_numpy(target)))
        auc = roc_auc(target, proba)
        return (0.0 if np.isnan(auc) else auc, -loss)

    def _proba(self, bags) -> np.ndarray:
        import torch

        self.model_.eval()
        with torch.inference_mode():
            out = [self.model_(torch.as_tensor(np.asarray(b, np.float32)))[0].softmax(-1)[0].numpy() for b in bags]
        return np.stack(out)

    def predict_proba(self, bags: list[np.ndarray]) -> np.ndarray:
        return self._proba(bags)

    def attention(self, bag: np.ndarray) -> np.ndarray:
        import torch

        self.model_.eval()
        with torch.inference_mode():
            return self.model_(torch.as_tensor(np.asarray(bag, np.float32)))[1].reshape(-1).numpy()


class ABMIL(TorchBagHead):
    """``mil/abmil``: gated attention MIL with CLAM's sizes."""

    defaults: ClassVar[dict[str, Any]] = {**TRAINING}

    def build(self, dim: int, n_classes: int):
        from embedforge.modalities.pathology.abmil import GatedABMIL

        return GatedABMIL(dim, n_classes, dropout=self.params["dropout"])


class R2TMIL(TorchBagHead):
    """``mil/r2t``: R²T-MIL (re-embedding + AB-MIL pooling), options as the reference tunes them."""

    defaults: ClassVar[dict[str, Any]] = {
        **TRAINING,
        **{"epeg_k": 15, "crmsa_k": 3, "region_num": 8, "heads": 8, "epeg": True, "cr_msa": True},
    }

    def build(self, dim: int, n_classes: int):
        from embedforge.modalities.pathology.rrt import RRTMIL

        p = self.params
        return RRTMIL(dim, n_classes, dropout=p["dropout"], region_num=int(p["region_num"]), heads=int(p["heads"]),
                      epeg=bool(p["epeg"]), epeg_k=int(p["epeg_k"]), cr_msa=bool(p["cr_msa"]),
                      crmsa_k=int(p["crmsa_k"]))  # fmt: skip


def validation_split(target: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified hold-out of the training bags (at least one per class when every class can spare one)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(target):
        idx = rng.permutation(np.flatnonzero(target == c))
        n_val = min(len(idx) - 1, max(1, round(fraction * len(idx)))) if len(idx) > 1 and fraction > 0 else 0
        val += list(idx[:n_val])
        train += list(idx[n_val:])
    return np.sort(np.array(train, int)), np.sort(np.array(val, int))


def roc_auc(target: np.ndarray, proba: np.ndarray) -> float:
    """Binary AUC on the positive class, macro one-vs-rest otherwise; NaN when a class is missing."""
    from sklearn.metrics import roc_auc_score

    present = np.unique(target)
    if len(present) < 2:
        return float("nan")
    if proba.shape[1] == 2:
        return float(roc_auc_score(target, proba[:, 1]))
    if len(present) < proba.shape[1]:
        return float("nan")
    return float(roc_auc_score(target, proba, multi_class="ovr", average="macro"))


def bag_metrics(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy, AUC and macro-F1 of slide predictions."""
    from sklearn.metrics import balanced_accuracy_score, f1_score

    index = {c: i for i, c in enumerate(classes)}
    target = np.array([index.get(str(v), -1) for v in y_true])
    pred = proba.argmax(axis=1)
    known = target >= 0
    return {
        "accuracy": float(np.mean(pred == target)),
        "balanced_accuracy": float(balanced_accuracy_score(target, pred)),
        "auc": roc_auc(target[known], proba[known]) if known.all() else float("nan"),
        "macro_f1": float(f1_score(target, pred, average="macro")),
    }


HEADS.register("mil/mean", MeanMIL)
HEADS.register("mil/abmil", ABMIL)
HEADS.register("mil/r2t", R2TMIL)
