"""How a leaderboard cell is scored: targets from stored labels, metrics per head task, and the cell's plot.

Classification heads (``classify/*``) get accuracy, macro-F1 and AUC; regression heads (``regress/*``)
get MAE, RMSE and R². A metric that does not apply to a cell is NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NAN = float("nan")
METRICS = {
    "classification": ("accuracy", "macro_f1", "auc"),
    "regression": ("mae", "rmse", "r2"),
    # retrieval datasets (beir:), tasks/retrieval.py; names MLflow takes as metric keys (no "@")
    "retrieval": ("ndcg_at_10", "recall_at_10", "recall_at_100", "mrr_at_10"),
}
TITLES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "auc": "AUC", "mae": "MAE", "rmse": "RMSE", "r2": "R²"}
TITLES |= {"ndcg_at_10": "nDCG@10", "recall_at_10": "recall@10", "recall_at_100": "recall@100", "mrr_at_10": "MRR@10"}
HIGHER_IS_BETTER = {"accuracy": True, "macro_f1": True, "auc": True, "mae": False, "rmse": False, "r2": True}
HIGHER_IS_BETTER |= dict.fromkeys(METRICS["retrieval"], True)


def targets(*, labels: list[dict[str, Any]], ids: list[str], label: str, task: str) -> tuple[np.ndarray, np.ndarray]:
    """One label as class names (classification) or floats (regression), and which items carry it."""
    raw = [lab.get(label) for lab in labels]
    known = np.array([v is not None and v != "" for v in raw], dtype=bool)
    if not known.any():
        present = sorted({k for lab in labels for k in lab})
        raise ValueError(
            f"no item carries the label {label!r} (labels present: {', '.join(present) or 'none'}); "
            "pick one with label (classify/* heads) or target (regress/* heads): --label / --target in the CLI"
        )
    if task == "classification":
        return np.array([str(v) for v in raw]), known
    values = np.full(len(raw), NAN)
    for i in np.flatnonzero(known):
        try:
            values[i] = float(raw[i])
        except (TypeError, ValueError):
            raise ValueError(
                f"{ids[i]}: label {label!r} is {raw[i]!r}, not a number (regress/* heads need a numeric target)"
            ) from None
    return values, known


def classification_metrics(model: Any, X: np.ndarray, y: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """Accuracy, macro-F1 and AUC of a fitted classifier on one split, plus its predictions."""
    from sklearn.metrics import f1_score

    pred = np.asarray(model.predict(X)).astype(str)
    metrics = {
        "accuracy": float(np.mean(pred == y)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "auc": auc_score(model, X, y),
    }
    return metrics, pred


def class_scores(model: Any, X: np.ndarray) -> np.ndarray | None:
    """Per-class scores aligned with ``model.classes_``: probabilities where the head has them, else decisions."""
    for method in ("predict_proba", "decision_function"):
        if hasattr(model, method):
            return np.asarray(getattr(model, method)(X), dtype=np.float64)
    return None


def auc_score(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    """Binary AUC for two classes, one-vs-rest macro AUC over the test split's classes for more; NaN if unrankable."""
    from sklearn.metrics import roc_auc_score

    scores = class_scores(model, X)
    if scores is None or not hasattr(model, "classes_"):
        return NAN
    classes = np.asarray(model.classes_).astype(str)
    if scores.ndim == 1:  # a binary decision function scores the second class
        scores = np.stack([-scores, scores], axis=1)
    rankable = [(i, c) for i, c in enumerate(classes) if 0 < np.sum(y == c) < len(y)]
    if len(classes) == 2:
        rankable = [(i, c) for i, c in rankable if i == 1]
    per_class = [roc_auc_score(y == c, scores[:, i]) for i, c in rankable]
    return float(np.mean(per_class)) if per_class else NAN


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² (NaN where the test targets do not vary)."""
    err = np.asarray(pred, dtype=np.float64) - y
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else NAN,
    }


def cell_figure(task: str, y: np.ndarray, pred: np.ndarray, title: str):
    """The picture a person checks first: a confusion matrix, or predicted against true."""
    return confusion_figure(y, pred, title) if task == "classification" else parity_figure(y, pred, title)


def confusion_figure(y: np.ndarray, pred: np.ndarray, title: str):
    """scikit-learn's ConfusionMatrixDisplay at a readable size: counts and each true class's share in the cells,
    a colour bar, and a title that names the run and the accuracy (wrapped, never clipped)."""
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    classes = sorted(set(y) | set(pred), key=str)
    cm = confusion_matrix(y, pred, labels=classes)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(classes)
    side = max(6.0, min(16.0, 2.5 + 0.6 * n))
    fig = Figure(figsize=(side + 1.2, side + 0.6), dpi=100)
    ax = fig.add_subplot()
    shown = [str(c) for c in classes] if n <= 40 else [""] * n
    disp = ConfusionMatrixDisplay(cm, display_labels=shown)
    disp.plot(ax=ax, cmap="Blues", colorbar=True, include_values=n <= 20, xticks_rotation=90 if n > 5 else 0)
    if disp.text_ is not None:
        for (i, j), text in np.ndenumerate(disp.text_):
            text.set_text(f"{cm[i, j]}\n{share[i, j]:.0%}")
            text.set_fontsize(9 if n <= 10 else 7)
    accuracy = float(np.mean(np.asarray(y) == np.asarray(pred))) if len(y) else float("nan")
    ax.set_title(_wrapped(f"{title} — accuracy {accuracy:.3f} (n = {len(y)})"), fontsize=10)
    fig.tight_layout()
    return fig


def parity_figure(y: np.ndarray, pred: np.ndarray, title: str, unit: str = ""):
    """Predicted against true with the identity line, and the numbers a reader wants beside it (MAE, R², n)."""
    from matplotlib.figure import Figure
    from sklearn.metrics import mean_absolute_error, r2_score

    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    fig = Figure(figsize=(6.4, 6.4), dpi=100)
    ax = fig.add_subplot()
    ax.scatter(y, pred, s=14, alpha=0.7)
    lo, hi = float(min(np.min(y), np.min(pred))), float(max(np.max(y), np.max(pred)))
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, linestyle="--", label="predicted = true")
    suffix = f" ({unit})" if unit else ""
    ax.set(xlabel=f"true{suffix}", ylabel=f"predicted{suffix}")
    ax.set_title(_wrapped(title), fontsize=10)
    r2 = r2_score(y, pred) if len(y) > 1 else float("nan")
    stats = f"MAE {mean_absolute_error(y, pred):.3g}{suffix}\nR² {r2:.3f}\nn = {len(y)}"
    ax.text(0.03, 0.97, stats, transform=ax.transAxes, va="top", ha="left", fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85})  # fmt: skip
    ax.legend(loc="lower right", fontsize=8)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return fig


def _wrapped(text: str, width: int = 60) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text
