"""Train any registered row head on stored vectors, log it to MLflow and register models a caller can serve.

Every modality gets a servable model this way: one takes the modality's raw column (``audio``, ``series``,
``video``, ...) and runs the encoder the head was trained on, the other (``NAME-head``) takes vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embedforge.tasks.features import Features, load_features
from embedforge.tasks.tracking import head_signature, log_head, use_tracking


class ServedHead:
    """Serving view of a fitted head: one prediction per request row, with class probabilities where it has them."""

    def __init__(self, model: Any, task: str) -> None:
        self.model, self.task = model, task

    @property
    def takes_labels(self) -> bool:
        """A zero-shot head scores candidate labels sent with the request instead of its training classes."""
        return hasattr(self.model, "with_labels")

    def predict_vectors(self, X: np.ndarray, params: dict[str, Any] | None = None):
        """Regression: ``prediction``. Classification: ``label``, ``prob`` and one ``prob_<class>`` per class."""
        labels = list((params or {}).get("labels") or [])
        model = self.model.with_labels(labels) if labels and self.takes_labels else self.model
        return self._frame(model, np.asarray(X, dtype=np.float64))

    def _frame(self, model: Any, X: np.ndarray):
        import pandas as pd

        if self.task == "regression":
            return pd.DataFrame({"prediction": np.asarray(model.predict(X), dtype=np.float64).ravel()})
        out = pd.DataFrame({"label": np.asarray(model.predict(X)).astype(str)})
        if hasattr(model, "predict_proba"):
            proba = np.asarray(model.predict_proba(X), dtype=np.float64)
            out["prob"] = proba.max(axis=1)
            for j, cls in enumerate(model.classes_):
                out[f"prob_{cls}"] = proba[:, j]
        return out


def train_head(
    *,
    db_uri: str,
    encoder: str,
    head: str,
    label: str,
    tracking_uri: str,
    dataset: str | None = None,
    weights: str | None = None,
    encoder_options: dict[str, Any] | None = None,
    registered_name: str | None = None,
    alias: str | None = "champion",
    experiment: str = "heads",
    artifact_root: str | None = None,
) -> dict[str, Any]:
    """Fit on the train split of stored vectors, score the test split, log metrics and a figure, register models."""
    import mlflow

    from embedforge.tasks.leaderboard import fit_head
    from embedforge.tasks.scoring import cell_figure

    feats = load_features(db_uri, encoder, dataset, weights, encoder_options)
    fitted = fit_head(feats=feats, X=feats.X, head=head, label=label)
    name = registered_name or f"{encoder.replace('/', '-')}-{head.replace('/', '-')}-{label}"
    use_tracking(tracking_uri, experiment, artifact_root)
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params(_params(feats, head, label, dataset, fitted.n_train, fitted.n_test))
        mlflow.log_metrics({f"test_{k}": v for k, v in fitted.metrics.items() if np.isfinite(v)})
        figure = cell_figure(fitted.task, fitted.y_test, fitted.pred, f"{head} on {encoder}: {label}")
        mlflow.log_figure(figure, "confusion.png" if fitted.task == "classification" else "parity.png")
        served = ServedHead(fitted.model, fitted.task)
        base = {"encoder": feats.identity, "encoder_weights": weights, "encoder_options": encoder_options or {}}
        base |= {"task": fitted.task, "head": head, "label": label}
        models = _register(served, base, name, alias, feats.X[:2])
    return {"run_id": run.info.run_id, "metrics": fitted.metrics, "task": fitted.task, "models": models}


def _params(feats: Features, head: str, label: str, dataset: str | None, n_train: int, n_test: int) -> dict[str, Any]:
    ident = feats.identity
    return {
        "encoder": ident["name"],
        "encoder_fingerprint": ident["fingerprint"],
        "encoder_dim": ident["dim"],
        "head": head,
        "label": label,
        "dataset": dataset or "all",
        "n_train": n_train,
        "n_test": n_test,
    }


def _register(served: ServedHead, base: dict[str, Any], name: str, alias: str | None, X_example) -> dict[str, Any]:
    """The raw-input model (where the modality declares a raw column) and the vector-input ``NAME-head`` model."""
    from embedforge.registry.modalities import modality_of_encoder
    from embedforge.tasks.pyfunc import VECTOR

    raw = modality_of_encoder(base["encoder"]["name"]).raw_input
    modes = ([(raw.column, name)] if raw is not None else []) + [(VECTOR, f"{name}-head")]
    out = {}
    for mode, reg_name in modes:
        meta = {**base, "input": mode}
        signature = head_signature(served, meta, X_example)
        out[mode] = log_head(served, meta, signature, reg_name, alias, name=f"model-{mode}")
    return out
