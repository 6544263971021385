"""Slides as bags: stored tile rows grouped by slide, and slide-level fitting and scoring of MIL heads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Bags:
    """One entry per slide: its tile rows (indices into the features), label (None if unlabelled) and split."""

    slides: list[str]
    rows: list[np.ndarray]
    y: list[str | None]
    split: list[str | None]

    def bag(self, X: np.ndarray, k: int) -> np.ndarray:
        return X[self.rows[k]]

    def where(self, split: str) -> list[int]:
        """Labelled slides of one split."""
        return [k for k, (s, y) in enumerate(zip(self.split, self.y)) if s == split and y is not None]


def bags_from_features(feats, label: str = "label") -> Bags:
    """Group rows by slide (the item group); a slide's label and split are those of its tiles."""
    order: dict[str, list[int]] = {}
    for i, g in enumerate(feats.group):
        order.setdefault(g or feats.ids[i].split("/", 1)[0], []).append(i)
    slides, rows, ys, splits = [], [], [], []
    for slide, idx in order.items():
        first = feats.labels[idx[0]]
        value = first.get(label)
        slides.append(slide)
        rows.append(np.asarray(idx))
        ys.append(None if value in (None, "") else str(value))
        splits.append(feats.split[idx[0]])
    return Bags(slides, rows, ys, splits)


def fit_bags(head, feats, X: np.ndarray, label: str) -> tuple[Any, Bags, list[int], list[int]]:
    """Fit a MIL head on the labelled training slides; returns (head, bags, train, test)."""
    bags = bags_from_features(feats, label)
    train, test = bags.where("train"), bags.where("test")
    where = feats.datasets[0] if feats.datasets else "?"
    if not train or not test:
        raise ValueError(f"{where}: need train and test slides labelled {label!r}; got {len(train)} and {len(test)}")
    head.fit([bags.bag(X, k) for k in train], np.array([bags.y[k] for k in train]))
    return head, bags, train, test


def score_bags(head, *, feats, X: np.ndarray, label: str) -> tuple[dict[str, float], int, int, Any]:
    """The leaderboard's bag hook: fit on train slides, slide-level metrics on test slides."""
    from embedforge.modalities.pathology.mil import bag_metrics

    head, bags, train, test = fit_bags(head, feats, X, label)
    proba = head.predict_proba([bags.bag(X, k) for k in test])
    y = np.array([bags.y[k] for k in test])
    pred = np.asarray(head.classes_)[proba.argmax(axis=1)].astype(str)
    return bag_metrics(y, proba, head.classes_), len(train), len(test), (y, pred)


def cross_validate(
    head: str, *, feats, X: np.ndarray, label: str = "label", folds: int = 5, seed: int = 0, **params: Any
) -> dict[str, Any]:
    """k-fold cross-validation by patient (stratified; a patient's slides share a fold), over all labelled slides."""
    from sklearn.model_selection import StratifiedGroupKFold

    from embedforge.modalities.pathology.mil import bag_metrics
    from embedforge.registry.heads import build_head

    bags = bags_from_features(feats, label)
    labelled = [k for k, y in enumerate(bags.y) if y is not None]
    y = np.array([bags.y[k] for k in labelled])
    patients = [feats.labels[bags.rows[k][0]].get("patient") or bags.slides[k] for k in labelled]
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    per_fold, tested = [], []
    for train, test in splitter.split(np.zeros(len(y)), y, patients):
        model = build_head(head, **params).fit([bags.bag(X, labelled[i]) for i in train], y[train])
        proba = model.predict_proba([bags.bag(X, labelled[i]) for i in test])
        per_fold.append(bag_metrics(y[test], proba, model.classes_))
        tested.append([bags.slides[labelled[i]] for i in test])
    names = per_fold[0].keys()
    return {
        "folds": per_fold,
        "tested": tested,
        "mean": {m: float(np.nanmean([f[m] for f in per_fold])) for m in names},
        "std": {m: float(np.nanstd([f[m] for f in per_fold])) for m in names},
    }
