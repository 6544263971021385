"""Slide heads on bags of stored tile vectors: ``mil/mean``, ``mil/abmil`` (gated attention), ``mil/r2t``.

Every head fits ``fit(bags, y)`` on a list of (n_tiles, d) arrays and answers ``predict_proba(bags)``,
``predict(bags)`` and ``attention(bag)``; ``score_bags`` (the ``BagScorer`` protocol) tells the leaderboard to
group rows by slide. The torch heads train one bag per step with cross-entropy under a named training preset
(``-o preset=reference`` on the command line): the reference repository's own schedule, or ``small``, a
faster one for small cohorts (the default). The preset's name and every value it resolves to are the head's
params, so MLflow logs them with the run; any single value can still be overridden (``-o max_epochs=20``).
Early stopping and the kept checkpoint follow a validation split carved from the training bags, never the
test bags.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from embedforge.registry.heads import HEADS

# The reference's optimisation (RRT-MIL main.py): Adam 2e-4, weight decay 1e-5, cosine to 0 over the epochs;
# here over 60 epochs with a short patience, AUC first and validation loss breaking its ties (small cohorts
# give small validation sets whose AUC ties often).
SMALL: dict[str, Any] = {
    "max_epochs": 60,
    "lr": 2e-4,
    "weight_decay": 1e-5,
    "optimizer": "adam",
    "scheduler": "cosine",
    "monitor": "val_auc,val_loss",
    "patience": 10,
    "min_epoch": 0,
    "checkpoint": "first-best",
    "seed": 0,
}

# DearCaat/RRT-MIL main.py, as every README training command runs it: 200 epochs, Adam 2e-4 with weight decay
# 1e-5, CosineAnnealingLR(T_max=200, eta_min=0) stepped once an epoch, seed 2021; its EarlyStopping on the
# validation AUC with patience 30 and stop_epoch 130 for Camelyon16 (``reference``), 20 and 70 for TCGA
# (``reference-tcga``); the model kept is the first epoch of the best AUC (``auc_value > opt_auc``).
RRT_REFERENCE: dict[str, Any] = {
    "max_epochs": 200,
    "lr": 2e-4,
    "weight_decay": 1e-5,
    "optimizer": "adam",
    "scheduler": "cosine",
    "monitor": "val_auc",
    "patience": 30,
    "min_epoch": 130,
    "checkpoint": "first-best",
    "seed": 2021,
}

# mahmoodlab/CLAM main.py + utils/core_utils.py defaults: 200 epochs, Adam 1e-4 with weight decay (--reg) 1e-5,
# no scheduler, seed 1; EarlyStopping(patience=20, stop_epoch=50) on the validation loss, the checkpoint saved
# whenever the loss is not worse (so the last epoch of the best loss is kept).
CLAM_REFERENCE: dict[str, Any] = {
    "max_epochs": 200,
    "lr": 1e-4,
    "weight_decay": 1e-5,
    "optimizer": "adam",
    "scheduler": "none",
    "monitor": "val_loss",
    "patience": 20,
    "min_epoch": 50,
    "checkpoint": "last-best",
    "seed": 1,
}


def _choice(*allowed: str) -> Callable[[Any], str]:
    def coerce(value: Any) -> str:
        if str(value) not in allowed:
            raise ValueError(f"expected one of {list(allowed)}, got {value!r}")
        return str(value)

    return coerce


def _bool(value: Any) -> bool:
    """True/False, 1/0 and their spellings on a command line (``-o all_shortcut=true``)."""
    if isinstance(value, bool | int | np.integer) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _int(value: Any) -> int:
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(float(value))


TRAINING_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "max_epochs": _int,
    "lr": float,
    "weight_decay": float,
    "optimizer": _choice("adam", "adamw"),
    "scheduler": _choice("cosine", "none"),
    "monitor": _choice("val_auc", "val_loss", "val_auc,val_loss"),
    "patience": _int,
    "min_epoch": _int,
    "checkpoint": _choice("first-best", "last-best"),
    "seed": _int,
    "val_fraction": float,
    "dropout": float,
}


def seed_everything(seed: int) -> None:
    """The references' ``seed_torch``: Python, NumPy and torch (CPU and every GPU) seeded, cuDNN deterministic
    with benchmarking off, PYTHONHASHSEED set (for any worker process started after it)."""
    import os
    import random

    import torch

    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


class EarlyStopping:
    """The references' EarlyStopping (RRT-MIL utils.py and CLAM core_utils.py are the same code), on a score to
    maximise: a worse score than the best so far counts one, an equal or better one resets the count; training
    stops once the count reaches ``patience`` and the (0-based) epoch is past ``min_epoch``."""

    def __init__(self, patience: int, min_epoch: int) -> None:
        self.patience, self.min_epoch = patience, min_epoch
        self.best: Any = None
        self.counter, self.stop = 0, False

    def __call__(self, epoch: int, score: Any) -> bool:
        if self.best is None:
            self.best = score
        elif score < self.best:
            self.counter += 1
            if self.counter >= self.patience and epoch > self.min_epoch:
                self.stop = True
        else:
            self.best, self.counter = score, 0
        return self.stop


class BagHead:
    """Shared label handling and prediction for bag classifiers."""

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
    """One bag per step under a named training preset; early stopping and the kept checkpoint on validation bags.

    A preset fixes the epochs, optimiser (Adam or AdamW), learning rate, weight decay, scheduler (cosine to 0
    over the epochs, stepped once an epoch, or none), the monitored validation score (``val_auc``,
    ``val_loss`` or ``val_auc,val_loss``: AUC with the loss breaking ties), the patience, the earliest stop
    (``min_epoch``: stopping needs the 0-based epoch past it, as the references' ``epoch > stop_epoch``),
    which of equally good epochs is kept (``first-best``/``last-best``) and the seed. Options given beside it
    override single values; ``get_params`` answers the preset's name and the resolved values.

    Deliberately unlike both references: the validation bags are a stratified ``val_fraction`` of the
    training bags (at least one per class where a class can spare one); the test bags are never seen before
    scoring. (RRT-MIL's main.py validates on the test fold itself unless ``--val_ratio`` is set; CLAM reads a
    validation split from its split files.) With no validation bag to spare, every epoch runs and the last
    is kept.
    """

    presets: ClassVar[dict[str, dict[str, Any]]] = {"small": SMALL}
    model_defaults: ClassVar[dict[str, Any]] = {"val_fraction": 0.25, "dropout": 0.25}
    model_options: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def __init__(self, preset: str = "small", **params: Any) -> None:
        if preset not in self.presets:
            raise ValueError(f"{type(self).__name__}: unknown preset {preset!r}; known: {sorted(self.presets)}")
        options = {**TRAINING_OPTIONS, **self.model_options}
        unknown = set(params) - set(options)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown options {sorted(unknown)}")
        resolved = {**self.model_defaults, **self.presets[preset]}
        for key, value in params.items():
            try:
                resolved[key] = options[key](value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{type(self).__name__}: option {key}: {exc}") from None
        if resolved["max_epochs"] < 1 or resolved["patience"] < 1:
            raise ValueError(f"{type(self).__name__}: max_epochs and patience must be at least 1")
        self.params = {"preset": preset, **resolved}

    def build(self, dim: int, n_classes: int):
        raise NotImplementedError

    def fit(self, bags: list[np.ndarray], y) -> TorchBagHead:
        import torch

        p, target = self.params, self._encode(y)
        seed_everything(p["seed"])
        tr, va = validation_split(target, p["val_fraction"], p["seed"])
        self.model_ = self.build(bags[0].shape[1], len(self.classes_))
        optimizer = torch.optim.AdamW if p["optimizer"] == "adamw" else torch.optim.Adam
        opt = optimizer(self.model_.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        sched = (
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, p["max_epochs"], 0) if p["scheduler"] == "cosine" else None
        )
        data = [torch.from_numpy(np.asarray(b, np.float32)) for b in bags]
        rng = np.random.default_rng(p["seed"])
        stopper = EarlyStopping(p["patience"], p["min_epoch"])
        best, best_state, self.best_epoch_ = None, copy.deepcopy(self.model_.state_dict()), 0
        self.history_: list[tuple[float, float]] = []
        for epoch in range(p["max_epochs"]):
            self.n_epochs_ = epoch + 1
            self._epoch(data, target, tr, opt, rng)
            if sched is not None:
                sched.step()
            if not len(va):
                best_state, self.best_epoch_ = None, epoch + 1
                continue
            auc, loss = self._validate([data[i] for i in va], target[va])
            self.history_.append((auc, loss))
            score = self._score(auc, loss)
            if best is None or score > best or (score == best and p["checkpoint"] == "last-best"):
                best, best_state, self.best_epoch_ = score, copy.deepcopy(self.model_.state_dict()), epoch + 1
            if stopper(epoch, score):
                break
        if best_state is not None:
            self.model_.load_state_dict(best_state)
        self.model_.eval()
        at_best = self.history_[self.best_epoch_ - 1] if self.history_ else (float("nan"), float("nan"))
        self.val_auc_, self.val_loss_ = at_best
        return self

    def _score(self, auc: float, loss: float) -> Any:
        """The monitored score, higher is better."""
        monitor = self.params["monitor"]
        return auc if monitor == "val_auc" else -loss if monitor == "val_loss" else (auc, -loss)

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
        """(AUC, mean cross-entropy) on the validation bags; an AUC that cannot be computed counts 0."""
        import torch

        proba = self._proba(bags)
        loss = float(torch.nn.functional.nll_loss(torch.log(torch.from_numpy(proba) + 1e-12), torch.from_numpy(target)))
        auc = roc_auc(target, proba)
        return (0.0 if np.isnan(auc) else auc, loss)

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
    """``mil/abmil``: gated attention MIL, CLAM's AB-MIL (``CLAM_SB`` without instance clustering), its sizes.

    Presets: ``small`` (default; see ``SMALL``) and ``reference``, CLAM's own training: Adam 1e-4, weight
    decay 1e-5, no scheduler, up to 200 epochs, early stopping on the validation loss with patience 20 not
    before epoch 50, the checkpoint of the best validation loss kept, seed 1 (``CLAM_REFERENCE``). Model
    options: ``dropout`` (0.25, CLAM's ``--drop_out``), ``size`` (``small`` 512/256 or ``big`` 512/384).
    Validation bags come from the training bags, never the test bags (see ``TorchBagHead``).
    """

    presets: ClassVar[dict[str, dict[str, Any]]] = {"small": SMALL, "reference": CLAM_REFERENCE}
    model_defaults: ClassVar[dict[str, Any]] = {**TorchBagHead.model_defaults, "size": "small"}
    model_options: ClassVar[dict[str, Callable[[Any], Any]]] = {"size": _choice("small", "big")}

    def build(self, dim: int, n_classes: int):
        from embedforge.modalities.pathology.abmil import SIZES, GatedABMIL

        hidden, attn_hidden = SIZES[self.params["size"]]
        return GatedABMIL(dim, n_classes, hidden, attn_hidden, dropout=self.params["dropout"])


class R2TMIL(TorchBagHead):
    """``mil/r2t``: R²T-MIL (re-embedding + AB-MIL pooling), options as the reference names and tunes them.

    Model options (reference defaults unless said): ``epeg_k`` 15, ``crmsa_k`` 3, ``region_num`` 8 (R-MSA only;
    CR-MSA always uses 8 regions, as the reference), ``heads`` 8, ``epeg``, ``cr_msa``, ``crmsa_heads`` 8,
    ``crmsa_mlp`` off, ``all_shortcut`` off, ``da_act`` ``tanh`` (what every published training command passes;
    the reference's own default is ``relu``), ``dropout`` 0.25. The README's per-dataset settings, e.g.
    C16-R50 ``epeg_k=15 crmsa_k=1 all_shortcut=true``, TCGA-NSCLC-PLIP ``epeg_k=13 crmsa_k=3 crmsa_heads=1
    all_shortcut=true crmsa_mlp=true``.

    Presets: ``small`` (default; see ``SMALL``), ``reference`` (the Camelyon16 schedule: 200 epochs, cosine over
    200, early stopping on the validation AUC with patience 30 not before epoch 130, seed 2021) and
    ``reference-tcga`` (patience 20 not before epoch 70). Validation bags come from the training bags, never
    the test bags (see ``TorchBagHead``): the reference's main.py validates on the test fold by default.
    """

    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "small": SMALL,
        "reference": RRT_REFERENCE,
        "reference-tcga": {**RRT_REFERENCE, "patience": 20, "min_epoch": 70},
    }
    model_defaults: ClassVar[dict[str, Any]] = {
        **TorchBagHead.model_defaults,
        **{"epeg_k": 15, "crmsa_k": 3, "region_num": 8, "heads": 8, "epeg": True, "cr_msa": True},
        **{"crmsa_heads": 8, "crmsa_mlp": False, "all_shortcut": False, "da_act": "tanh"},
    }
    model_options: ClassVar[dict[str, Callable[[Any], Any]]] = {
        **{k: _int for k in ("epeg_k", "crmsa_k", "region_num", "heads", "crmsa_heads")},
        **{k: _bool for k in ("epeg", "cr_msa", "crmsa_mlp", "all_shortcut")},
        "da_act": _choice("tanh", "relu", "gelu"),
    }

    def build(self, dim: int, n_classes: int):
        from embedforge.modalities.pathology.rrt import RRTMIL

        p = self.params
        return RRTMIL(dim, n_classes, dropout=p["dropout"], da_act=p["da_act"], region_num=p["region_num"],
                      heads=p["heads"], epeg=p["epeg"], epeg_k=p["epeg_k"], cr_msa=p["cr_msa"],
                      crmsa_k=p["crmsa_k"], crmsa_heads=p["crmsa_heads"], crmsa_mlp=p["crmsa_mlp"],
                      all_shortcut=p["all_shortcut"])  # fmt: skip


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
