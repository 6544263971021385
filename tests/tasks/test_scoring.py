"""Leaderboard scoring: targets, classification and regression metrics, and the CSV/markdown they fill."""

import csv
import math

import numpy as np
import pytest

import embedforge.modalities.heads  # noqa: F401  (registers the heads)
from embedforge.registry.heads import HEADS
from embedforge.tasks.report import heatmap, markdown, pivot, write_csv
from embedforge.tasks.scoring import auc_score, classification_metrics, regression_metrics, targets


def test_targets_classes_numbers_and_clear_errors():
    labels = [{"label": 1, "hr": 60.5}, {"label": 0}, {"hr": "72"}]
    y, known = targets(labels=labels, ids=["a", "b", "c"], label="label", task="classification")
    assert list(y[known]) == ["1", "0"] and list(known) == [True, True, False]
    y, known = targets(labels=labels, ids=["a", "b", "c"], label="hr", task="regression")
    assert list(y[known]) == [60.5, 72.0]
    with pytest.raises(ValueError, match="c: label 'hr' is 'fast', not a number"):
        targets(labels=[{"hr": 1}, {"hr": "fast"}], ids=["b", "c"], label="hr", task="regression")
    with pytest.raises(ValueError, match=r"no item carries the label 'rhythm' \(labels present: hr, label\)"):
        targets(labels=labels, ids=["a", "b", "c"], label="rhythm", task="classification")


def test_auc_binary_from_decisions_and_multiclass_one_vs_rest():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y2 = np.where(X[:, 0] > 0, "pos", "neg")
    ridge = HEADS.get("classify/ridge")().fit(X[:150], y2[:150])  # decision_function only, 1-D
    assert auc_score(ridge, X[150:], y2[150:]) > 0.97
    flipped = auc_score(ridge, X[150:], np.where(y2[150:] == "pos", "neg", "pos"))
    assert flipped < 0.03  # the score ranks the second class, not the first
    y3 = np.array(["a", "b", "c"])[np.digitize(X[:, 1], [-0.5, 0.5])]
    logreg = HEADS.get("classify/logreg")().fit(X[:150], y3[:150])
    metrics, pred = classification_metrics(logreg, X[150:], y3[150:])
    assert metrics["auc"] > 0.9 and 0.7 < metrics["macro_f1"] <= 1 and metrics["accuracy"] == np.mean(pred == y3[150:])
    assert math.isnan(auc_score(logreg, X[150:160], np.array(["a"] * 10)))  # one class in test: nothing to rank


def test_regression_metrics_by_hand():
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0]))
    assert m["mae"] == 0.5 and m["rmse"] == 1.0 and m["r2"] == pytest.approx(1 - 4 / 5)
    assert math.isnan(regression_metrics(np.array([2.0, 2.0]), np.array([1.0, 3.0]))["r2"])


def _row(head, task, dataset="d", **metrics):
    base = dict(encoder="e", dataset=dataset, augmentation="none", head=head, task=task, label="y", n_train=5, n_test=3)
    nan = float("nan")
    return {**base, **{m: nan for m in ("accuracy", "macro_f1", "auc", "mae", "rmse", "r2")}, **metrics}


def test_csv_and_markdown_carry_both_tasks(tmp_path):
    rows = [
        _row("classify/rf", "classification", accuracy=0.7, macro_f1=0.6, auc=0.8),
        _row("classify/logreg", "classification", accuracy=0.9, macro_f1=0.85, auc=float("nan")),
        _row("regress/ridge", "regression", mae=3.0, rmse=4.0, r2=0.6),
    ]
    path = write_csv(rows, str(tmp_path / "board.csv"))
    with open(path) as f:
        out = list(csv.DictReader(f))
    header = ["encoder", "dataset", "augmentation", "head", "accuracy", "macro_f1", "auc", "mae", "rmse", "r2"]
    assert list(out[0])[:10] == header
    assert [r["head"] for r in out] == ["classify/logreg", "classify/rf", "regress/ridge"]  # best first per task
    assert out[0]["auc"] == "" and out[0]["mae"] == "" and out[2]["accuracy"] == "" and out[2]["r2"] == "0.6"
    labels, cols, _ = pivot(rows, "accuracy")
    assert labels == ["e | none | classify/logreg", "e | none | classify/rf"] and cols == ["d"]
    assert pivot(rows, "mae")[0] == ["e | none | regress/ridge"]
    text = markdown(rows)
    assert "**test accuracy**" in text and "**test MAE**" in text and "| 3.000 |" in text
    png = heatmap(rows, str(tmp_path / "board.png"))
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _features(n=60, seed=0):
    from embedforge.tasks.features import Features

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5)).astype(np.float32)
    labels = [{"label": "hi" if x[0] > 0 else "lo", "rate": float(60 + 10 * x[1])} for x in X]
    split = ["test" if i % 4 == 0 else "train" for i in range(n)]
    ids = [f"i{i}" for i in range(n)]
    return Features(ids, X, labels, split, ids, {"fingerprint": "f"}, ["toy"] * n, ids)


def test_score_head_per_task_and_missing_label():
    from embedforge.tasks.leaderboard import score_head

    feats = _features()
    metrics, n_train, n_test, (y, pred) = score_head(feats=feats, X=feats.X, head="regress/ridge", label="rate")
    assert y.shape == pred.shape == (15,) and y.dtype == np.float64
    assert (n_train, n_test) == (45, 15) and metrics["r2"] > 0.95 and set(metrics) == {"mae", "rmse", "r2"}
    metrics, *_ = score_head(feats=feats, X=feats.X, head="classify/logreg", label="label")
    assert set(metrics) == {"accuracy", "macro_f1", "auc"} and metrics["accuracy"] > 0.8
    with pytest.raises(ValueError, match=r"toy: no item carries the label 'heart_rate'.*--target"):
        score_head(feats=feats, X=feats.X, head="regress/pls", label="heart_rate")
